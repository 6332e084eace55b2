// The pseudo-labelling stage: the teacher WITHOUT noise (eval mode; the saved model holds the EMA
// weights when an EMA was kept) over the unlabeled images, at the teacher's own resolution with
// the clean eval transform, in shards of `shardSize` images written atomically; shards already on
// disk are not redone. With `topk` (for many classes: 1000 probabilities per image of a 100k-image
// set are 400 MB) a shard keeps each image's k largest probabilities renormalised to sum to 1,
// their classes, and the raw top-1 probability, which is what filtering compares with the threshold.
//
// Under a launcher (several ranks) the ranks split the shards (shard s is rank s mod W's) into the
// same folder: rank 0 claims it, each rank writes its shards, rank 0 merges them into the index
// once all are there, and every rank returns that same index. A shard's content depends only on
// its images, so W ranks write the bytes one process writes. Filtering reads the merged index:
// its threshold and per-class K are the whole set's, as filter_unlabel.py's over its shards.
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { ensureFreeSpace, pseudoLabelBytes } from '../../util/disk.js';
import { fromTypedArray, noGrad, scope } from '../../torch/index.js';
import { EfficientNet, inferenceModelFrom, type InferenceModel } from '../../models/index.js';
import { DataLoader, type BatchResult, type DataConfig, type ImageDataset, type SampleError } from '../../data/index.js';
import { throwIfAborted, type ProgressListener } from '../../train/index.js';
import { initProcessGroupFromEnv, isWriterRank } from '../../distributed/index.js';
import type { ProcessGroupLike } from '../../nn/index.js';
import {
  openInferenceModel,
  type BackendChoice,
  type BackendName,
  type BackendOption,
  type Calibration,
  type Precision,
} from '../../backends/index.js';
import { atomicWriteJson } from '../../util/atomic_write.js';
import {
  claimPseudoLabelDir,
  finishPseudoLabelDir,
  readPseudoLabels,
  shardCount,
  shardFile,
  writeShard,
  type PseudoLabels,
} from '../artifacts/pseudo_labels.js';

export interface PseudoLabelOptions {
  dir: string;
  shardSize: number;
  batchSize: number;
  workers: number;
  topk?: number | undefined;
  /** Fingerprint of the teacher's weights (default: hashed from its state dict). */
  teacherFingerprint?: string;
  /** Content key of the unlabeled images (selectData's key). */
  inputs?: unknown;
  signal?: AbortSignal | undefined;
  stage?: string;
  onEvent?: ProgressListener | undefined;
  /** Each image that could not be read (recorded in its shard's errors); may throw to stop (--max-skipped). */
  onSampleError?: ((e: SampleError) => void) | undefined;
  /** Ranks that split the shards. Default: the launcher's group if any; null: this process alone. */
  processGroup?: ProcessGroupLike | null | undefined;
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

/** DIR/backend.json, written atomically, so a file that does not parse was edited or is not ours. */
interface BackendRecord {
  backend?: BackendName;
  precision?: Precision;
}
function readBackendRecord(file: string): BackendRecord {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as BackendRecord;
  } catch (e) {
    throw new Error(
      `${file} (the backend that made these pseudo-labels) does not parse: ${(e as Error).message}; delete the folder to start over`,
    );
  }
}

/**
 * The teacher behind the stage's backend. The backend that ran is recorded in DIR/backend.json; with
 * `auto`, a recorded choice is used as it is, so a resume (or a rerun on a machine where another
 * backend would win) labels the remaining shards with the backend that labelled the first ones.
 */
export async function openPseudoLabelTeacher(
  model: EfficientNet,
  dir: string,
  o: {
    backend: BackendOption;
    precision: Precision;
    batchSize?: number;
    onChoice?: (c: BackendChoice) => void;
    /** int8: the images its activation ranges are calibrated on (the same ones again on a resume). */
    calibration?: Calibration | undefined;
  },
): Promise<InferenceModel> {
  const file = join(dir, 'backend.json');
  // Under a launcher every rank must label with the same backend (their shards go into one set, and
  // backends differ in the last bits): with `auto`, rank 0 measures and records its choice first,
  // and the other ranks take it from the record instead of measuring on their own.
  const group = o.backend === 'auto' ? await initProcessGroupFromEnv() : null;
  if (group && group.rank !== 0) await group.barrier();
  try {
    const rec = existsSync(file) ? readBackendRecord(file) : null;
    return await openRecorded(model, dir, file, rec, o);
  } finally {
    if (group?.rank === 0) await group.barrier();
  }
}

async function openRecorded(
  model: EfficientNet,
  dir: string,
  file: string,
  rec: BackendRecord | null,
  o: Parameters<typeof openPseudoLabelTeacher>[2],
): Promise<InferenceModel> {
  let backend: BackendOption = o.backend;
  if (rec?.backend) {
    if (backend === 'auto') {
      backend = rec.backend;
      o.onChoice?.({ backend, precision: o.precision, measured: false, reason: `recorded in ${file}` });
    }
    if (backend !== rec.backend || o.precision !== rec.precision) {
      throw new Error(
        `${dir} holds pseudo-labels made with another backend (${rec.backend}, ${rec.precision ?? '?'}), not ${backend} (${o.precision}): ` +
          'give another output folder, or delete it to start over',
      );
    }
  }
  let choice: BackendChoice | null = null;
  const inf = await openInferenceModel(model, {
    backend,
    precision: o.precision,
    ...(o.batchSize ? { batchSize: o.batchSize } : {}),
    ...(o.calibration ? { calibration: o.calibration } : {}),
    onChoice: (c) => {
      choice = c;
      if (backend === 'auto') o.onChoice?.(c);
    },
  });
  if (!rec && isWriterRank()) {
    const made = choice as BackendChoice | null;
    atomicWriteJson(file, {
      configured: o.backend,
      backend: made?.backend ?? backend,
      precision: o.precision,
      runtime: inf.backend,
      reason: made?.reason ?? 'pinned',
      ...(o.calibration && o.precision === 'int8' ? { calibration: o.calibration.describe } : {}),
    });
  }
  return inf;
}

const positiveInt = (v: number | undefined, what: string): void => {
  if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new RangeError(`${what} must be a positive integer, got ${v}`);
};

export async function pseudoLabel(
  teacher: InferenceModel | EfficientNet,
  unlabeled: ImageDataset,
  dataConfig: DataConfig,
  o: PseudoLabelOptions,
): Promise<PseudoLabels> {
  positiveInt(o.shardSize, 'shardSize');
  positiveInt(o.batchSize, 'batchSize');
  positiveInt(o.topk, 'topk');
  const model = teacher instanceof EfficientNet ? inferenceModelFrom(teacher) : teacher;
  const fingerprint = o.teacherFingerprint ?? (teacher instanceof EfficientNet ? weightsFingerprint(teacher) : null);
  if (!fingerprint) throw new Error('pseudoLabel: give teacherFingerprint for a model without a state dict');
  const n = unlabeled.length;
  const C = model.numClasses;
  const k = o.topk !== undefined && o.topk < C ? o.topk : 0;
  const stage = o.stage ?? 'pseudo-label';
  const group = o.processGroup === undefined ? await initProcessGroupFromEnv() : o.processGroup;
  const rank = group?.rank ?? 0;
  const world = group?.worldSize ?? 1;
  // Rank 0 claims the folder first; the others then check that it holds what they would write.
  if (rank !== 0) await group!.barrier();
  // Shards on disk are reused only for the same teacher weights, images and settings.
  claimPseudoLabelDir(o.dir, {
    teacher: fingerprint,
    images: n,
    numClasses: C,
    shardSize: o.shardSize,
    topk: k,
    dataConfig,
    inputs: o.inputs ?? null,
    // Backends differ in the last bits of each probability: shards of one are never mixed with another's.
    backend: model.backend,
    precision: model.precision,
  });
  if (rank === 0) {
    ensurePseudoLabelSpace(o.dir, n, C, k, o.shardSize);
    await group?.barrier();
  }
  const loader = new DataLoader(unlabeled, { batchSize: o.batchSize, numWorkers: o.workers, transform: { config: dataConfig } });
  try {
    for (let s = 0; s < shardCount(n, o.shardSize); s++) {
      const lo = s * o.shardSize;
      const hi = Math.min(n, lo + o.shardSize);
      if (s % world !== rank) continue; // another rank's shard
      if (existsSync(shardFile(o.dir, s))) {
        o.onEvent?.({ type: 'items', stage, done: hi, total: n, unit: 'img' });
        continue;
      }
      const ids: number[] = [];
      const rows: Float32Array[] = [];
      const classes: BigInt64Array[] = [];
      const top1: Float32Array[] = [];
      const errors: { id: number; message: string }[] = [];
      // One batch ahead: the loader decodes batch b + 1 while the model runs batch b.
      const fetchAt = (b: number): Promise<BatchResult> | null => {
        if (b >= hi) return null;
        const p = loader.fetch(
          0,
          b,
          Array.from({ length: Math.min(o.batchSize, hi - b) }, (_, i) => b + i),
        );
        p.catch(() => undefined); // awaited below; no unhandled rejection if the loop stops first
        return p;
      };
      let ahead = fetchAt(lo);
      for (let b = lo; b < hi; b += o.batchSize) {
        throwIfAborted(o.signal, stage);
        const idx = Array.from({ length: Math.min(o.batchSize, hi - b) }, (_, i) => b + i);
        const r = await ahead!;
        ahead = fetchAt(b + o.batchSize);
        for (const e of r.errors) {
          errors.push({ id: e.index, message: e.message });
          o.onSampleError?.(e);
        }
        if (r.indices.length > 0) {
          const logits = await model.run({ data: r.data, shape: r.shape }, 'logits');
          noGrad(() =>
            scope(() => {
              const p = fromTypedArray(logits.data, logits.shape).softmax(1);
              if (!k) return void rows.push(p.toTypedArray() as Float32Array);
              const { values, indices } = p.topk(k, 1);
              rows.push(values.div(values.sum([1], { keepdim: true })).toTypedArray() as Float32Array);
              classes.push(indices.toTypedArray() as BigInt64Array);
              top1.push(values.select(1, 0).contiguous().toTypedArray() as Float32Array);
            }),
          );
          ids.push(...r.indices);
        }
        o.onEvent?.({ type: 'items', stage, done: b + idx.length, total: n, unit: 'img' });
      }
      writeShard(
        o.dir,
        s,
        {
          ids,
          probs: joined(rows, (len) => new Float32Array(len)),
          ...(k ? { classes: joined(classes, (len) => new BigInt64Array(len)), top1: joined(top1, (len) => new Float32Array(len)) } : {}),
          errors,
        },
        C,
        k,
      );
    }
  } finally {
    await loader.close();
  }
  if (!group) return finishPseudoLabelDir(o.dir);
  // All shards written: rank 0 merges them into the index, then everyone reads it.
  await group.barrier();
  const merged = rank === 0 ? finishPseudoLabelDir(o.dir) : null;
  await group.barrier();
  return merged ?? readPseudoLabels(o.dir);
}

/** Stop before labelling anything when the shards still to write (and the index) cannot fit on the disk. */
function ensurePseudoLabelSpace(dir: string, n: number, C: number, k: number, shardSize: number): void {
  let images = 0;
  let shards = 0;
  for (let s = 0; s < shardCount(n, shardSize); s++)
    if (!existsSync(shardFile(dir, s))) {
      images += Math.min(n, (s + 1) * shardSize) - s * shardSize;
      shards++;
    }
  if (shards === 0 && existsSync(join(dir, 'index.json'))) return;
  const bytes = pseudoLabelBytes({ images, numClasses: C, topk: k, shards, indexed: n });
  ensureFreeSpace(dir, bytes, `pseudo-labels for ${images.toLocaleString('en-US')} images${k ? ` (top-${k})` : ` (${C} classes)`}`);
}

function joined<T extends Float32Array | BigInt64Array>(parts: T[], make: (len: number) => T): T {
  const out = make(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p as never, off);
    off += p.length;
  }
  return out;
}
