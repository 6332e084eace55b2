// A pseudo-label set on disk: the folder `pseudo-label` and `run` both write, and `filter`,
// `student`, `evaluate` and `report` read.
//   manifest.json   what made the shards (teacher weights, images, settings): a rerun into the same
//                   folder with another teacher or setting is refused rather than mixed
//   shard-NNNNN.safetensors   ids [n] int64, and either probs [n, C] or top-k: topk_probs [n, k]
//                   (renormalised), topk_classes [n, k] int64, top1_prob [n] (raw, for filtering);
//                   metadata `errors`: the images of the shard that could not be read
//   index.json      written last, when every shard is there: counts, the records (id, argmax,
//                   confidence), the unreadable images, and the set's fingerprint (of its shards)
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { fromTypedArray, saveSafetensors, scope } from '../../torch/index.js';
import { MAX_HEADER_BYTES, parseHeaderJson, SafetensorsError } from '../../torch/safetensors_format.js';
import type { DataConfig } from '../../data/index.js';
import type { TargetSource } from '../../train/index.js';
import { contentHash } from '../../util/hash.js';
import type { PseudoLabelRecord, RecordColumns } from '../filter.js';
import { environment, formatTag, readArtifact, writeArtifact } from './format.js';
import { AtomicFileStream } from '../../util/atomic_stream.js';

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
  /** What ran the teacher ('torch', 'torch-fused', 'onnxruntime'; auto already resolved) and in which precision. */
  backend: string;
  precision: string;
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
 * A set in memory. Top-k shards stay sparse: per image k class ids (16-bit up to 65535 classes)
 * and k renormalised probabilities (float32), 6k bytes, plus its record as columns (12 bytes); a
 * 1.28M-image, 1000-class set with k = 5 holds 54 MB, not the 5 GB of dense rows. A dense set (full
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
  /**
   * Top-k only: the classes of `probs` [images, k], 16-bit when numClasses <= 65535 (2k bytes per
   * image, not 4k); a value outside [0, numClasses) (-1, or 65535) for an image that was not read.
   */
  classes?: Int32Array | Uint16Array | null;
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
    if (c >= 0 && c < C) out[c] = pl.probs[t]!;
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

/**
 * One shard file read whole into `scratch` (grown as needed, reused from shard to shard): its
 * header, typed views of its tensors, and its hash (fileHash's). Reading through libtorch and
 * copying out, as loadSafetensors + toTypedArray do, left a few hundred KB of garbage per shard,
 * which V8 collects late: RSS grew with the number of shards, not with what is kept.
 */
class ShardReader {
  private scratch = new ArrayBuffer(0);

  read(file: string): { views: Map<string, ArrayBufferView>; metadata: Readonly<Record<string, string>>; hash: string } {
    const fd = openSync(file, 'r');
    let bytes: Uint8Array;
    try {
      const size = fstatSync(fd).size;
      if (this.scratch.byteLength < size) this.scratch = new ArrayBuffer(Math.max(size, this.scratch.byteLength * 2));
      bytes = new Uint8Array(this.scratch, 0, size);
      for (let off = 0; off < size;) {
        const got = readSync(fd, bytes, off, size - off, off);
        if (got === 0) throw new SafetensorsError(file, `unexpected end of file at byte ${off}`);
        off += got;
      }
    } finally {
      closeSync(fd);
    }
    const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16);
    if (bytes.byteLength < 8) throw new SafetensorsError(file, `file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
    const headerLen = Number(Buffer.from(bytes.buffer, 0, 8).readBigUInt64LE(0));
    if (!(headerLen <= MAX_HEADER_BYTES && 8 + headerLen <= bytes.byteLength))
      throw new SafetensorsError(file, `header length ${headerLen} runs past the end of the file (${bytes.byteLength} bytes)`);
    const json = Buffer.from(bytes.buffer, 8, headerLen).toString('utf8');
    const header = parseHeaderJson(file, json, bytes.byteLength - 8 - headerLen, 8 + headerLen);
    const views = new Map<string, ArrayBufferView>();
    for (const [name, e] of header.entries) {
      const type = VIEW_TYPES[e.dtype as keyof typeof VIEW_TYPES];
      if (!type) continue; // not a tensor a shard has: checked by name below
      const begin = header.dataStart + e.dataOffsets[0];
      const length = (e.dataOffsets[1] - e.dataOffsets[0]) / type.BYTES_PER_ELEMENT;
      // The writer aligns the data; a file that does not is copied rather than refused.
      views.set(
        name,
        begin % type.BYTES_PER_ELEMENT === 0
          ? new type(this.scratch, begin, length)
          : new type(this.scratch.slice(begin, begin + length * type.BYTES_PER_ELEMENT)),
      );
    }
    return { views, metadata: header.metadata, hash };
  }
}

const VIEW_TYPES = { F32: Float32Array, I64: BigInt64Array } as const;

/**
 * Element i of an int64 array as a number, from its two 32-bit halves: reading a BigInt64Array
 * makes a heap BigInt per element (millions per set), garbage that grows V8's young generation.
 */
function int64Reader(a: BigInt64Array): (i: number) => number {
  const halves = new Int32Array(a.buffer, a.byteOffset, a.length * 2);
  return (i) => {
    const lo = halves[2 * i]!;
    const hi = halves[2 * i + 1]!;
    return hi === 0 && lo >= 0 ? lo : Number(a[i]!); // little-endian; a big or negative value the slow way
  };
}

function shardTensor<T extends Float32Array | BigInt64Array>(
  views: Map<string, ArrayBufferView>,
  name: string,
  type: new (n: number) => T,
  file: string,
): T | undefined {
  const v = views.get(name);
  if (v === undefined) return undefined;
  if (!(v instanceof type)) throw new Error(`${file}: ${name} is not ${type === (Float32Array as unknown) ? 'float32' : 'int64'}`);
  return v;
}

/** What the shards hold, in memory (sparse for top-k shards). */
export type ShardSetContent = Omit<ReadPseudoLabels, 'fingerprint'>;

/** Read the shards into memory (every one must be there); top-k shards stay sparse. */
export function readPseudoLabelShards(dir: string, o: { images: number; numClasses: number; shardSize: number }): ShardSetContent {
  return readShards(dir, o).content;
}

/** The shards' content and the set's fingerprint (of the shards' bytes as read). */
function readShards(
  dir: string,
  o: { images: number; numClasses: number; shardSize: number },
): { content: ShardSetContent; fingerprint: string } {
  const n = o.images;
  const C = o.numClasses;
  const failed: PseudoLabels['failed'] = [];
  // Allocated at the first shard, which says dense or top-k (and k).
  let topk = -1;
  let store = new Float32Array(0);
  let classes: Int32Array | Uint16Array | null = null;
  // The record columns, indexed by id while reading, compacted in place at the end (no second copy).
  const seen = new Uint8Array(n);
  const recordIds = new Int32Array(n);
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
      // Unread images keep a class no row has: 65535 (>= C) in 16 bits, -1 in 32.
      if (k) classes = C <= 0xffff ? new Uint16Array(n * k).fill(0xffff) : new Int32Array(n * k).fill(-1);
    } else if (topk !== k)
      throw new Error(`${file}: ${k ? `top-${k}` : 'dense'} probabilities, the set's other shards ${topk ? `top-${topk}` : 'dense'}`);
  };
  const reader = new ShardReader();
  const hashes: string[] = [];
  for (let s = 0; s < shardCount(n, o.shardSize); s++) {
    const file = shardFile(dir, s);
    if (!existsSync(file)) throw new Error(`pseudo-label shard ${file} is missing: run pseudo-label again to complete it`);
    const { views, metadata, hash } = reader.read(file);
    hashes.push(hash);
    {
      const ids = shardTensor(views, 'ids', BigInt64Array, file);
      if (!ids) throw new Error(`${file} is not a pseudo-label shard (no ids)`);
      const idAt = int64Reader(ids);
      const inRange = (at: number): number => {
        const i = idAt(at);
        if (!(i >= 0 && i < n)) throw new Error(`${file}: image id ${i} outside the ${n} unlabeled images`);
        return i;
      };
      const probs0 = shardTensor(views, 'probs', Float32Array, file);
      if (probs0) {
        if (probs0.length !== ids.length * C) throw new Error(`${file}: ${probs0.length / Math.max(1, ids.length)} classes, expected ${C}`);
        layout(0, file);
        const probs = probs0;
        for (let i = 0; i < ids.length; i++) {
          const j = inRange(i);
          const row = store.subarray(j * C, (j + 1) * C);
          row.set(probs.subarray(i * C, (i + 1) * C));
          const best = argmax(row);
          labels[j] = best;
          confidences[j] = row[best]!;
          seen[j] = 1;
        }
      } else {
        // Top-k shard: kept as it is; the confidence is the raw top-1 probability, not the
        // renormalised one, and the label the argmax of the row the kept classes stand for.
        const probs = shardTensor(views, 'topk_probs', Float32Array, file);
        const cls = shardTensor(views, 'topk_classes', BigInt64Array, file);
        const p1 = shardTensor(views, 'top1_prob', Float32Array, file);
        if (!probs || !cls || !p1) throw new Error(`${file} is not a pseudo-label shard (no probs or topk_probs)`);
        const k = probs.length / Math.max(1, ids.length);
        if (ids.length && !(Number.isInteger(k) && k >= 1 && cls.length === probs.length && p1.length === ids.length))
          throw new Error(`${file}: topk_probs, topk_classes and top1_prob do not match its ${ids.length} ids`);
        if (ids.length) layout(k, file);
        const classAt = int64Reader(cls);
        for (let i = 0; i < ids.length; i++) {
          const j = inRange(i);
          for (let t = 0; t < k; t++) {
            const c = classAt(i * k + t);
            if (!(c >= 0 && c < C)) throw new Error(`${file}: class ${c} outside ${C}`);
            classes![j * k + t] = c;
            store[j * k + t] = probs[i * k + t]!;
            scratch[c] = probs[i * k + t]!;
          }
          labels[j] = argmax(scratch);
          confidences[j] = p1[i]!;
          for (let t = 0; t < k; t++) scratch[classes![j * k + t]!] = 0;
          seen[j] = 1;
        }
      }
      failed.push(...(JSON.parse(metadata['errors'] ?? '[]') as { id: number; message: string }[]));
    }
  }
  // The records: every image read, in id order (r <= id, so compacting in place is safe).
  let m = 0;
  for (let id = 0; id < n; id++) {
    if (!seen[id]) continue;
    recordIds[m] = id;
    labels[m] = labels[id]!;
    confidences[m++] = confidences[id]!;
  }
  const columns = { ids: recordIds.subarray(0, m), labels: labels.subarray(0, m), confidences: confidences.subarray(0, m) };
  // No shard held an image (all unreadable): rows of zeros, kept sparse rather than n x C.
  if (topk === -1) layout(1, dir);
  // The fingerprint finishPseudoLabelDir records: of the shards' file hashes, in order.
  return {
    content: withRecords({ numClasses: C, images: n, topk, probs: store, classes, columns, failed }),
    fingerprint: contentHash(hashes),
  };
}

/**
 * index.json as writeArtifact writes it (the same bytes: JSON with a 2-space indent), its records
 * streamed from the columns in pieces: the list as objects and as one string would be ~500 bytes
 * per image at once (600 MB for 1.28M images).
 */
function writeIndex(path: string, head: Omit<PseudoLabelIndex, 'records'>, c: RecordColumns): void {
  const mark = '\u0000records\u0000';
  const text = `${JSON.stringify({ format: formatTag('pseudo-label-index'), ...head, records: mark, environment: environment() }, null, 2)}\n`;
  const parts = text.split(JSON.stringify(mark));
  // The mark in a message of `failed` (never written by us): the plain way, all in memory.
  if (parts.length !== 2) return writeArtifact(path, 'pseudo-label-index', { ...head, records: recordList(c) });
  const [before, after] = parts as [string, string];
  const n = c.ids.length;
  const out = new AtomicFileStream(path);
  try {
    out.write(before);
    if (n === 0) out.write('[]');
    for (let lo = 0; lo < n; lo += 4096) {
      const piece: string[] = [];
      for (let i = lo; i < Math.min(n, lo + 4096); i++)
        piece.push(
          `${i === 0 ? '[\n' : ',\n'}    {\n      "id": ${c.ids[i]},\n      "label": ${c.labels[i]},\n      "confidence": ${JSON.stringify(c.confidences[i])}\n    }`,
        );
      out.write(piece.join(''));
    }
    if (n > 0) out.write('\n  ]');
    out.write(after);
    out.commit();
  } finally {
    out.abort();
  }
}

/** Once every shard is written: read them back, fingerprint them, and write index.json (last). */
export function finishPseudoLabelDir(dir: string): ReadPseudoLabels {
  const m = readArtifact<PseudoLabelManifest>(join(dir, 'manifest.json'), 'pseudo-label-manifest', REDO);
  const { content, fingerprint } = readShards(dir, m);
  writeIndex(
    join(dir, 'index.json'),
    {
      images: m.images,
      numClasses: m.numClasses,
      shardSize: m.shardSize,
      topk: m.topk,
      teacher: m.teacher,
      fingerprint,
      labeled: content.columns.ids.length,
      failed: content.failed,
    },
    content.columns,
  );
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
  const { content, fingerprint } = readShards(dir, m);
  return withRecords({ ...content, fingerprint });
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
