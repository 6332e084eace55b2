// Plain-JS post-processing of an InferenceModel's [N, C] outputs (logits), so the callers of the
// interface need no tensor library whatever the backend.
import { IMAGENET_CLASSES } from './imagenet_classes.js';
import type { InferenceArray, InferenceModel } from './inference.js';

function rowsOf(x: InferenceArray, what: string): [number, number] {
  if (x.shape.length !== 2) throw new RangeError(`${what}: expected a [N, C] result, got shape [${x.shape.join(', ')}]`);
  const [n, c] = x.shape as [number, number];
  if (x.data.length !== n * c) throw new RangeError(`${what}: shape [${n}, ${c}] does not match ${x.data.length} values`);
  return [n, c];
}

/**
 * Softmax over each row of a [N, C] result. Accumulates in float64 (torch's float32 kernel agrees
 * to about 1 ulp of float32) and returns float32, subtracting the row maximum so large logits do
 * not overflow.
 */
export function softmaxRows(x: InferenceArray): InferenceArray {
  const [n, c] = rowsOf(x, 'softmaxRows');
  const out = new Float32Array(n * c);
  const row = new Float64Array(c);
  for (let i = 0; i < n; i++) {
    const o = i * c;
    let max = -Infinity;
    for (let j = 0; j < c; j++) max = Math.max(max, x.data[o + j]!);
    let sum = 0;
    for (let j = 0; j < c; j++) {
      const e = Math.exp(x.data[o + j]! - max);
      row[j] = e;
      sum += e;
    }
    for (let j = 0; j < c; j++) out[o + j] = row[j]! / sum;
  }
  return { data: out, shape: [n, c] };
}

export interface TopkRows {
  /** [N, k] row-major: the k largest values of each row, largest first. */
  readonly values: Float32Array;
  /** [N, k] row-major: their column indices. */
  readonly indices: Int32Array;
  readonly shape: [number, number];
}

/**
 * The k largest entries of each row of a [N, C] result, largest first; equal values keep column
 * order, and NaN ranks above every number (as torch.topk does). k is capped at C.
 */
export function topkRows(x: InferenceArray, k: number): TopkRows {
  const [n, c] = rowsOf(x, 'topkRows');
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`topkRows: k must be a positive integer, got ${k}`);
  const kk = Math.min(k, c);
  const values = new Float32Array(n * kk);
  const indices = new Int32Array(n * kk);
  const order = Array.from({ length: c }, (_, j) => j);
  for (let i = 0; i < n; i++) {
    const o = i * c;
    const v = (j: number): number => x.data[o + j]!;
    for (let j = 0; j < c; j++) order[j] = j;
    order.sort((a, b) => {
      const va = v(a);
      const vb = v(b);
      const na = Number.isNaN(va);
      const nb = Number.isNaN(vb);
      if (na || nb) return na && nb ? a - b : na ? -1 : 1;
      return vb - va || a - b;
    });
    for (let j = 0; j < kk; j++) {
      values[i * kk + j] = v(order[j]!);
      indices[i * kk + j] = order[j]!;
    }
  }
  return { values, indices, shape: [n, kk] };
}

// Top-k classes with names: the one definition `predict` and `serve` share, so the server answers
// exactly what the command prints for the same image and model.

export interface TopkEntry {
  index: number;
  /** The class name, or null when the model's classes have no names (no --class-map, no label_names, numClasses ≠ 1000). */
  label: string | null;
  prob: number;
}

/** A --class-map's names, else the checkpoint's own (label_names), else ImageNet's for a 1000-class head; null: indices only. */
export function classNames(
  model: Pick<InferenceModel, 'numClasses' | 'labelNames'>,
  mapped: readonly string[] | null,
): readonly string[] | null {
  return mapped ?? model.labelNames ?? (model.numClasses === 1000 ? IMAGENET_CLASSES : null);
}

/** Each row of [N, C] logits as its top-k classes of the softmax, most probable first (k is capped at C). */
export function topkEntries(logits: InferenceArray, k: number, names: readonly string[] | null): TopkEntry[][] {
  const [n, c] = logits.shape as [number, number];
  const kk = Math.min(k, c);
  const { values: probs, indices } = topkRows(softmaxRows(logits), kk);
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: kk }, (_, j): TopkEntry => {
      const index = indices[i * kk + j]!;
      return { index, label: names ? names[index]! : null, prob: probs[i * kk + j]! };
    }),
  );
}
