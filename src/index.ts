// noisy-student's public API. Explicit exports only: internals stay internal.
export * from './torch/index.js';
export * as nn from './nn/index.js';
export * from './models/index.js';
export * from './data/index.js';
export * from './train/index.js';
export { resolveDataSpec, specDataConfig, type ResolvedData } from './train/data_spec.js';
export {
  trainClassifier,
  resolveTrainConfig,
  TrainConfigSchema,
  type TrainConfig,
  type TrainConfigInput,
} from './jobs/train_classifier.js';
export * from './noisy/index.js';
