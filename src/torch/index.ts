// The tensor layer's public surface.
export { Tensor, type Scalar, type DimList, type ReduceOptions } from './tensor.js';
export {
  type DType,
  type FloatDType,
  type IntDType,
  type MemoryFormat,
  type AnyTypedArray,
  isFloating,
  isIntegral,
  DTYPE_BYTES,
} from './dtype.js';
export { TorchError, ShapeError, DTypeError, DisposedError } from './errors.js';
export { scope, keep, dispose, type ScopedResource } from './scope.js';
export {
  tensor,
  fromTypedArray,
  zeros,
  ones,
  empty,
  full,
  arange,
  linspace,
  eye,
  zerosLike,
  onesLike,
  fullLike,
  rand,
  randn,
  randint,
  randperm,
  bernoulli,
  cat,
  stack,
  type FactoryOptions,
  type RandomOptions,
} from './factories.js';
export * as F from './functional.js';
export {
  noGrad,
  enableGrad,
  inferenceMode,
  isGradEnabled,
  isInferenceMode,
  backward,
  grad,
  type BackwardOptions,
  type GradOptions,
} from './autograd.js';
export { Generator, manualSeed } from './random.js';
export { loadSafetensors, saveSafetensors, type LoadedSafetensors } from './safetensors.js';
export {
  readSafetensorsHeader,
  readSafetensorsRaw,
  SafetensorsError,
  type SafetensorsDType,
  type RawTensor,
} from './safetensors_format.js';
export {
  liveTensorCount,
  externalTensorBytes,
  setNumThreads,
  getNumThreads,
  buildInfo,
  blasInUse,
  environmentInfo,
  type EnvironmentInfo,
} from './runtime.js';
export { parseDevice, cudaAvailable, cudaDeviceCount, DeviceError, type Device } from './device.js';
export { callOp, callOpAsync } from './dispatch.js';
export {
  withAutocast,
  autocastAvailable,
  isAutocastEnabled,
  autocastDType,
  checkAutocastDType,
  type AutocastLowDType,
} from './autocast.js';
export { batchNormActTraining, fusedBatchNormActSupported, setFusedBatchNormAct, type BatchNormActOptions } from './fused_train.js';
