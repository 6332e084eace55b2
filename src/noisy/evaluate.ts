// The `evaluate` stage: top-1/top-5 of the teacher and of every finished student of a run on its
// test set, and the accuracy of each generation's pseudo-labels where the true labels are known
// (the unlabeled rest of a labeled set). Reads only what the run left on disk.
import { join } from 'node:path';
import { atomicWriteJson } from '../util/atomic_write.js';
import type { PseudoLabelAccuracy } from './filter.js';
import { openRun } from './run_dir.js';
import { firstN } from './run_data.js';
import { evaluateModelDir } from './stages.js';

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

/** Evaluate a run directory written by `runNoisyStudent`; writes `evaluation.json` there. */
export async function evaluateRun(runDir: string, o: EvaluateRunOptions = {}): Promise<RunEvaluation> {
  const run = openRun(runDir);
  const { data } = run;
  const test = o.limit ? firstN(data.test, o.limit) : data.test;
  const workers = o.workers ?? run.cfg.workers;
  const score = async (model: string, modelDir: string): Promise<ModelEvaluation> => {
    const r = await evaluateModelDir(model, modelDir, test, data.dataConfig, workers);
    o.log?.(`${model} (${modelDir}): top1 ${(r.top1 * 100).toFixed(2)}% top5 ${(r.top5 * 100).toFixed(2)}%`);
    return { model, modelDir, top1: r.top1, top5: r.top5, loss: r.loss, images: r.n };
  };
  const teacher = await score(run.cfg.teacher.model, run.teacher.result.modelDir);
  const generations: RunEvaluation['generations'] = [];
  for (const g of run.generations) {
    let pseudoLabels: RunEvaluation['generations'][number]['pseudoLabels'] = null;
    if (data.trueLabel) {
      const pl = g.pseudoLabels();
      const { result, accuracy } = g.filtered(pl);
      if (accuracy) pseudoLabels = { ...accuracy, images: pl.records.length, kept: result.stats.kept };
    }
    generations.push({ student: await score(g.model, g.student.result.modelDir), pseudoLabels });
  }
  const out: RunEvaluation = { teacher, generations, unfinished: run.unfinished };
  atomicWriteJson(join(runDir, 'evaluation.json'), out);
  return out;
}
