// Tensor factories: from JS data, constants, ranges, and random draws.
import { native } from './native.js';
import { aten } from './ops.js';
import { Tensor, wrap, type Scalar } from './tensor.js';
import { DTYPE_BYTES, DTYPE_CODE, dtypeOfTypedArray, isIntegral, type AnyTypedArray, type DType } from './dtype.js';
import { ShapeError, DTypeError } from './errors.js';
import { DeviceError, parseDevice, type Device } from './device.js';
import type { Generator } from './random.js';

export interface FactoryOptions {
  dtype?: DType;
  requiresGrad?: boolean;
  /** Where to create it: 'cpu' (default), 'cuda', 'cuda:1', ... (checked by parseDevice). */
  device?: Device;
}

/** The device argument of a factory op: null (libtorch's default, the CPU) or a checked device. */
const dev = (opts: FactoryOptions): Device | null => (opts.device === undefined ? null : parseDevice(opts.device));

/** Tensors built from JS memory start on the CPU; this moves one to the requested device. */
function onDevice(t: Tensor, opts: FactoryOptions): Tensor {
  const device = dev(opts);
  if (device === null || device === 'cpu') return t;
  try {
    return t.to(device);
  } finally {
    t.dispose();
  }
}

/** Our generators are CPU generators: a draw on another device cannot use one. */
function checkGenerator(opts: RandomOptions, what: string): void {
  if (opts.generator && dev(opts) !== null && dev(opts) !== 'cpu') {
    throw new DeviceError(`${what}: a Generator draws on the CPU; draw on 'cpu' and move with .to('${opts.device}'), or omit generator`);
  }
}

function finish(t: Tensor, opts: FactoryOptions): Tensor {
  if (opts.requiresGrad) {
    try {
      t.requiresGrad = true;
    } catch (e) {
      t.dispose(); // libtorch refuses it for integer dtypes: the tensor is ours to free, not the GC's
      throw e;
    }
  }
  return t;
}

function checkShape(shape: readonly number[], what: string): void {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ShapeError(`${what}: invalid dimension ${d} in shape [${shape.join(', ')}]`);
  }
}

/**
 * A tensor over a typed array's data. Copies by default; `copy: false` shares the array's memory
 * (writes on either side are seen by the other) and keeps the array alive while libtorch uses it.
 */
export function fromTypedArray(data: AnyTypedArray, shape?: readonly number[], opts: FactoryOptions & { copy?: boolean } = {}): Tensor {
  const dtype = opts.dtype ?? dtypeOfTypedArray(data);
  const s = shape ?? [data.byteLength / DTYPE_BYTES[dtype]];
  checkShape(s, 'fromTypedArray');
  if (data.byteLength % DTYPE_BYTES[dtype] !== 0)
    throw new DTypeError(`fromTypedArray: ${data.byteLength} bytes is not a whole number of ${dtype}`);
  return finish(onDevice(wrap(native.fromBuffer(data, s, DTYPE_CODE[dtype], opts.copy ?? true)), opts), opts);
}

type Nested = number | boolean | bigint | readonly Nested[];

function inferShape(data: Nested): number[] {
  const shape: number[] = [];
  let cur: Nested = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = (cur as readonly Nested[])[0] as Nested;
    if (cur === undefined) break;
  }
  return shape;
}

/**
 * torch.tensor: from a number, boolean, bigint or nested arrays of them. The dtype is float32 for
 * numbers (like torch's default dtype), int64 for bigints, bool for booleans, unless given.
 */
export function tensor(data: Nested, opts: FactoryOptions = {}): Tensor {
  const shape = inferShape(data);
  const flat: (number | boolean | bigint)[] = [];
  const walk = (v: Nested, d: number): void => {
    if (Array.isArray(v)) {
      if (v.length !== shape[d])
        throw new ShapeError(`tensor(): ragged nested array at depth ${d} (expected ${shape[d]} elements, got ${v.length})`);
      for (const e of v as readonly Nested[]) walk(e, d + 1);
    } else {
      if (d !== shape.length) throw new ShapeError(`tensor(): ragged nested array at depth ${d}`);
      flat.push(v as number | boolean | bigint);
    }
  };
  walk(data, 0);
  const first = flat[0];
  const dtype: DType = opts.dtype ?? (typeof first === 'bigint' ? 'int64' : typeof first === 'boolean' ? 'bool' : 'float32');
  return finish(onDevice(wrap(native.fromBuffer(packFlat(flat, dtype), shape, DTYPE_CODE[dtype])), opts), opts);
}

function packFlat(flat: readonly (number | boolean | bigint)[], dtype: DType): AnyTypedArray {
  const num = (v: number | boolean | bigint): number => (typeof v === 'bigint' ? Number(v) : Number(v));
  switch (dtype) {
    case 'float32':
      return Float32Array.from(flat, num);
    case 'float64':
      return Float64Array.from(flat, num);
    case 'int64':
      return BigInt64Array.from(flat, (v) => (typeof v === 'bigint' ? v : BigInt(Math.trunc(Number(v)))));
    case 'int32':
      return Int32Array.from(flat, num);
    case 'int16':
      return Int16Array.from(flat, num);
    case 'int8':
      return Int8Array.from(flat, num);
    case 'uint8':
      return Uint8Array.from(flat, num);
    case 'bool':
      return Uint8Array.from(flat, (v) => (v ? 1 : 0));
    default: {
      // float16/bfloat16: build in float32 and convert in libtorch.
      throw new DTypeError(`tensor(): build ${dtype} tensors with tensor(data).to('${dtype}')`);
    }
  }
}

const OP = {
  zeros: aten('zeros'),
  ones: aten('ones'),
  empty: aten('empty', 'memory_format'),
  full: aten('full'),
  arange: aten('arange', 'start_step'),
  linspace: aten('linspace'),
  eye: aten('eye'),
  zerosLike: aten('zeros_like'),
  onesLike: aten('ones_like'),
  fullLike: aten('full_like'),
  randG: aten('rand', 'generator'),
  randnG: aten('randn', 'generator'),
  randintG: aten('randint', 'low_generator'),
  randpermG: aten('randperm', 'generator'),
  cat: aten('cat'),
  stack: aten('stack'),
} as const;

const code = (d: DType | undefined, dflt: DType = 'float32'): number => DTYPE_CODE[d ?? dflt];

export function zeros(shape: readonly number[], opts: FactoryOptions = {}): Tensor {
  checkShape(shape, 'zeros');
  return finish(wrap(native.call(OP.zeros.get(), shape, code(opts.dtype), null, dev(opts))), opts);
}
export function ones(shape: readonly number[], opts: FactoryOptions = {}): Tensor {
  checkShape(shape, 'ones');
  return finish(wrap(native.call(OP.ones.get(), shape, code(opts.dtype), null, dev(opts))), opts);
}
/** Uninitialised memory. */
export function empty(shape: readonly number[], opts: FactoryOptions = {}): Tensor {
  checkShape(shape, 'empty');
  return finish(wrap(native.call(OP.empty.get(), shape, code(opts.dtype), null, dev(opts))), opts);
}
export function full(shape: readonly number[], value: Scalar, opts: FactoryOptions = {}): Tensor {
  checkShape(shape, 'full');
  const dtype = opts.dtype ?? (typeof value === 'boolean' ? 'bool' : 'float32');
  const v = typeof value === 'number' && Number.isInteger(value) && isIntegral(dtype) ? BigInt(value) : value;
  return finish(wrap(native.call(OP.full.get(), shape, v, DTYPE_CODE[dtype], null, dev(opts))), opts);
}
/**
 * arange(end) or arange(start, end, step). The dtype is int64 when every bound is an integer
 * (like torch.arange), else float32.
 */
export function arange(start: number, end?: number, step = 1, opts: FactoryOptions = {}): Tensor {
  const [s, e] = end === undefined ? [0, start] : [start, end];
  const allInt = Number.isInteger(s) && Number.isInteger(e) && Number.isInteger(step);
  const dtype = opts.dtype ?? (allInt ? 'int64' : 'float32');
  const asScalar = (x: number): number | bigint => (allInt ? BigInt(x) : x);
  return finish(wrap(native.call(OP.arange.get(), asScalar(s), asScalar(e), asScalar(step), DTYPE_CODE[dtype], null, dev(opts))), opts);
}
export function linspace(start: number, end: number, steps: number, opts: FactoryOptions = {}): Tensor {
  return finish(wrap(native.call(OP.linspace.get(), start, end, steps, code(opts.dtype), null, dev(opts))), opts);
}
export function eye(n: number, opts: FactoryOptions = {}): Tensor {
  return finish(wrap(native.call(OP.eye.get(), n, code(opts.dtype), null, dev(opts))), opts);
}
/** The like-factories keep the source's dtype and device unless told otherwise. */
const likeDType = (opts: FactoryOptions): number | null => (opts.dtype === undefined ? null : DTYPE_CODE[opts.dtype]);
export function zerosLike(t: Tensor, opts: FactoryOptions = {}): Tensor {
  return finish(wrap(native.call(OP.zerosLike.get(), t.h, likeDType(opts), null, dev(opts))), opts);
}
export function onesLike(t: Tensor, opts: FactoryOptions = {}): Tensor {
  return finish(wrap(native.call(OP.onesLike.get(), t.h, likeDType(opts), null, dev(opts))), opts);
}
export function fullLike(t: Tensor, value: number, opts: FactoryOptions = {}): Tensor {
  return finish(wrap(native.call(OP.fullLike.get(), t.h, value, likeDType(opts), null, dev(opts))), opts);
}

export interface RandomOptions extends FactoryOptions {
  /** Explicit generator; without one, libtorch's default generator (seeded by manualSeed). */
  generator?: Generator;
}

/** Uniform [0, 1). */
export function rand(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  checkShape(shape, 'rand');
  checkGenerator(opts, 'rand');
  return finish(wrap(native.call(OP.randG.get(), shape, opts.generator?.id ?? null, code(opts.dtype), null, dev(opts))), opts);
}
/** Standard normal. */
export function randn(shape: readonly number[], opts: RandomOptions = {}): Tensor {
  checkShape(shape, 'randn');
  checkGenerator(opts, 'randn');
  return finish(wrap(native.call(OP.randnG.get(), shape, opts.generator?.id ?? null, code(opts.dtype), null, dev(opts))), opts);
}
/** Integers uniform in [low, high), int64 by default. */
export function randint(low: number, high: number, shape: readonly number[], opts: RandomOptions = {}): Tensor {
  checkShape(shape, 'randint');
  checkGenerator(opts, 'randint');
  return finish(
    wrap(native.call(OP.randintG.get(), low, high, shape, opts.generator?.id ?? null, code(opts.dtype, 'int64'), null, dev(opts))),
    opts,
  );
}
/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, opts: RandomOptions = {}): Tensor {
  checkGenerator(opts, 'randperm');
  return finish(wrap(native.call(OP.randpermG.get(), n, opts.generator?.id ?? null, code(opts.dtype, 'int64'), null, dev(opts))), opts);
}
/** Bernoulli draws with the given probabilities (a tensor of p's). */
export function bernoulli(probs: Tensor, opts: { generator?: Generator } = {}): Tensor {
  return probs.bernoulli(undefined, opts.generator);
}

export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('cat: needs at least one tensor');
  return wrap(
    native.call(
      OP.cat.get(),
      tensors.map((t) => t.h),
      dim,
    ),
  );
}
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError('stack: needs at least one tensor');
  return wrap(
    native.call(
      OP.stack.get(),
      tensors.map((t) => t.h),
      dim,
    ),
  );
}
