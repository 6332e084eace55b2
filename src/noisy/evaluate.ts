// The `evaluate` stage: top-1/top-5 of the teacher and of every finished student of a run on its
// test set, and the accuracy of each generation's pseudo-labels where the true labels are known
// (the unlabeled rest of a labeled set). Reads only what the run left on disk.
import { calibrationFromDataset, type BackendOption, type Precision } from '../backends/index.js';
import { join, relative } from 'node:path';
import { firstN, inferenceDataConfig } from '../train/index.js';
import type { ImageDataset, SampleError } from '../data/index.js';
import { atomicWriteJson } from '../util/atomic_write.js';
import { pseudoLabelAccuracy, type PseudoLabelAccuracy } from './filter.js';
import { readPseudoLabelIndex } from './artifacts/pseudo_labels.js';
import { openRun } from './run_dir.js';
import { evaluateModelDir } from './stages/index.js';

export interface ModelEvaluation {
  model: string;
  /** Relative to the run directory. */
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
  /** cpu or cuda[:N]. */
  device?: string;
  /** What runs the models (default torch, fp32). */
  backend?: BackendOption;
  precision?: Precision;
  /** int8: calibrated on `images` (default 64) of `dataset` (default: the run's unlabeled images, not its test set). */
  calibration?: { dataset?: ImageDataset; images?: number; method?: 'minmax' | 'percentile'; what?: string };
  log?: (line: string) => void;
  /** Each test image that could not be read (left out of the scores); may throw to stop. */
  onSampleError?: ((e: SampleError, set: string) => void) | undefined;
}

/** Evaluate a run directory written by `runNoisyStudent`; writes `evaluation.json` there. */
export async function evaluateRun(runDir: string, o: EvaluateRunOptions = {}): Promise<RunEvaluation> {
  const run = openRun(runDir);
  const { data } = run;
  const test = firstN(data.test.dataset, o.limit);
  const workers = o.workers ?? run.cfg.workers;
  const cal = o.calibration ?? {};
  const calibration =
    o.precision === 'int8'
      ? calibrationFromDataset(cal.dataset ?? data.unlabeled.dataset, (m) => inferenceDataConfig(m), {
          ...(cal.images ? { images: cal.images } : {}),
          ...(cal.method ? { method: cal.method } : {}),
          describe: { data: cal.what ?? 'the run’s unlabeled images' },
        })
      : undefined;
  const score = async (model: string, modelDir: string): Promise<ModelEvaluation> => {
    const r = await evaluateModelDir(model, modelDir, test, {
      calibration,
      workers,
      device: o.device,
      onSampleError: o.onSampleError,
      ...(o.backend ? { backend: o.backend } : {}),
      ...(o.precision ? { precision: o.precision } : {}),
    });
    const rel = relative(runDir, modelDir);
    o.log?.(`${model} (${rel}): top1 ${(r.top1 * 100).toFixed(2)}% top5 ${(r.top5 * 100).toFixed(2)}%`);
    return { model, modelDir: rel, top1: r.top1, top5: r.top5, loss: r.loss, images: r.n };
  };
  const teacher = await score(run.cfg.teacher.model, run.teacher.modelDir);
  const generations: RunEvaluation['generations'] = [];
  for (const g of run.generations) {
    let pseudoLabels: RunEvaluation['generations'][number]['pseudoLabels'] = null;
    if (data.unlabeled.trueLabel) {
      // The index's records are all this needs: the probabilities are not read.
      const pl = readPseudoLabelIndex(g.pseudoDir);
      const sel = g.filtered();
      const accuracy = pseudoLabelAccuracy(pl.records, data.unlabeled.trueLabel, sel);
      pseudoLabels = { ...accuracy, images: pl.records.length, kept: sel.stats.kept };
    }
    generations.push({ student: await score(g.model, g.student.modelDir), pseudoLabels });
  }
  const out: RunEvaluation = { teacher, generations, unfinished: run.unfinished };
  atomicWriteJson(join(runDir, 'evaluation.json'), out);
  return out;
}
