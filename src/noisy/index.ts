// Noisy Student Training's public surface: the loop, each stage as a function, their artifacts.
export {
  NoisyStudentConfigSchema,
  PRESETS,
  resolveNoisyStudentConfig,
  runConfig,
  generationStudent,
  studentRecipe,
  studentTrainingKey,
  studentsWithoutNoise,
  type GenerationStudent,
  type NoisyStudentConfig,
  type NoisyStudentConfigInput,
} from './config.js';
export { runNoisyStudent, type Summary, type ModelScore, type RunOptions } from './pipeline.js';
export * from './stages/index.js';
export {
  readPseudoLabels,
  readPseudoLabelIndex,
  pseudoLabelTargets,
  type PseudoLabels,
  type PseudoLabelIndex,
  type PseudoLabelManifest,
} from './artifacts/pseudo_labels.js';
export { readSelection, readFilterStats, readFilterResult, type Selection, type FilterSettings } from './artifacts/selection.js';
export { readStageRecord, type StageRecord } from './artifacts/stage_record.js';
export { ArtifactFormatError, ARTIFACT_VERSIONS, environment, type Environment } from './artifacts/format.js';
export { evaluateRun, type RunEvaluation, type ModelEvaluation, type EvaluateRunOptions } from './evaluate.js';
export { resolveRunData, type RunData } from './run_data.js';
export * from './filter.js';
export { writeRunReport, type RunReportOptions } from './run_report.js';
export { openRun, claimRunDir, type OpenedRun, type RunGeneration } from './run_dir.js';
export {
  runExperiment,
  aggregateSeeds,
  parseSeeds,
  seedDir,
  type Aggregate,
  type SeedRun,
  type SeedRow,
  type ExperimentOptions,
} from './experiment.js';
export { parseAblations, ABLATION_NAMES, type Ablation } from './ablations.js';
export { spread, pairedSpread, gapClosed, formatSpread, type Spread } from './stats.js';
export { perClassAccuracy, addLogits, emptyConfusion, sumConfusions, confusionTop1, type Confusion } from './confusion.js';
export { renderSeedsReport, writeSeedsReport, type SeedsReportData } from './seeds_report.js';
export { ablationDir } from './pipeline.js';
