// The stages of Noisy Student Training, one module each.
export { pseudoLabel, weightsFingerprint, openPseudoLabelTeacher, type PseudoLabelOptions } from './pseudo_label.js';
export { filterStage, filterSettings, filterStageDir } from './filter.js';
export { teacherStage, teacherStageInputs, teacherStageDir, type TeacherStageOptions } from './teacher.js';
export { studentStage, studentStageInputs, studentStageDir, type StudentStageArgs } from './student.js';
export { modelStage, evaluateModelDir, stageDir, type ModelStageResult } from './model_stage.js';
export { oracleStage, oracleStageInputs, oracleBudget, cycledView, type OracleBudget, type OracleStageArgs } from './oracle.js';
