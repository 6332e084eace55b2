export {
  Optimizer,
  type BaseHyper,
  type Group,
  type ParamState,
  type ParamsInput,
  type OptimizerScalars,
  type OptimizerStateDict,
} from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { RMSpropTF, type RMSpropTFOptions } from './rmsprop_tf.js';
export { clipGradNorm_, type ClipGradOptions } from './clip_grad.js';
