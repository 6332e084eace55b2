// The oracle: the final student's architecture and recipe (noise included) trained on the images the
// run uses with all their true labels (the labeled images and the unlabeled ones: for Fashion-MNIST
// with unlabeled 'rest', all 60,000) instead of the teacher's pseudo-labels, with the final
// student's budget: the same optimizer steps, each on a batch of the same size (B labeled + r·B
// pseudo-labeled images = B·(1 + r)), and the same warm start. Its top-1 is the ceiling the report
// measures the student's gain against: the fraction of the labeled-data gap closed.
import { join } from 'node:path';
import { Rng, type ImageDataset, type SampleError, type SampleSource } from '../../data/index.js';
import { trainModel, type ProgressListener } from '../../train/index.js';
import { fileHash } from '../../util/hash.js';
import { studentRecipe, type GenerationStudent, type NoisyStudentConfig } from '../config.js';
import type { RunData } from '../run_data.js';
import { modelStage, type ModelStageResult } from './model_stage.js';

/** The oracle's schedule: `epochs` passes of `stepsPerEpoch` steps of `batchSize` images over a view of `viewLength` images. */
export interface OracleBudget {
  /** The final student's optimizer steps (micro-batches; updates are these over gradAccum) and images per step. */
  readonly steps: number;
  readonly batchSize: number;
  readonly epochs: number;
  readonly stepsPerEpoch: number;
  readonly viewLength: number;
  /** The images with true labels the view cycles through. */
  readonly images: number;
  /** Optimizer updates of the student and of the oracle (equal unless gradAccum > 1 rounds each epoch differently). */
  readonly studentUpdates: number;
  readonly updates: number;
}

/**
 * The student's budget re-cut for `images` labeled images: the student trains `epochs` epochs of
 * ceil(U / (r·B)) steps of B·(1 + r) images (train/ratio_sampler.ts). The oracle trains the same
 * number of steps of the same size; its epochs are the most that divide the steps evenly while each
 * one still shows every image at least once (one long epoch when the budget is below one pass).
 */
export function oracleBudget(o: {
  epochs: number;
  batchSize: number;
  ratio: number;
  unlabeled: number;
  images: number;
  gradAccum?: number;
}): OracleBudget {
  const accum = o.gradAccum ?? 1;
  const ub = Math.round(o.ratio * o.batchSize);
  if (o.unlabeled < 1) throw new RangeError('oracle: the final student trained on no pseudo-labeled images');
  if (o.images < 1) throw new RangeError('oracle: no images');
  const studentStepsPerEpoch = Math.ceil(o.unlabeled / ub);
  const steps = o.epochs * studentStepsPerEpoch;
  const batchSize = o.batchSize + ub;
  let epochs = 1;
  for (let e = Math.min(steps, o.epochs); e >= 1; e--) {
    if (steps % e === 0 && (steps / e) * batchSize >= o.images) {
      epochs = e;
      break;
    }
  }
  const stepsPerEpoch = steps / epochs;
  return {
    steps,
    batchSize,
    epochs,
    stepsPerEpoch,
    viewLength: stepsPerEpoch * batchSize,
    images: o.images,
    studentUpdates: o.epochs * Math.ceil(studentStepsPerEpoch / accum),
    updates: epochs * Math.ceil(stepsPerEpoch / accum),
  };
}

/**
 * `length` positions over the images of `parts` (concatenated): position i is image perm[i mod N] of
 * a seeded permutation, so a view longer than N shows every image and repeats a random few, and a
 * shorter one is a random subset. The trainer shuffles the positions each epoch.
 */
export function cycledView(parts: readonly ImageDataset[], length: number, seed: number): ImageDataset {
  const offsets: number[] = [];
  let n = 0;
  for (const p of parts) {
    offsets.push(n);
    n += p.length;
  }
  if (n === 0) throw new RangeError('cycledView: no images');
  const perm = Rng.fromKeys(seed, 0x0ac1e).permutation(n);
  const at = (i: number): [ImageDataset, number] => {
    if (!Number.isInteger(i) || i < 0 || i >= length) throw new RangeError(`index ${i} out of range [0, ${length})`);
    const j = perm[i % n]!;
    let k = parts.length - 1;
    while (offsets[k]! > j) k--;
    return [parts[k]!, j - offsets[k]!];
  };
  return {
    length,
    classes: parts[0]!.classes,
    label: (i) => {
      const [d, j] = at(i);
      return d.label(j);
    },
    source: (i): SampleSource => {
      const [d, j] = at(i);
      return d.source(j);
    },
  };
}

export interface OracleStageArgs {
  runDir: string;
  cfg: NoisyStudentConfig;
  data: RunData;
  /** The final generation's student settings and the size of its pseudo-labeled list (copies counted). */
  student: GenerationStudent;
  unlabeledCount: number;
  /** The final student's teacher: the warm start's weights when the student warm-starts. */
  teacher: { model: string; modelDir: string };
  device?: string | undefined;
  signal?: AbortSignal | undefined;
  onEvent?: ProgressListener | undefined;
  onSampleError?: ((e: SampleError, set: string) => void) | undefined;
}

/** What the oracle depends on (content keys only), and its budget. */
export function oracleStageInputs(a: Omit<OracleStageArgs, 'runDir' | 'device' | 'signal' | 'onEvent' | 'onSampleError'>): {
  inputs: unknown;
  budget: OracleBudget;
} {
  const { cfg, data, student: s } = a;
  if (!data.unlabeled.trueLabel)
    throw new Error(
      `oracle: the unlabeled images (${cfg.unlabeled.data}) have no true labels to train it on; ` +
        "it needs unlabeled 'rest' (the rest of a labeled set)",
    );
  const budget = oracleBudget({
    epochs: s.train.epochs,
    batchSize: s.train.batchSize,
    ratio: s.ratio,
    unlabeled: a.unlabeledCount,
    gradAccum: s.train.gradAccum,
    images: data.labeled.dataset.length + data.unlabeled.dataset.length,
  });
  const inputs = {
    model: s.model,
    recipe: oracleRecipe(s, budget),
    budget,
    warmStart: s.warmStart ? { model: a.teacher.model, weights: fileHash(join(a.teacher.modelDir, 'model.safetensors')) } : null,
    images: { labeled: data.labeled.key, unlabeled: data.unlabeled.key },
    classes: data.classes,
    test: data.test.key,
    curve: data.curve.key,
    sizes: data.sizes,
    seed: cfg.seed,
  };
  return { inputs, budget };
}

/** The student's recipe on the oracle's batch size and epochs, with its warmup kept in steps. */
function oracleRecipe(s: GenerationStudent, b: OracleBudget): ReturnType<typeof studentRecipe> {
  const r = studentRecipe(s);
  const studentStepsPerEpoch = b.steps / s.train.epochs;
  return { ...r, batchSize: b.batchSize, epochs: b.epochs, warmupEpochs: (r.warmupEpochs * studentStepsPerEpoch) / b.stepsPerEpoch };
}

export async function oracleStage(a: OracleStageArgs): Promise<ModelStageResult & { budget: OracleBudget }> {
  const s = a.student;
  if (s.warmStart && s.model !== a.teacher.model)
    throw new Error(`oracle: ${s.model} cannot warm-start from ${a.teacher.model} (different architectures)`);
  const { inputs, budget } = oracleStageInputs(a);
  const recipe = oracleRecipe(s, budget);
  const images = cycledView([a.data.labeled.dataset, a.data.unlabeled.dataset], budget.viewLength, a.cfg.seed);
  const r = await modelStage({
    parent: join(a.runDir, 'oracle'),
    stage: 'oracle',
    model: s.model,
    inputs,
    test: a.data.test.dataset,
    workers: a.cfg.workers,
    device: a.device,
    onEvent: a.onEvent,
    onSampleError: a.onSampleError,
    train: async (dir) => {
      const t = await trainModel({
        model: s.model,
        recipe,
        ...(s.warmStart ? { init: { checkpoint: a.teacher.modelDir } } : {}),
        numClasses: a.data.classes.length,
        labelNames: a.data.classes,
        labeled: images,
        val: a.data.curve.dataset,
        dataDefaults: a.data.defaults,
        sizes: a.data.sizes,
        seed: a.cfg.seed,
        workers: a.cfg.workers,
        ...(a.device ? { device: a.device } : {}),
        output: dir,
        resume: true,
        key: inputs,
        stage: 'oracle',
        signal: a.signal,
        onEvent: a.onEvent,
        onSampleError: a.onSampleError,
      });
      if (t.fit.steps !== budget.updates) throw new Error(`oracle: made ${t.fit.steps} optimizer updates, its budget is ${budget.updates}`);
      return t.fit.history;
    },
  });
  return { ...r, budget };
}
