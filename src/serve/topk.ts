// Top-k classes with names, from a model's logits: the one definition `predict` and `serve` share,
// so the server answers exactly what the command prints for the same image and model.
import { IMAGENET_CLASSES, softmaxRows, topkRows, type InferenceArray, type InferenceModel } from '../models/index.js';

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
