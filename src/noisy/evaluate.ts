// The `evaluate` stage: top-1/top-5 of the teacher and of every finished student of a run on its
// test set, and the accuracy of each generation's pseudo-labels where the true labels are known
// (the unlabeled rest of a labeled set). Reads only what the run left on disk.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { subset } from '../data/index.js';
import { atomicWriteJson } from '../util/atomic_write.js';
import { generationStudent, resolveNoisyStudentConfig } from './config.js';
import type { PseudoLabelAccuracy } from './filter.js';
import { resolveRunData } from './run_data.js';
import { evaluateModelDir, filterStage, pseudoLabelDir, readPseudoLabels } from './stages.js';

export interface ModelEvaluation {
  model: string;
  modelDir: string;
  top1: number;
  top5: number;
  loss: number;
  images: number;
}

export interface RunEvaluation {
  teacher: ModelEvaluation;
  generations: {
    student: ModelEvaluation;
    /** Null when the unlabeled images have no true labels (a folder of images). */
    pseudoLabels: (PseudoLabelAccuracy & { images: number; kept: number }) | null;
  }[];
  /** Generations the config lists but the run has not finished. */
  unfinished: number;
}

export interface EvaluateRunOptions {
  /** Evaluate on the first N test images only. */
  limit?: number;
  workers?: number;
  log?: (line: string) => void;
}

function stageResult(dir: string): { modelDir: string } | null {
  const f = join(dir, 'done.json');
  if (!existsSync(f)) return null;
  return (JSON.parse(readFileSync(f, 'utf8')) as { result: { modelDir: string } }).result;
}

/** Evaluate a run directory written by `runNoisyStudent`; writes `evaluation.json` there. */
export async function evaluateRun(runDir: string, o: EvaluateRunOptions = {}): Promise<RunEvaluation> {
  const cfgFile = join(runDir, 'config.json');
  if (!existsSync(cfgFile)) throw new Error(`${runDir} is not a Noisy Student run directory (no config.json)`);
  const cfg = resolveNoisyStudentConfig(JSON.parse(readFileSync(cfgFile, 'utf8')));
  const data = resolveRunData(cfg);
  const test = o.limit
    ? subset(
        data.test,
        Array.from({ length: Math.min(o.limit, data.test.length) }, (_, i) => i),
      )
    : data.test;
  const workers = o.workers ?? cfg.workers;
  const score = async (model: string, modelDir: string): Promise<ModelEvaluation> => {
    const r = await evaluateModelDir(model, modelDir, test, data.dataConfig, workers);
    o.log?.(`${model} (${modelDir}): top1 ${(r.top1 * 100).toFixed(2)}% top5 ${(r.top5 * 100).toFixed(2)}%`);
    return { model, modelDir, top1: r.top1, top5: r.top5, loss: r.loss, images: r.n };
  };

  const t = stageResult(join(runDir, 'teacher'));
  if (!t) throw new Error(`${runDir}: the teacher has not finished (no teacher/done.json); run the same command again to complete it`);
  const teacher = await score(cfg.teacher.model, t.modelDir);
  const generations: RunEvaluation['generations'] = [];
  let teacherDir = t.modelDir;
  for (let g = 0; g < cfg.students.length; g++) {
    const genDir = join(runDir, `gen-${g + 1}`);
    const st = stageResult(join(genDir, 'student'));
    if (!st) break;
    let pseudoLabels: RunEvaluation['generations'][number]['pseudoLabels'] = null;
    if (data.trueLabel) {
      const pl = readPseudoLabels(pseudoLabelDir(genDir, teacherDir, cfg.pseudoLabel.topk), {
        images: data.unlabeled.length,
        numClasses: data.classes.length,
        shardSize: cfg.pseudoLabel.shardSize,
      });
      const { result, accuracy } = filterStage(pl, cfg, data.trueLabel);
      if (accuracy) pseudoLabels = { ...accuracy, images: pl.records.length, kept: result.stats.kept };
    }
    generations.push({ student: await score(generationStudent(cfg, g).model, st.modelDir), pseudoLabels });
    teacherDir = st.modelDir;
  }
  const out: RunEvaluation = { teacher, generations, unfinished: cfg.students.length - generations.length };
  atomicWriteJson(join(runDir, 'evaluation.json'), out);
  return out;
}
