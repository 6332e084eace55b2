// The model zoo's public surface.
export { saveModel } from './save.js';
export { createModel, checkpointFiles, loadWeights, adaptInputConv, CheckpointError, type CreateModelOptions } from './create.js';
export { EfficientNet, EfficientNetBlock, type FeatureInfo, type EfficientNetOptions } from './efficientnet.js';
export {
  TorchInferenceModel,
  loadInferenceModel,
  inferenceModelFrom,
  inferenceBatch,
  checkBatch,
  type InferenceModel,
  type InferenceOutput,
  type InferenceBatch,
  type InferenceArray,
  type InferenceResult,
  type TorchInferenceOptions,
  type LoadInferenceOptions,
} from './inference.js';
export { FusedTorchInferenceModel, type FusedInferenceOptions, type FusedStepTime } from './fused_inference.js';
export { classNames, softmaxRows, topkEntries, topkRows, type TopkEntry, type TopkRows } from './result_rows.js';
export {
  listModels,
  resolveModelName,
  splitTag,
  isModelPretrained,
  closestModelNames,
  UnknownModelError,
  UnknownTagError,
  type ListModelsOptions,
  type ResolvedModelName,
} from './names.js';
export { VARIANTS, ARCH_NAMES, resolveModelSpec, type ArchName } from './variants.js';
export { PRETRAINED, LEGACY_ALIASES, archPretrained, toHubConfig, type PretrainedCfg } from './pretrained.js';
export { hubDownload, downloadPretrained, resolveHubCacheDir, HubError, type HubOptions, type HubFile } from './hub.js';
export { IMAGENET_CLASSES, imagenetClassName } from './imagenet_classes.js';
export { decodeBlock, encodeBlock, ArchStringError, type BlockSpec } from './arch.js';
export type { EfficientNetSpec, GlobalPool, BlockConfig } from './builder_spec.js';
