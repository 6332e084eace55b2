// Pillow's resampling filters and coefficient tables (`precompute_coeffs` + `normalize_coeffs_8bpc`
// in Resample.c), shared by the JavaScript passes (resize.ts) and the native ones
// (native/image, through native_image.ts): both read the same tables, so they agree to the byte.
import type { ResampleFilter } from './resize.js';

export interface FilterDef {
  readonly fn: (x: number) => number;
  readonly support: number;
}

export const PRECISION_BITS = 22;
export const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;
// Pillow's hamming filter multiplies by float literals (0.54f, 0.46f) promoted to double.
const HAMMING_A = Math.fround(0.54);
const HAMMING_B = Math.fround(0.46);

export const FILTERS: Record<Exclude<ResampleFilter, 'nearest'>, FilterDef> = {
  box: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0) },
  bilinear: {
    support: 1.0,
    fn: (x) => {
      if (x < 0.0) x = -x;
      return x < 1.0 ? 1.0 - x : 0.0;
    },
  },
  hamming: {
    support: 1.0,
    fn: (x) => {
      if (x < 0.0) x = -x;
      if (x === 0.0) return 1.0;
      if (x >= 1.0) return 0.0;
      x = x * Math.PI;
      return (Math.sin(x) / x) * (HAMMING_A + HAMMING_B * Math.cos(x));
    },
  },
  bicubic: {
    support: 2.0,
    fn: (x) => {
      const a = -0.5;
      if (x < 0.0) x = -x;
      if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
      if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
      return 0.0;
    },
  },
  lanczos: {
    support: 3.0,
    fn: (x) => (-3.0 <= x && x < 3.0 ? sinc(x) * sinc(x / 3) : 0.0),
  },
};

function sinc(x: number): number {
  if (x === 0.0) return 1.0;
  x = x * Math.PI;
  return Math.sin(x) / x;
}

export interface Coeffs {
  readonly ksize: number;
  /** Per output index: first input index and number of taps. */
  readonly bounds: Int32Array;
  /** Fixed-point weights, ksize per output index. */
  readonly kk: Int32Array;
}

/**
 * Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`. `in0`/`in1` are float32 in Pillow.
 * `first`/`count` select output indices [first, first + count) (a crop of the output): each index's
 * row is computed from the index alone, so these rows are exactly those of the full table.
 */
export function precomputeCoeffs(
  inSize: number,
  in0: number,
  in1: number,
  outSize: number,
  filter: FilterDef,
  first = 0,
  count = outSize - first,
): Coeffs {
  if (!(first >= 0 && count >= 0 && first + count <= outSize))
    throw new RangeError(`precomputeCoeffs: rows ${first}+${count} outside 0..${outSize}`);
  const scale = Math.fround(in1 - in0) / outSize;
  const filterscale = scale < 1.0 ? 1.0 : scale;
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(count * 2);
  const kk = new Int32Array(count * ksize);
  const w = new Float64Array(ksize);
  const ss = 1.0 / filterscale;
  for (let xx = first; xx < first + count; xx++) {
    const center = in0 + (xx + 0.5) * scale;
    let ww = 0.0;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    for (let x = 0; x < xmax; x++) {
      const v = filter.fn((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    const row = xx - first;
    const base = row * ksize;
    for (let x = 0; x < xmax; x++) {
      let v = w[x]!;
      if (ww !== 0.0) v /= ww;
      kk[base + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[row * 2] = xmin;
    bounds[row * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

const COEFF_CACHE_SIZE = 32;
const coeffCache = new Map<string, Coeffs>();
const filterIds = new Map<FilterDef, number>();

/**
 * precomputeCoeffs through a small cache (most recently used first out of 32): photo collections
 * repeat a few sizes (ImageNet's 500x375 and 375x500, a camera's resolution, a data set's fixed
 * size), and the tables cost tens of microseconds of JavaScript per image, more in a cold worker.
 * The tables are shared: callers only read them.
 */
export function cachedCoeffs(
  inSize: number,
  in0: number,
  in1: number,
  outSize: number,
  filter: FilterDef,
  first = 0,
  count = outSize - first,
): Coeffs {
  let id = filterIds.get(filter);
  if (id === undefined) filterIds.set(filter, (id = filterIds.size));
  const key = `${id}:${inSize}:${in0}:${in1}:${outSize}:${first}:${count}`;
  let c = coeffCache.get(key);
  if (c) {
    coeffCache.delete(key); // re-inserted below as the most recent
  } else {
    c = precomputeCoeffs(inSize, in0, in1, outSize, filter, first, count);
    if (coeffCache.size >= COEFF_CACHE_SIZE) coeffCache.delete(coeffCache.keys().next().value!);
  }
  coeffCache.set(key, c);
  return c;
}
