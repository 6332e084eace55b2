// The stages of Noisy Student Training. Each is idempotent: it writes its outputs atomically and a
// done.json (with the hash of its config and inputs) last; a rerun with the same hash returns the
// recorded result without redoing the work, and a killed stage resumes where it stood (pseudo-label
// shards already written are kept; the student's checkpoints resume its training).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Generator, cat, fromTypedArray, noGrad, saveSafetensors, loadSafetensors, scope, type Tensor } from '../torch/index.js';
import { createModel, saveModel, type EfficientNet } from '../models/index.js';
import { DataLoader, type DataConfig, type ImageDataset } from '../data/index.js';
import {
  ModelEma,
  Scheduler,
  createSchedule,
  evaluate,
  fit,
  loaderBatches,
  mixedBatchLoss,
  withEmaWeights,
  type EvalResult,
  type TrainBatch,
} from '../train/index.js';
import { configHash, makeOptimizer, zeroClassifier } from '../jobs/train_classifier.js';
import { atomicWriteJson } from '../util/atomic_write.js';
import { withElapsed } from '../util/elapsed.js';
import { filterAndBalance, pseudoLabelAccuracy, type PseudoLabelRecord } from './filter.js';
import { RatioSampler } from './sampler.js';
import { studentTrainingKey, type NoisyStudentConfig } from './config.js';

/** Run `fn` unless `dir/done.json` records the same hash; return the recorded or new result and its wall time. */
export async function stage<T>(dir: string, hash: string, fn: () => Promise<T>): Promise<{ result: T; skipped: boolean; seconds: number }> {
  const done = join(dir, 'done.json');
  if (existsSync(done)) {
    const rec = JSON.parse(readFileSync(done, 'utf8')) as { hash: string; result: T; seconds: number };
    if (rec.hash === hash) return { result: rec.result, skipped: true, seconds: rec.seconds };
  }
  mkdirSync(dir, { recursive: true });
  // Seconds over every attempt at this hash (a resumed stage counts the killed attempts too).
  const { result, seconds } = await withElapsed(join(dir, `elapsed-${hash}.json`), fn);
  atomicWriteJson(done, { hash, result, seconds });
  return { result, skipped: false, seconds };
}

// ------------------------------------------------------------------ pseudo-labelling

export interface PseudoLabels {
  /** Teacher probabilities per unlabeled image (row = image id), [U, C] row-major. */
  probs: Float32Array;
  numClasses: number;
  records: PseudoLabelRecord[];
  /** Ids that could not be read (corrupt files), reported and skipped. */
  failed: { id: number; message: string }[];
}

/**
 * The teacher WITHOUT noise (eval mode; the saved model holds the EMA weights when an EMA was
 * kept) over the unlabeled images, at the teacher's own resolution with the clean eval transform,
 * in shards of `shardSize` images written atomically; shards already on disk are not redone.
 * With `topk` (for many classes: 1000 probabilities per image of a 100k-image set are 400 MB) a
 * shard keeps each image's k largest probabilities renormalised to sum to 1, their classes, and
 * the raw top-1 probability, which is what filtering compares with the threshold.
 */
export async function pseudoLabel(
  teacher: EfficientNet,
  unlabeled: ImageDataset,
  dataConfig: DataConfig,
  o: {
    dir: string;
    shardSize: number;
    batchSize: number;
    workers: number;
    topk?: number;
    /** What identifies the unlabeled images beyond their count (e.g. the data spec and split). */
    inputsKey?: string;
    onProgress?: (done: number, total: number) => void;
  },
): Promise<PseudoLabels> {
  mkdirSync(o.dir, { recursive: true });
  const n = unlabeled.length;
  const C = teacher.numClasses;
  const k = o.topk !== undefined && o.topk < C ? o.topk : 0;
  // Shards on disk are reused only for the same teacher weights, images and settings: a rerun into
  // a folder made by another teacher would otherwise mix two teachers' labels without a word.
  const fingerprint = {
    teacher: weightsFingerprint(teacher),
    images: n,
    numClasses: C,
    shardSize: o.shardSize,
    topk: k,
    dataConfig,
    inputs: o.inputsKey ?? null,
  };
  const manifest = join(o.dir, 'manifest.json');
  if (existsSync(manifest)) {
    const prev = JSON.parse(readFileSync(manifest, 'utf8')) as typeof fingerprint;
    const diff = Object.keys(fingerprint).filter(
      (key) => JSON.stringify(prev[key as keyof typeof fingerprint]) !== JSON.stringify(fingerprint[key as keyof typeof fingerprint]),
    );
    if (diff.length)
      throw new Error(
        `${o.dir} holds pseudo-labels made with another ${diff.join(', ')}: give another output folder, or delete it to start over`,
      );
  } else atomicWriteJson(manifest, fingerprint);
  if (o.topk !== undefined && !(Number.isInteger(o.topk) && o.topk >= 1))
    throw new RangeError(`topk must be a positive integer, got ${o.topk}`);
  const loader = new DataLoader(unlabeled, { batchSize: o.batchSize, numWorkers: o.workers, transform: { config: dataConfig } });
  teacher.eval();
  try {
    for (let s = 0; s * o.shardSize < n; s++) {
      const file = join(o.dir, `shard-${String(s).padStart(5, '0')}.safetensors`);
      if (existsSync(file)) {
        o.onProgress?.(Math.min(n, (s + 1) * o.shardSize), n);
        continue;
      }
      const lo = s * o.shardSize;
      const hi = Math.min(n, lo + o.shardSize);
      const ids: number[] = [];
      const rows: Float32Array[] = [];
      const classes: BigInt64Array[] = [];
      const top1: Float32Array[] = [];
      const errors: { id: number; message: string }[] = [];
      for (let b = lo; b < hi; b += o.batchSize) {
        const idx = Array.from({ length: Math.min(o.batchSize, hi - b) }, (_, i) => b + i);
        const r = await loader.fetch(0, b, idx);
        for (const e of r.errors) errors.push({ id: e.index, message: e.message });
        if (r.indices.length === 0) continue;
        noGrad(() =>
          scope(() => {
            const p = teacher.forward(fromTypedArray(r.data, r.shape)).softmax(1);
            if (!k) return void rows.push(p.toTypedArray() as Float32Array);
            const { values, indices } = p.topk(k, 1);
            rows.push(values.div(values.sum([1], { keepdim: true })).toTypedArray() as Float32Array);
            classes.push(indices.toTypedArray() as BigInt64Array);
            top1.push(values.select(1, 0).contiguous().toTypedArray() as Float32Array);
          }),
        );
        ids.push(...r.indices);
        o.onProgress?.(b + idx.length, n);
      }
      const joined = <T extends Float32Array | BigInt64Array>(parts: T[], make: (len: number) => T): T => {
        const out = make(parts.reduce((a, p) => a + p.length, 0));
        let off = 0;
        for (const p of parts) {
          out.set(p as never, off);
          off += p.length;
        }
        return out;
      };
      const f32 = (len: number) => new Float32Array(len);
      scope(() =>
        saveSafetensors(
          file,
          {
            ids: fromTypedArray(BigInt64Array.from(ids, BigInt), [ids.length]),
            ...(k
              ? {
                  topk_probs: fromTypedArray(joined(rows, f32), [ids.length, k]),
                  topk_classes: fromTypedArray(
                    joined(classes, (len) => new BigInt64Array(len)),
                    [ids.length, k],
                  ),
                  top1_prob: fromTypedArray(joined(top1, f32), [ids.length]),
                }
              : { probs: fromTypedArray(joined(rows, f32), [ids.length, C]) }),
          },
          { errors: JSON.stringify(errors) },
        ),
      );
    }
  } finally {
    await loader.close();
  }
  return readPseudoLabels(o.dir, { images: n, numClasses: C, shardSize: o.shardSize });
}

/** A short hash of a model's state dict: which weights made a set of pseudo-labels. */
export function weightsFingerprint(model: EfficientNet): string {
  const h = createHash('sha256');
  for (const [key, t] of model.stateDict()) {
    const a = t.toTypedArray();
    h.update(key).update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex').slice(0, 16);
}

/** Read the pseudo-label shards of a finished (or resumed) pseudo-labelling run back into memory. */
export function readPseudoLabels(dir: string, o: { images: number; numClasses: number; shardSize: number }): PseudoLabels {
  const n = o.images;
  const C = o.numClasses;
  const failed: PseudoLabels['failed'] = [];
  const all = new Float32Array(n * C);
  const seen = new Uint8Array(n);
  const rawTop1 = new Map<number, number>();
  for (let s = 0; s * o.shardSize < n; s++) {
    const file = join(dir, `shard-${String(s).padStart(5, '0')}.safetensors`);
    if (!existsSync(file)) throw new Error(`pseudo-label shard ${file} is missing: run pseudo-label again to complete it`);
    const { tensors, metadata } = loadSafetensors(file);
    try {
      const ids = tensors.get('ids')?.toTypedArray() as BigInt64Array | undefined;
      if (!ids) throw new Error(`${file} is not a pseudo-label shard (no ids)`);
      const inRange = (id: bigint): number => {
        const i = Number(id);
        if (!(i >= 0 && i < n)) throw new Error(`${file}: image id ${i} outside the ${n} unlabeled images`);
        return i;
      };
      const dense = tensors.get('probs');
      if (dense) {
        if (dense.shape[1] !== C) throw new Error(`${file}: ${dense.shape[1]} classes, expected ${C}`);
        const probs = dense.toTypedArray() as Float32Array;
        ids.forEach((id, i) => {
          const j = inRange(id);
          all.set(probs.subarray(i * C, (i + 1) * C), j * C);
          seen[j] = 1;
        });
      } else {
        // Top-k shard: the kept probabilities go back into their classes, zero elsewhere; the
        // confidence is the raw top-1 probability, not the renormalised one.
        const probs = tensors.get('topk_probs')?.toTypedArray() as Float32Array | undefined;
        const cls = tensors.get('topk_classes')?.toTypedArray() as BigInt64Array | undefined;
        const p1 = tensors.get('top1_prob')?.toTypedArray() as Float32Array | undefined;
        if (!probs || !cls || !p1) throw new Error(`${file} is not a pseudo-label shard (no probs or topk_probs)`);
        const k = probs.length / Math.max(1, ids.length);
        ids.forEach((id, i) => {
          const j = inRange(id);
          for (let t = 0; t < k; t++) {
            const c = Number(cls[i * k + t]);
            if (!(c >= 0 && c < C)) throw new Error(`${file}: class ${c} outside ${C}`);
            all[j * C + c] = probs[i * k + t]!;
          }
          rawTop1.set(j, p1[i]!);
          seen[j] = 1;
        });
      }
      failed.push(...(JSON.parse(metadata['errors'] ?? '[]') as { id: number; message: string }[]));
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  }
  const records: PseudoLabelRecord[] = [];
  for (let id = 0; id < n; id++) {
    if (!seen[id]) continue;
    let best = 0;
    for (let c = 1; c < C; c++) if (all[id * C + c]! > all[id * C + best]!) best = c;
    records.push({ id, label: best, confidence: rawTop1.get(id) ?? all[id * C + best]! });
  }
  return { probs: all, numClasses: C, records, failed };
}

/** Pseudo-labels depend on the teacher's exact weights (and what is kept): a generation keeps them in a folder keyed by both. */
export function pseudoLabelDir(genDir: string, teacherModelDir: string, topk?: number): string {
  const f = join(teacherModelDir, 'model.safetensors');
  const key = existsSync(f) ? createHash('sha256').update(readFileSync(f)).digest('hex').slice(0, 16) : 'unknown';
  return join(genDir, 'pseudo', topk !== undefined ? `${key}-top${topk}` : key);
}

// ------------------------------------------------------------------ filtering

export function filterStage(pl: PseudoLabels, cfg: NoisyStudentConfig, trueLabel: ((id: number) => number | undefined) | null) {
  const result = filterAndBalance(pl.records, {
    numClasses: pl.numClasses,
    perClass: cfg.pseudoLabel.perClass,
    threshold: cfg.pseudoLabel.threshold,
    seed: cfg.seed,
  });
  const accuracy = trueLabel ? pseudoLabelAccuracy(pl.records, trueLabel, result) : null;
  return { result, accuracy };
}

// ------------------------------------------------------------------ the student

export interface StudentRun {
  eval: EvalResult | null;
  history: { epoch: number; trainLoss: number; eval: EvalResult | null }[];
  modelDir: string;
}

/**
 * Train a student on labeled + pseudo-labeled images, `ratio` unlabeled per labeled image in each
 * batch. With noise: RandAugment on both streams, dropout before the classifier and stochastic
 * depth; soft targets use cross-entropy with the teacher's probabilities (temperature option), hard
 * ones and the labeled loss use label smoothing.
 */
export async function trainStudent(
  modelName: string,
  o: {
    dir: string;
    cfg: NoisyStudentConfig;
    labeled: ImageDataset;
    unlabeled: ImageDataset;
    pseudo: PseudoLabels;
    /** The filtered pseudo-labeled ids, with repeats (filterAndBalance's ids). */
    selectionIds: readonly number[];
    dataConfig: DataConfig;
    inChans: number;
    numClasses: number;
    warmStartFrom?: string;
    validate?: (m: EfficientNet) => Promise<EvalResult>;
    onStep?: Parameters<typeof fit>[0]['onStep'];
    onEpoch?: Parameters<typeof fit>[0]['onEpoch'];
  },
): Promise<StudentRun> {
  const { cfg } = o;
  const s = cfg.student;
  mkdirSync(o.dir, { recursive: true });
  const noise = s.noise;
  const g = new Generator(cfg.seed + 17);
  const model = await createModel(modelName, {
    numClasses: o.numClasses,
    inChans: o.inChans,
    dropRate: noise ? s.dropRate : 0,
    dropPathRate: noise ? s.dropPathRate : 0,
    generator: g,
    ...(o.warmStartFrom ? { checkpointPath: o.warmStartFrom } : {}),
    onWarning: () => {},
  });
  if (s.train.zeroHead && !o.warmStartFrom) zeroClassifier(model);
  const trainTransform = {
    config: o.dataConfig,
    isTraining: true,
    train: { scale: [0.6, 1] as [number, number], hflip: 0.5, ...(noise && s.randAugment ? { autoAugment: s.randAugment } : {}) },
  };
  const labLoader = new DataLoader(o.labeled, {
    batchSize: s.train.batchSize,
    numWorkers: cfg.workers,
    seed: cfg.seed,
    transform: trainTransform,
  });
  const unlLoader = new DataLoader(o.unlabeled, {
    batchSize: s.train.batchSize,
    numWorkers: cfg.workers,
    seed: cfg.seed + 1,
    transform: trainTransform,
  });
  const labeledIdx = Int32Array.from({ length: o.labeled.length }, (_, i) => i);
  const sampler = new RatioSampler({
    labeled: labeledIdx,
    unlabeled: o.selectionIds,
    batchSize: s.train.batchSize,
    ratio: s.ratio,
    seed: cfg.seed,
  });
  const C = o.numClasses;
  const hard = cfg.pseudoLabel.kind === 'hard';

  const load = async (epoch: number, step: number): Promise<TrainBatch> => {
    const b = sampler.batchAt(epoch, step);
    const [rl, ru] = await Promise.all([labLoader.fetch(epoch, step, b.labeled), unlLoader.fetch(epoch, step, b.unlabeled)]);
    const soft = new Float32Array(ru.indices.length * C);
    const hardLabels = new BigInt64Array(ru.indices.length);
    ru.indices.forEach((id, i) => {
      const row = o.pseudo.probs.subarray(id * C, (id + 1) * C);
      soft.set(row, i * C);
      let best = 0;
      for (let c = 1; c < C; c++) if (row[c]! > row[best]!) best = c;
      hardLabels[i] = BigInt(best);
    });
    const xl = fromTypedArray(rl.data, rl.shape);
    const xu = fromTypedArray(ru.data, ru.shape);
    const x = cat([xl, xu]);
    xl.dispose();
    xu.dispose();
    return {
      x,
      target: fromTypedArray(
        BigInt64Array.from(rl.labels, (l) => BigInt(l)),
        [rl.labels.length],
      ),
      extra: { unlabeled: hard ? fromTypedArray(hardLabels, [hardLabels.length]) : fromTypedArray(soft, [ru.indices.length, C]) },
    };
  };
  // One step ahead: the next batch decodes and augments while this one trains.
  const trainBatches = async function* (epoch: number, startStep: number): AsyncGenerator<TrainBatch> {
    let next: Promise<TrainBatch> | null = startStep < sampler.stepsPerEpoch ? load(epoch, startStep) : null;
    for (let step = startStep; step < sampler.stepsPerEpoch; step++) {
      const cur = await next!;
      next = step + 1 < sampler.stepsPerEpoch ? load(epoch, step + 1) : null;
      yield cur;
    }
  };
  const optimizer = makeOptimizer(model, { ...s.train, momentum: 0.9 });
  const sched = createSchedule({
    sched: 'cosine',
    epochs: s.train.epochs,
    warmupEpochs: s.train.warmupEpochs,
    warmupLr: s.train.lr / 100,
    minLr: 1e-5,
    onUpdates: true,
    updatesPerEpoch: sampler.stepsPerEpoch,
  });
  const scheduler = new Scheduler(optimizer, sched.fn, sched.tInEpochs);
  const ema = s.train.emaDecay > 0 ? new ModelEma(model.stateDict(), { decay: s.train.emaDecay, mode: 'tf' }) : undefined;
  try {
    const result = await fit({
      model,
      epochs: s.train.epochs,
      batchesPerEpoch: sampler.stepsPerEpoch,
      trainBatches,
      optimizer,
      scheduler,
      ...(ema ? { ema } : {}),
      lossFn: (logits: Tensor, b: TrainBatch) =>
        mixedBatchLoss(
          logits,
          { labeled: b.target, unlabeled: b.extra!['unlabeled'] as Tensor },
          { smoothing: s.train.labelSmoothing, temperature: cfg.pseudoLabel.temperature, reduction: 'mean' },
        ).loss,
      generator: g,
      generators: { model: g },
      output: o.dir,
      resume: true,
      checkpointEvery: s.checkpointEvery,
      configHash: configHash({ modelName, s: studentTrainingKey(s), pl: cfg.pseudoLabel, seed: cfg.seed }),
      ...(o.validate ? { validate: o.validate as never } : {}),
      ...(o.onStep ? { onStep: o.onStep } : {}),
      ...(o.onEpoch ? { onEpoch: o.onEpoch } : {}),
    });
    const modelDir = join(o.dir, 'model');
    await withEmaWeights(model, ema, async () => saveModel(model, modelDir));
    const last = result.history[result.history.length - 1];
    return { eval: last?.eval ?? null, history: result.history, modelDir };
  } finally {
    ema?.dispose();
    optimizer.dispose();
    await labLoader.close();
    await unlLoader.close();
    model.dispose();
    g.dispose();
  }
}

/** Top-1/top-5 of a saved model on a labeled set (clean eval transform). */
export async function evaluateModelDir(
  modelName: string,
  modelDir: string,
  test: ImageDataset,
  dataConfig: DataConfig,
  workers: number,
): Promise<EvalResult> {
  const model = await createModel(modelName, { checkpointPath: modelDir });
  const loader = new DataLoader(test, { batchSize: 256, numWorkers: workers, transform: { config: dataConfig } });
  try {
    model.eval();
    return await evaluate(model, loaderBatches(loader)(0, 0));
  } finally {
    await loader.close();
    model.dispose();
  }
}

export { configHash };
