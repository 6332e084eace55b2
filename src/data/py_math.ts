// Python's rounding rules, needed wherever timm/torchvision/PIL round in Python: `round(x)` rounds
// half to even (banker's rounding), unlike Math.round which rounds half up.

/** Python 3 `round(x)` for a float: nearest integer, ties to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  if (Math.abs(x - Math.trunc(x)) === 0.5) return 2 * Math.round(x / 2);
  return r;
}

/**
 * Python `round(x, ndigits)`: correctly rounded to a decimal multiple of 10^-ndigits. toFixed works
 * on the exact binary value as Python does; only exact decimal ties (which the values we use, cos and
 * sin of an angle, never hit) could round differently.
 */
export function roundDigits(x: number, ndigits: number): number {
  if (!Number.isFinite(x)) return x;
  return Number(x.toFixed(ndigits));
}

/** Python's `//` on numbers (floor division). */
export function floorDiv(a: number, b: number): number {
  return Math.floor(a / b);
}
