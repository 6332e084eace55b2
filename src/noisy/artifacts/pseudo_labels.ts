// A pseudo-label set on disk: the folder `pseudo-label` and `run` both write, and `filter`,
// `student`, `evaluate` and `report` read.
//   manifest.json   what made the shards (teacher weights, images, settings): a rerun into the same
//                   folder with another teacher or setting is refused rather than mixed
//   shard-NNNNN.safetensors   ids [n] int64, and either probs [n, C] or top-k: topk_probs [n, k]
//                   (renormalised), topk_classes [n, k] int64, top1_prob [n] (raw, for filtering);
//                   metadata `errors`: the images of the shard that could not be read
//   index.json      written last, when every shard is there: counts, the records (id, argmax,
//                   confidence), the unreadable images, and the set's fingerprint (of its shards)
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fromTypedArray, loadSafetensors, saveSafetensors, scope } from '../../torch/index.js';
import type { DataConfig } from '../../data/index.js';
import type { TargetSource } from '../../train/index.js';
import { contentHash, fileHash } from '../../util/hash.js';
import type { PseudoLabelRecord } from '../filter.js';
import { readArtifact, writeArtifact } from './format.js';

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

export interface PseudoLabels {
  /** Teacher probabilities per unlabeled image (row = image id), [U, C] row-major. */
  probs: Float32Array;
  numClasses: number;
  records: PseudoLabelRecord[];
  /** Ids that could not be read (corrupt files), reported and skipped. */
  failed: { id: number; message: string }[];
  /** The set's fingerprint (index.json). */
  fingerprint: string;
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

/** Read the shards into memory (every one must be there). */
export function readPseudoLabelShards(dir: string, o: { images: number; numClasses: number; shardSize: number }) {
  const n = o.images;
  const C = o.numClasses;
  const failed: PseudoLabels['failed'] = [];
  const all = new Float32Array(n * C);
  const seen = new Uint8Array(n);
  const rawTop1 = new Map<number, number>();
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
  return { probs: all, records, failed };
}

/** Once every shard is written: read them back, fingerprint them, and write index.json (last). */
export function finishPseudoLabelDir(dir: string): PseudoLabels {
  const m = readArtifact<PseudoLabelManifest>(join(dir, 'manifest.json'), 'pseudo-label-manifest', REDO);
  const { probs, records, failed } = readPseudoLabelShards(dir, m);
  const fingerprint = contentHash(Array.from({ length: shardCount(m.images, m.shardSize) }, (_, s) => fileHash(shardFile(dir, s))));
  const index: PseudoLabelIndex = {
    images: m.images,
    numClasses: m.numClasses,
    shardSize: m.shardSize,
    topk: m.topk,
    teacher: m.teacher,
    fingerprint,
    labeled: records.length,
    failed,
    records,
  };
  writeArtifact(join(dir, 'index.json'), 'pseudo-label-index', index);
  return { probs, numClasses: m.numClasses, records, failed, fingerprint };
}

/** The index of a finished set (counts, records, fingerprint), without the probabilities. */
export function readPseudoLabelIndex(dir: string): PseudoLabelIndex {
  const f = join(dir, 'index.json');
  if (!existsSync(f)) {
    if (existsSync(join(dir, 'manifest.json')) || existsSync(shardFile(dir, 0)))
      throw new Error(`${dir}: the pseudo-labels are not finished (no index.json); run pseudo-label again to complete them`);
    throw new Error(`${dir} is not a pseudo-label folder (no index.json)`);
  }
  return readArtifact<PseudoLabelIndex>(f, 'pseudo-label-index', REDO);
}

/** A finished set with its probabilities. */
export function readPseudoLabels(dir: string): PseudoLabels {
  const index = readPseudoLabelIndex(dir);
  const { probs, records, failed } = readPseudoLabelShards(dir, index);
  return { probs, numClasses: index.numClasses, records, failed, fingerprint: index.fingerprint };
}

/** The set as the trainer's target source: image id → its probability row and argmax (the records' label). */
export function pseudoLabelTargets(pl: PseudoLabels): TargetSource {
  const C = pl.numClasses;
  const labels = new Int32Array(pl.probs.length / C).fill(-1);
  for (const r of pl.records) labels[r.id] = r.label;
  return {
    numClasses: C,
    row: (id, out) => out.set(pl.probs.subarray(id * C, (id + 1) * C)),
    label: (id) => {
      const l = labels[id]!;
      if (l < 0) throw new RangeError(`image ${id} has no pseudo-label (unreadable, or outside the set)`);
      return l;
    },
  };
}
