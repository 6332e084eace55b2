// The training layer's public surface (the loop itself lives in loop.ts).
export { paramGroupsWeightDecay, type NamedParam, type ParamGroup, type WeightDecayGroupOptions } from './param_groups.js';
export * from './optim/index.js';
export {
  cosineLr,
  stepLr,
  efficientNetExpLr,
  constantLr,
  createSchedule,
  Scheduler,
  type LrFn,
  type WarmupOptions,
  type CosineOptions,
  type StepOptions,
  type EfficientNetExpOptions,
  type ScheduleName,
  type ScheduleConfig,
  type SchedulerState,
} from './schedule.js';
export {
  labelSmoothingCrossEntropy,
  labelSmoothingCrossEntropyPerSample,
  softTargetCrossEntropy,
  softTargetCrossEntropyPerSample,
  applyTemperature,
  mixedBatchLoss,
  type MixedBatchTargets,
  type MixedBatchLossOptions,
  type MixedBatchLoss,
} from './losses.js';
export { ModelEma, tfEmaDecay, timmEmaDecay, type EmaOptions, type EmaDecayMode, type EmaState } from './ema.js';
export { accuracy, AverageMeter, MetricsLog, type MetricsRecord } from './metrics.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  listCheckpoints,
  latestCheckpoint,
  bestCheckpoint,
  removeJobLeftovers,
  readManifest,
  CHECKPOINT_FORMAT,
  type CheckpointInput,
  type CheckpointOptions,
  type CheckpointManifest,
  type CheckpointInfo,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  type TrainStateMeta,
} from './checkpoint.js';
export {
  trainStep,
  evaluate,
  fit,
  withEmaWeights,
  toChannelsLast_,
  type TrainableModel,
  type TrainBatch,
  type LossFn,
  type StepOptions as TrainStepOptions,
  type StepState,
  type EvalResult,
  type FitOptions,
  type FitResult,
} from './loop.js';
export { batchToTensors, loaderBatches } from './data.js';
export * from './ratio_sampler.js';
export {
  RecipeSchema,
  TrainConfigSchema,
  TRAIN_PRECISIONS,
  precisionAutocast,
  type TrainPrecision,
  NOISE_RECIPE_KEYS,
  resolveTrainConfig,
  recipeOf,
  readConfigFile,
  checkRecipe,
  formatIssues,
  type Recipe,
  type RecipeInput,
  type TrainConfig,
  type TrainConfigInput,
} from './config.js';
export {
  resolveDataSpec,
  selectData,
  mapSelectedClasses,
  firstN,
  isBuiltInSpec,
  trainingDataConfig,
  inferenceDataConfig,
  type ResolvedData,
  type DataSelection,
  type SelectedData,
  type DataDefaults,
  type DataConfigOverrides,
} from './data_spec.js';
export {
  trainModel,
  makeOptimizer,
  freezeStages,
  zeroClassifier,
  type TrainJob,
  type TrainResult,
  type UnlabeledStream,
  type TargetSource,
} from './trainer.js';
export { evaluateModel, type EvaluateModelOptions } from './evaluate_model.js';
export { AbortedError, throwIfAborted, type ProgressEvent, type ProgressListener } from './events.js';
export { runTrainJob, type TrainJobHooks } from './train_job.js';
