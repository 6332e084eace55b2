// Noisy Student Training's public surface: the loop, each stage as a function, and their parts.
export {
  NoisyStudentConfigSchema,
  PRESETS,
  resolveNoisyStudentConfig,
  generationStudent,
  studentTrainingKey,
  studentsWithoutNoise,
  type NoisyStudentConfig,
  type NoisyStudentConfigInput,
} from './config.js';
export { runNoisyStudent, type Summary, type ModelScore, type RunHooks } from './pipeline.js';
export {
  stage,
  pseudoLabel,
  readPseudoLabels,
  pseudoLabelDir,
  filterStage,
  trainStudent,
  evaluateModelDir,
  type PseudoLabels,
  type StudentRun,
} from './stages.js';
export { evaluateRun, type RunEvaluation, type ModelEvaluation, type EvaluateRunOptions } from './evaluate.js';
export { resolveRunData, type RunData } from './run_data.js';
export * from './filter.js';
export * from './sampler.js';
export { writeRunReport, type RunReportOptions } from './run_report.js';
export { openRun, type OpenedRun, type RunGeneration } from './run_dir.js';
