// noisy-student's public API. Explicit exports only: internals stay internal.
export * from './torch/index.js';
export * as nn from './nn/index.js';
export * from './models/index.js';
export * from './data/index.js';
export * from './train/index.js';
export * from './noisy/index.js';
export * from './onnx/index.js';
export * from './backends/index.js';
export { serve, createInferenceServer, HttpError, type ServeOptions, type InferenceServer, type ServerState } from './serve/index.js';
export {
  ProcessGroup,
  initProcessGroupFromEnv,
  detectDistEnv,
  launch,
  distributedAvailable,
  type DistEnv,
  type InitProcessGroupOptions,
  type LaunchOptions,
  type LaunchResult,
} from './distributed/index.js';
export { DataParallel, dataParallelFromEnv, type DataParallelOptions } from './train/data_parallel.js';
