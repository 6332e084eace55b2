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
