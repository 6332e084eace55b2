// Spread over seeds: the mean and the sample standard deviation (n − 1) of a figure, and the same of
// paired, same-seed differences (a gain, a noise margin), which cancel the seed's own luck (its
// labeled images, its initialisation) that an unpaired comparison of two means would keep.

/** Mean ± sample sd over `n` values; sd is null with fewer than two values. */
export interface Spread {
  readonly mean: number;
  readonly sd: number | null;
  readonly n: number;
  readonly min: number;
  readonly max: number;
}

export function spread(values: readonly number[]): Spread {
  const n = values.length;
  if (n === 0) throw new RangeError('spread: no values');
  for (const v of values) if (!Number.isFinite(v)) throw new RangeError(`spread: not a finite number: ${v}`);
  const mean = values.reduce((a, v) => a + v, 0) / n;
  const sd = n < 2 ? null : Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  return { mean, sd, n, min: Math.min(...values), max: Math.max(...values) };
}

/** Mean ± sd of the per-seed differences a[i] − b[i] (the same seed on both sides). */
export function pairedSpread(a: readonly number[], b: readonly number[]): Spread {
  if (a.length !== b.length) throw new RangeError(`pairedSpread: ${a.length} values paired with ${b.length}`);
  return spread(a.map((v, i) => v - b[i]!));
}

/**
 * The fraction of the labeled-data gap a student closes: (student − teacher) / (oracle − teacher).
 * Undefined (null) when the oracle does not beat the teacher: there is no gap to close.
 */
export function gapClosed(student: number, teacher: number, oracle: number): number | null {
  const gap = oracle - teacher;
  return gap > 0 ? (student - teacher) / gap : null;
}

/** `77.93 ± 0.41` (values are fractions; shown in percent or points), or the bare mean for one value. */
export function formatSpread(s: Spread, o: { scale?: number; digits?: number; unit?: string; sign?: boolean } = {}): string {
  const k = o.scale ?? 100;
  const d = o.digits ?? 2;
  const m = s.mean * k;
  const mean = `${o.sign && m >= 0 ? '+' : ''}${m.toFixed(d)}`;
  const unit = o.unit ?? '';
  return s.sd === null ? `${mean}${unit} (n = 1)` : `${mean} ± ${(s.sd * k).toFixed(d)}${unit}`;
}
