// A confusion matrix of a model on its test set (counts[true][predicted], in the labeled classes'
// indices) and what the report reads from it: per-class accuracy (recall) and the matrix itself.
// Tallied from the evaluation's logits, so its diagonal sums to the top-1 count.

export interface Confusion {
  /** counts[t][p]: test images of true class t predicted as p. */
  readonly counts: readonly (readonly number[])[];
}

export function emptyConfusion(numClasses: number): number[][] {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new RangeError(`numClasses must be a positive integer, got ${numClasses}`);
  return Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
}

/** Add a batch of row-major logits [B, C] with their labels (argmax; ties go to the lower class, as topk does). */
export function addLogits(counts: number[][], logits: ArrayLike<number>, labels: ArrayLike<number>): void {
  const C = counts.length;
  const B = labels.length;
  if (logits.length !== B * C) throw new RangeError(`addLogits: ${logits.length} logits for ${B} labels of ${C} classes`);
  for (let i = 0; i < B; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (logits[i * C + c]! > logits[i * C + best]!) best = c;
    const t = labels[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= C) throw new RangeError(`addLogits: label ${t} outside 0..${C - 1}`);
    counts[t]![best]!++;
  }
}

/** Accuracy of each true class (diagonal / row sum); null for a class without test images. */
export function perClassAccuracy(c: Confusion): (number | null)[] {
  return c.counts.map((row, t) => {
    const n = row.reduce((a, v) => a + v, 0);
    return n ? row[t]! / n : null;
  });
}

/** Top-1 from the matrix: the diagonal over all images. */
export function confusionTop1(c: Confusion): number {
  let right = 0;
  let n = 0;
  c.counts.forEach((row, t) => {
    right += row[t]!;
    for (const v of row) n += v;
  });
  return n ? right / n : 0;
}

/** Element-wise sum of matrices of the same shape (the seeds of an experiment). */
export function sumConfusions(cs: readonly Confusion[]): number[][] {
  if (cs.length === 0) throw new RangeError('sumConfusions: no matrices');
  const C = cs[0]!.counts.length;
  const out = emptyConfusion(C);
  for (const c of cs) {
    if (c.counts.length !== C) throw new RangeError(`sumConfusions: a ${c.counts.length}-class matrix beside a ${C}-class one`);
    c.counts.forEach((row, t) => row.forEach((v, p) => (out[t]![p]! += v)));
  }
  return out;
}
