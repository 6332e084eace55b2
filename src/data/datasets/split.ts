// Deterministic labeled/unlabeled split: N samples per class chosen by seed (each class shuffled by
// its own Rng stream, so adding a class does not change the others' picks); everything else,
// including already-unlabeled samples, is the unlabeled part. Indices come back sorted.
import { Rng } from '../rng.js';
import { UNLABELED } from './dataset.js';

export interface LabeledSplit {
  readonly labeled: Int32Array;
  readonly unlabeled: Int32Array;
  /** Labeled count per class (less than N when a class is smaller). */
  readonly perClass: ReadonlyMap<number, number>;
}

export function labeledSplit(
  labels: ArrayLike<number> | { readonly length: number; label(i: number): number },
  perClass: number,
  seed: number,
): LabeledSplit {
  if (!Number.isInteger(perClass) || perClass < 0) throw new RangeError(`perClass must be a non-negative integer, got ${perClass}`);
  const get =
    'label' in labels && typeof labels.label === 'function'
      ? (i: number) => labels.label(i)
      : (i: number) => (labels as ArrayLike<number>)[i]!;
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const l = get(i);
    if (l === UNLABELED) continue;
    let arr = byClass.get(l);
    if (!arr) byClass.set(l, (arr = []));
    arr.push(i);
  }
  const isLabeled = new Uint8Array(labels.length);
  const counts = new Map<number, number>();
  for (const [cls, idx] of [...byClass.entries()].sort((a, b) => a[0] - b[0])) {
    Rng.fromKeys(seed, 0x5e11, cls).shuffle(idx);
    const k = Math.min(perClass, idx.length);
    for (let j = 0; j < k; j++) isLabeled[idx[j]!] = 1;
    counts.set(cls, k);
  }
  const labeled: number[] = [];
  const unlabeled: number[] = [];
  for (let i = 0; i < labels.length; i++) (isLabeled[i] ? labeled : unlabeled).push(i);
  return { labeled: Int32Array.from(labeled), unlabeled: Int32Array.from(unlabeled), perClass: counts };
}
