// The nn layer: modules with explicit state-dict keys, and the layers EfficientNets are made of.
export { Module, ModuleList, Identity } from './module.js';
export {
  defaultContext,
  executionContext,
  assertContextSupported,
  assertOnDevice,
  autocastSupported,
  runForward,
  type ExecutionContext,
  type ForwardContext,
  type ProcessGroupLike,
  type AutocastDType,
} from './context.js';
export { loadStateDict, StateDictError, type LoadStateDictResult } from './state_dict.js';
export { Conv2d, type Conv2dOptions } from './layers/conv2d.js';
export { BatchNorm2d, type BatchNormOptions } from './layers/batch_norm.js';
export { Linear } from './layers/linear.js';
export { SqueezeExcite } from './layers/squeeze_excite.js';
export { dropout, dropPath, noiseSource, type KeyedDraw, type NoiseSource } from './layers/dropout.js';
export { keyedKeepMask, noiseSalt, sampleNoiseKeys, type SampleSource } from './layers/keyed_noise.js';
export { globalPool, poolFeatMult, type GlobalPoolType } from './layers/pooling.js';
export { activation, activationInplace, type ActName, type ActFn } from './layers/activations.js';
export { tfSamePad, symmetricPadding, isStaticSame } from './padding.js';
export { initConvGoog, initLinearGoog, initKaimingUniformDefault } from './init.js';
