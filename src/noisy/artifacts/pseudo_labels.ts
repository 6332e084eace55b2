// A pseudo-label set on disk: the folder `pseudo-label` and `run` both write, and `filter`,
// `student`, `evaluate` and `report` read.
//   manifest.json   what made the shards (teacher weights, images, settings): a rerun into the same
//                   folder with another teacher or setting is refused rather than mixed
//   shard-NNNNN.safetensors   ids [n] int64, and either probs [n, C] or top-k: topk_probs [n, k]
//                   (renormalised), topk_classes [n, k] int64, top1_prob [n] (raw, for filtering);
//                   metadata `errors`: the images of the shard that could not be read
//   index.json      written last, when every shard is there: counts, the records (id, argmax,
//                   confidence), the unreadable images, and the set's fingerprint (of its shards)
import { closeSync, existsSync, mkdirSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { fromTypedArray, loadSafetensors, saveSafetensors, scope } from '../../torch/index.js';
import type { DataConfig } from '../../data/index.js';
import type { TargetSource } from '../../train/index.js';
import { contentHash, fileHash } from '../../util/hash.js';
import type { PseudoLabelRecord, RecordColumns } from '../filter.js';
import { formatTag, readArtifact, writeArtifact } from './format.js';

export interface PseudoLabelManifest {
  /** Fingerprint of the teacher's weights. */
  teacher: string;
  images: number;
  numClasses: number;
  shardSize: number;
  /** 0 = every probability kept. */
  topk: number;
  dataConfig: DataConfig;
  /** Content key of the unlabeled images (no paths). */
  inputs: unknown;
}

export interface PseudoLabelIndex {
  images: number;
  numClasses: number;
  shardSize: number;
  topk: number;
  teacher: string;
  /** Fingerprint of the shards: what a selection and a student record depend on. */
  fingerprint: string;
  labeled: number;
  failed: { id: number; message: string }[];
  records: PseudoLabelRecord[];
}

/**
 * A set in memory. Top-k shards stay sparse: per image k class ids (Int32) and k renormalised
 * probabilities (Float32), 8k bytes, plus its record as columns (12 bytes); a 1.28M-image,
 * 1000-class set with k = 5 holds 66 MB, not the 5 GB of dense rows. A dense set (full
 * distributions, topk 0) holds [U, C] floats: that memory is what its shards hold, inherent.
 */
export interface PseudoLabels {
  numClasses: number;
  /** Dense rows [U, numClasses], or with `topk` the k kept probabilities per image [U, k] (renormalised); zeros for an unread image. */
  probs: Float32Array;
  /** The records as objects (~70 bytes each). A set read from disk builds this list anew at each use. */
  readonly records: readonly PseudoLabelRecord[];
  /** Ids that could not be read (corrupt files), reported and skipped. */
  failed: { id: number; message: string }[];
  /** The set's fingerprint (index.json). */
  fingerprint: string;
  // A set read from disk has the fields below; a dense set built by hand may leave them out.
  /** Unlabeled images the set covers (ids 0..images-1), read or not. Default: probs.length / numClasses. */
  images?: number;
  /** 0 (default): `probs` is dense; k: `probs` is [images, k] with `classes`. */
  topk?: number;
  /** Top-k only: the classes of `probs` [images, k]; -1 for an image that was not read. */
  classes?: Int32Array | null;
  /** The records as columns (ids ascending). Default: from `records`. */
  columns?: RecordColumns;
}

/** How many images a set covers. */
export const pseudoLabelImages = (pl: Pick<PseudoLabels, 'images' | 'probs' | 'numClasses'>): number =>
  pl.images ?? pl.probs.length / pl.numClasses;

/** The records as columns, in id order. */
export function recordColumns(records: readonly PseudoLabelRecord[]): RecordColumns {
  const sorted = [...records].sort((a, b) => a.id - b.id);
  return {
    ids: Int32Array.from(sorted, (r) => r.id),
    labels: Int32Array.from(sorted, (r) => r.label),
    confidences: Float32Array.from(sorted, (r) => r.confidence),
  };
}

/** The records as objects, in id order. */
export function recordList(c: RecordColumns): PseudoLabelRecord[] {
  return Array.from(c.ids, (id, i) => ({ id, label: c.labels[i]!, confidence: c.confidences[i]! }));
}

/** A set read from disk: every field given, the `records` list built from the columns when asked for. */
export type ReadPseudoLabels = Required<PseudoLabels>;

// Built anew on each use and not kept: a list held beside the columns would be the ~70 bytes per
// image the columns save, for as long as the set lives (a whole student training).
function withRecords<T extends { columns: RecordColumns }>(o: T): T & { readonly records: PseudoLabelRecord[] } {
  return Object.defineProperty({ ...o }, 'records', {
    enumerable: false,
    get: () => recordList(o.columns),
  }) as T & { readonly records: PseudoLabelRecord[] };
}

/** Image `id`'s probabilities as a dense row, written into `out` (numClasses floats, zeroed first). */
export function pseudoLabelRow(pl: Pick<PseudoLabels, 'numClasses' | 'topk' | 'probs' | 'classes'>, id: number, out: Float32Array): void {
  const C = pl.numClasses;
  if (out.length !== C) throw new RangeError(`a pseudo-label row has ${C} classes, the buffer ${out.length}`);
  if (!pl.topk) return out.set(pl.probs.subarray(id * C, (id + 1) * C));
  const k = pl.topk;
  out.fill(0);
  // In the shard's order, so a class listed twice ends as the last, as dense rows were filled.
  for (let t = id * k; t < (id + 1) * k; t++) {
    const c = pl.classes![t]!;
    if (c >= 0) out[c] = pl.probs[t]!;
  }
}

const REDO = 'run pseudo-label again into a new output folder (or delete this one)';

export const shardFile = (dir: string, s: number): string => join(dir, `shard-${String(s).padStart(5, '0')}.safetensors`);
export function shardCount(images: number, shardSize: number): number {
  // A zero or fractional shard size would ask for endless shards (a bad manifest, or a caller's typo).
  if (!(Number.isInteger(shardSize) && shardSize >= 1)) throw new RangeError(`shard size must be a positive integer, got ${shardSize}`);
  if (!(Number.isInteger(images) && images >= 0)) throw new RangeError(`image count must be a non-negative integer, got ${images}`);
  return Math.ceil(images / shardSize);
}

/** Write the manifest, or check that the folder's is the same: another teacher or setting is refused. */
export function claimPseudoLabelDir(dir: string, m: PseudoLabelManifest): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'manifest.json');
  if (!existsSync(file)) return writeArtifact(file, 'pseudo-label-manifest', m);
  const prev = readArtifact<PseudoLabelManifest>(file, 'pseudo-label-manifest', REDO);
  const diff = (Object.keys(m) as (keyof PseudoLabelManifest)[]).filter((k) => contentHash(prev[k]) !== contentHash(m[k]));
  if (diff.length)
    throw new Error(
      `${dir} holds pseudo-labels made with another ${diff.join(', ')}: give another output folder, or delete it to start over`,
    );
}

export interface ShardContent {
  ids: number[];
  /** Dense: [n * C]; top-k: [n * k] renormalised. */
  probs: Float32Array;
  classes?: BigInt64Array;
  top1?: Float32Array;
  errors: { id: number; message: string }[];
}

export function writeShard(dir: string, s: number, c: ShardContent, numClasses: number, topk: number): void {
  const n = c.ids.length;
  scope(() =>
    saveSafetensors(
      shardFile(dir, s),
      {
        ids: fromTypedArray(BigInt64Array.from(c.ids, BigInt), [n]),
        ...(topk
          ? {
              topk_probs: fromTypedArray(c.probs, [n, topk]),
              topk_classes: fromTypedArray(c.classes!, [n, topk]),
              top1_prob: fromTypedArray(c.top1!, [n]),
            }
          : { probs: fromTypedArray(c.probs, [n, numClasses]) }),
      },
      { errors: JSON.stringify(c.errors) },
    ),
  );
}

/** What the shards hold, in memory (sparse for top-k shards). */
export type ShardSetContent = Omit<ReadPseudoLabels, 'fingerprint'>;

/** Read the shards into memory (every one must be there); top-k shards stay sparse. */
export function readPseudoLabelShards(dir: string, o: { images: number; numClasses: number; shardSize: number }): ShardSetContent {
  const n = o.images;
  const C = o.numClasses;
  const failed: PseudoLabels['failed'] = [];
  // Allocated at the first shard, which says dense or top-k (and k).
  let topk = -1;
  let store = new Float32Array(0);
  let classes: Int32Array | null = null;
  const seen = new Uint8Array(n);
  const labels = new Int32Array(n);
  const confidences = new Float32Array(n);
  // One image's scattered row: the argmax is found exactly as over the dense row it stands for.
  const scratch = new Float32Array(C);
  const argmax = (row: Float32Array): number => {
    let best = 0;
    for (let c = 1; c < C; c++) if (row[c]! > row[best]!) best = c;
    return best;
  };
  const layout = (k: number, file: string): void => {
    if (topk === -1) {
      topk = k;
      store = new Float32Array(n * (k || C));
      if (k) classes = new Int32Array(n * k).fill(-1);
    } else if (topk !== k)
      throw new Error(`${file}: ${k ? `top-${k}` : 'dense'} probabilities, the set's other shards ${topk ? `top-${topk}` : 'dense'}`);
  };
  for (let s = 0; s < shardCount(n, o.shardSize); s++) {
    const file = shardFile(dir, s);
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
        layout(0, file);
        const probs = dense.toTypedArray() as Float32Array;
        ids.forEach((id, i) => {
          const j = inRange(id);
          const row = store.subarray(j * C, (j + 1) * C);
          row.set(probs.subarray(i * C, (i + 1) * C));
          const best = argmax(row);
          labels[j] = best;
          confidences[j] = row[best]!;
          seen[j] = 1;
        });
      } else {
        // Top-k shard: kept as it is; the confidence is the raw top-1 probability, not the
        // renormalised one, and the label the argmax of the row the kept classes stand for.
        const probs = tensors.get('topk_probs')?.toTypedArray() as Float32Array | undefined;
        const cls = tensors.get('topk_classes')?.toTypedArray() as BigInt64Array | undefined;
        const p1 = tensors.get('top1_prob')?.toTypedArray() as Float32Array | undefined;
        if (!probs || !cls || !p1) throw new Error(`${file} is not a pseudo-label shard (no probs or topk_probs)`);
        const k = probs.length / Math.max(1, ids.length);
        if (ids.length && !(Number.isInteger(k) && k >= 1 && cls.length === probs.length && p1.length === ids.length))
          throw new Error(`${file}: topk_probs, topk_classes and top1_prob do not match its ${ids.length} ids`);
        if (ids.length) layout(k, file);
        ids.forEach((id, i) => {
          const j = inRange(id);
          for (let t = 0; t < k; t++) {
            const c = Number(cls[i * k + t]);
            if (!(c >= 0 && c < C)) throw new Error(`${file}: class ${c} outside ${C}`);
            classes![j * k + t] = c;
            store[j * k + t] = probs[i * k + t]!;
            scratch[c] = probs[i * k + t]!;
          }
          labels[j] = argmax(scratch);
          confidences[j] = p1[i]!;
          for (let t = 0; t < k; t++) scratch[classes![j * k + t]!] = 0;
          seen[j] = 1;
        });
      }
      failed.push(...(JSON.parse(metadata['errors'] ?? '[]') as { id: number; message: string }[]));
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
  }
  // The records: every image read, in id order.
  let m = 0;
  for (let id = 0; id < n; id++) m += seen[id]!;
  const columns = { ids: new Int32Array(m), labels: new Int32Array(m), confidences: new Float32Array(m) };
  for (let id = 0, r = 0; id < n; id++) {
    if (!seen[id]) continue;
    columns.ids[r] = id;
    columns.labels[r] = labels[id]!;
    columns.confidences[r++] = confidences[id]!;
  }
  // No shard held an image (all unreadable): rows of zeros, kept sparse rather than n x C.
  if (topk === -1) layout(1, dir);
  return withRecords({ numClasses: C, images: n, topk, probs: store, classes, columns, failed });
}

const setFingerprint = (dir: string, m: { images: number; shardSize: number }): string =>
  contentHash(Array.from({ length: shardCount(m.images, m.shardSize) }, (_, s) => fileHash(shardFile(dir, s))));

/** Once every shard is written: read them back, fingerprint them, and write index.json (last). */
export function finishPseudoLabelDir(dir: string): ReadPseudoLabels {
  const m = readArtifact<PseudoLabelManifest>(join(dir, 'manifest.json'), 'pseudo-label-manifest', REDO);
  const content = readPseudoLabelShards(dir, m);
  const fingerprint = setFingerprint(dir, m);
  // The index lists every record as an object; that list lives only while index.json is written.
  const records = recordList(content.columns);
  const index: PseudoLabelIndex = {
    images: m.images,
    numClasses: m.numClasses,
    shardSize: m.shardSize,
    topk: m.topk,
    teacher: m.teacher,
    fingerprint,
    labeled: records.length,
    failed: content.failed,
    records,
  };
  writeArtifact(join(dir, 'index.json'), 'pseudo-label-index', index);
  return withRecords({ ...content, fingerprint });
}

const notFinished = (dir: string): Error =>
  existsSync(join(dir, 'manifest.json')) || existsSync(shardFile(dir, 0))
    ? new Error(`${dir}: the pseudo-labels are not finished (no index.json); run pseudo-label again to complete them`)
    : new Error(`${dir} is not a pseudo-label folder (no index.json)`);

/** The index of a finished set (counts, records, fingerprint), without the probabilities. */
export function readPseudoLabelIndex(dir: string): PseudoLabelIndex {
  const f = join(dir, 'index.json');
  if (!existsSync(f)) throw notFinished(dir);
  return readArtifact<PseudoLabelIndex>(f, 'pseudo-label-index', REDO);
}

/**
 * Whether `dir` holds a finished set of this format, from the start of its index.json only: the
 * index lists every record (~80 bytes each as JSON, more as parsed objects), which reading the
 * probabilities does not need. writeArtifact writes the format tag first.
 */
function checkFinished(dir: string): void {
  const f = join(dir, 'index.json');
  if (!existsSync(f)) throw notFinished(dir);
  const head = Buffer.alloc(512);
  const fd = openSync(f, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const tag = /^\{\s*"format":\s*"([^"]*)"/.exec(head.subarray(0, n).toString('utf8'))?.[1];
  // Anything else is read in full, for readArtifact's message on what is wrong with it.
  if (tag !== formatTag('pseudo-label-index')) readPseudoLabelIndex(dir);
}

/**
 * A finished set with its probabilities (sparse for top-k shards). The fingerprint is that of the
 * shards as read, the one index.json recorded when they were written.
 */
export function readPseudoLabels(dir: string): ReadPseudoLabels {
  checkFinished(dir);
  const m = readArtifact<PseudoLabelManifest>(join(dir, 'manifest.json'), 'pseudo-label-manifest', REDO);
  const content = readPseudoLabelShards(dir, m);
  return withRecords({ ...content, fingerprint: setFingerprint(dir, m) });
}

/**
 * The set as the trainer's target source: image id → its probability row (a dense row filled per
 * batch from the sparse one; no [U, C] array) and argmax (the records' label).
 */
export function pseudoLabelTargets(pl: PseudoLabels): TargetSource {
  const { ids, labels } = pl.columns ?? recordColumns(pl.records);
  return {
    numClasses: pl.numClasses,
    row: (id, out) => pseudoLabelRow(pl, id, out),
    label: (id) => {
      // The record ids are ascending: a binary search instead of an id -> label array.
      let lo = 0;
      let hi = ids.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ids[mid]! < id) lo = mid + 1;
        else hi = mid;
      }
      if (!(lo < ids.length && ids[lo] === id)) throw new RangeError(`image ${id} has no pseudo-label (unreadable, or outside the set)`);
      return labels[lo]!;
    },
  };
}
