// Assertions over tensors, and the finite-difference gradient check used by the engine tests.
import assert from 'node:assert/strict';
import { fromTypedArray, grad, liveTensorCount, scope, type Tensor } from '../../src/torch/index.js';

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, `length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function assertClose(
  actual: Tensor | ArrayLike<number>,
  expected: Tensor | ArrayLike<number> | number[],
  atol: number,
  what = 'tensor',
): number {
  const a = 'h' in (actual as object) ? (actual as Tensor).toArray() : Array.from(actual as ArrayLike<number>);
  const e = 'h' in (expected as object) ? (expected as Tensor).toArray() : Array.from(expected as ArrayLike<number>);
  if ('h' in (actual as object) && 'h' in (expected as object)) {
    assert.deepEqual([...(actual as Tensor).shape], [...(expected as Tensor).shape], `${what}: shape`);
  }
  const d = maxAbsDiff(a, e);
  assert.ok(d <= atol, `${what}: max |diff| ${d} > atol ${atol}`);
  return d;
}

/** Runs fn and asserts the live native tensor count is back where it started. */
export async function assertNoLeak(fn: () => unknown | Promise<unknown>): Promise<void> {
  const before = liveTensorCount();
  await fn();
  assert.equal(liveTensorCount(), before, 'live tensor count did not return to its start');
}

/**
 * Compares autograd's gradient of `f` (a scalar function of the inputs) with central finite
 * differences in float64. Inputs are given as float64 arrays with shapes.
 */
export function gradcheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: { data: number[]; shape: number[] }[],
  opts: { eps?: number; atol?: number; rtol?: number; what?: string } = {},
): void {
  const eps = opts.eps ?? 1e-6;
  const atol = opts.atol ?? 1e-6;
  const rtol = opts.rtol ?? 1e-5;
  scope(() => {
    const make = (datas: Float64Array[], withGrad: boolean): Tensor[] =>
      datas.map((d, i) => fromTypedArray(d, inputs[i]!.shape, { requiresGrad: withGrad }));
    const base = inputs.map((x) => Float64Array.from(x.data));
    const xs = make(base, true);
    const out = f(...xs);
    assert.equal(out.numel(), 1, 'gradcheck: f must return a scalar');
    const analytic = grad(out, xs, { allowUnused: true }).map((g, i) => (g ? g.toArray() : new Array<number>(base[i]!.length).fill(0)));
    const evalAt = (datas: Float64Array[]): number => scope(() => f(...make(datas, false)).item());
    for (let i = 0; i < base.length; i++) {
      for (let j = 0; j < base[i]!.length; j++) {
        const plus = base.map((b) => Float64Array.from(b));
        const minus = base.map((b) => Float64Array.from(b));
        plus[i]![j]! += eps;
        minus[i]![j]! -= eps;
        const numeric = (evalAt(plus) - evalAt(minus)) / (2 * eps);
        const a = analytic[i]![j]!;
        assert.ok(
          Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric),
          `${opts.what ?? 'gradcheck'}: input ${i} element ${j}: autograd ${a} vs finite difference ${numeric}`,
        );
      }
    }
  });
}

/** Deterministic pseudo-random float64 data in [-1, 1) for test inputs (no engine involved). */
export function seeded(n: number, seed = 1): number[] {
  let s = seed >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out.push((s / 4294967296) * 2 - 1);
  }
  return out;
}
