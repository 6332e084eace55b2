// A run directory read back from disk: its config and data, the finished teacher, and each
// generation with its teacher, student and pseudo-label folder. `evaluate` and `report` work from
// this alone, so they run on any finished (or partly finished) run, also after the process is gone.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalResult } from '../train/index.js';
import { generationStudent, resolveNoisyStudentConfig, type NoisyStudentConfig } from './config.js';
import { resolveRunData, type RunData } from './run_data.js';
import { filterStage, pseudoLabelDir, readPseudoLabels, type PseudoLabels } from './stages.js';

export interface ModelStageResult {
  modelDir: string;
  history: { epoch: number; trainLoss: number; eval: EvalResult | null }[];
  eval: EvalResult;
}

export interface FinishedStage {
  result: ModelStageResult;
  seconds: number;
}

export interface RunGeneration {
  /** 1-based. */
  index: number;
  dir: string;
  model: string;
  teacherModel: string;
  teacherModelDir: string;
  student: FinishedStage;
  /** The teacher's pseudo-labels, read from their shards. */
  pseudoLabels(): PseudoLabels;
  /** The filter stage recomputed from them (deterministic), with the pseudo-label accuracy when true labels are known. */
  filtered(pl: PseudoLabels): ReturnType<typeof filterStage>;
}

export interface OpenedRun {
  dir: string;
  cfg: NoisyStudentConfig;
  data: RunData;
  teacher: FinishedStage;
  /** The finished generations, in order. */
  generations: RunGeneration[];
  /** Generations the config lists that have not finished. */
  unfinished: number;
  /** Wall time per stage, from summary.json when the run wrote one. */
  seconds: Record<string, number> | null;
}

function finished(dir: string): FinishedStage | null {
  const f = join(dir, 'done.json');
  if (!existsSync(f)) return null;
  const rec = JSON.parse(readFileSync(f, 'utf8')) as FinishedStage;
  return { result: rec.result, seconds: rec.seconds };
}

export function openRun(runDir: string): OpenedRun {
  const cfgFile = join(runDir, 'config.json');
  if (!existsSync(cfgFile)) throw new Error(`${runDir} is not a Noisy Student run directory (no config.json)`);
  const cfg = resolveNoisyStudentConfig(JSON.parse(readFileSync(cfgFile, 'utf8')));
  const data = resolveRunData(cfg);
  const teacher = finished(join(runDir, 'teacher'));
  if (!teacher)
    throw new Error(`${runDir}: the teacher has not finished (no teacher/done.json); run the same command again to complete it`);
  const generations: RunGeneration[] = [];
  let teacherModel = cfg.teacher.model;
  let teacherModelDir = teacher.result.modelDir;
  for (let g = 0; g < cfg.students.length; g++) {
    const dir = join(runDir, `gen-${g + 1}`);
    const student = finished(join(dir, 'student'));
    if (!student) break;
    const plDir = pseudoLabelDir(dir, teacherModelDir, cfg.pseudoLabel.topk);
    generations.push({
      index: g + 1,
      dir,
      model: generationStudent(cfg, g).model,
      teacherModel,
      teacherModelDir,
      student,
      pseudoLabels: () =>
        readPseudoLabels(plDir, { images: data.unlabeled.length, numClasses: data.classes.length, shardSize: cfg.pseudoLabel.shardSize }),
      filtered: (pl) => filterStage(pl, cfg, data.trueLabel),
    });
    teacherModel = generationStudent(cfg, g).model;
    teacherModelDir = student.result.modelDir;
  }
  const summaryFile = join(runDir, 'summary.json');
  const seconds = existsSync(summaryFile)
    ? ((JSON.parse(readFileSync(summaryFile, 'utf8')) as { seconds?: Record<string, number> }).seconds ?? null)
    : null;
  return { dir: runDir, cfg, data, teacher, generations, unfinished: cfg.students.length - generations.length, seconds };
}
