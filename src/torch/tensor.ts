// The Tensor: a JS object around a libtorch tensor handle, with PyTorch's method names in
// camelCase. Ops are typed here and called through the addon's generic boxed call.
import { native, type Handle } from './native.js';
import { aten } from './ops.js';
import { SCOPED, adoptIntoCurrentScope, type ScopedResource } from './scope.js';
import {
  DTYPE_CODE,
  MEMORY_FORMAT,
  dtypeFromCode,
  isDType,
  isIntegral,
  typedArrayFor,
  type DType,
  type MemoryFormat,
  type TypedArrayFor,
} from './dtype.js';
import { DTypeError, DisposedError, ShapeError, check } from './errors.js';
import { parseDevice, type Device } from './device.js';
import type { Generator } from './random.js';

// Backstop only: a tensor that was never disposed is released when its JS object is collected.
// Handles carry a generation, so releasing an already-disposed handle is a harmless no-op and
// dispose() need not unregister. Registration costs ~0.45 us (more than the op call itself), so
// tensors owned by a scope are registered only if they outlive every scope.
const finalizer = new FinalizationRegistry<Handle>((h) => {
  native.release(h);
});

export type Scalar = number | boolean;
export type DimList = number | readonly number[];

const O = {
  addT: aten('add', 'Tensor'),
  addS: aten('add', 'Scalar'),
  subT: aten('sub', 'Tensor'),
  subS: aten('sub', 'Scalar'),
  mulT: aten('mul', 'Tensor'),
  mulS: aten('mul', 'Scalar'),
  divT: aten('div', 'Tensor'),
  divS: aten('div', 'Scalar'),
  divTMode: aten('div', 'Tensor_mode'),
  divSMode: aten('div', 'Scalar_mode'),
  remT: aten('remainder', 'Tensor'),
  remS: aten('remainder', 'Scalar'),
  add_T: aten('add_', 'Tensor'),
  add_S: aten('add_', 'Scalar'),
  sub_T: aten('sub_', 'Tensor'),
  sub_S: aten('sub_', 'Scalar'),
  mul_T: aten('mul_', 'Tensor'),
  mul_S: aten('mul_', 'Scalar'),
  div_T: aten('div_', 'Tensor'),
  div_S: aten('div_', 'Scalar'),
  powTS: aten('pow', 'Tensor_Scalar'),
  powTT: aten('pow', 'Tensor_Tensor'),
  powST: aten('pow', 'Scalar'),
  clamp: aten('clamp'),
  clampT: aten('clamp', 'Tensor'),
  clamp_: aten('clamp_'),
  maximum: aten('maximum'),
  minimum: aten('minimum'),
  eqT: aten('eq', 'Tensor'),
  eqS: aten('eq', 'Scalar'),
  neT: aten('ne', 'Tensor'),
  neS: aten('ne', 'Scalar'),
  ltT: aten('lt', 'Tensor'),
  ltS: aten('lt', 'Scalar'),
  leT: aten('le', 'Tensor'),
  leS: aten('le', 'Scalar'),
  gtT: aten('gt', 'Tensor'),
  gtS: aten('gt', 'Scalar'),
  geT: aten('ge', 'Tensor'),
  geS: aten('ge', 'Scalar'),
  logicalAnd: aten('logical_and'),
  logicalOr: aten('logical_or'),
  logicalNot: aten('logical_not'),
  whereSelf: aten('where', 'self'),
  sum: aten('sum'),
  sumDim: aten('sum', 'dim_IntList'),
  mean: aten('mean'),
  meanDim: aten('mean', 'dim'),
  maxAll: aten('max'),
  maxDim: aten('max', 'dim'),
  minAll: aten('min'),
  minDim: aten('min', 'dim'),
  amax: aten('amax'),
  amin: aten('amin'),
  argmax: aten('argmax'),
  argmin: aten('argmin'),
  varDim: aten('var', 'correction'),
  stdDim: aten('std', 'correction'),
  normScalarOpt: aten('norm', 'ScalarOpt_dim'),
  logsumexp: aten('logsumexp'),
  cumsum: aten('cumsum'),
  prod: aten('prod'),
  any: aten('any'),
  all: aten('all'),
  view: aten('view'),
  reshape: aten('reshape'),
  permute: aten('permute'),
  transpose: aten('transpose', 'int'),
  contiguous: aten('contiguous'),
  unsqueeze: aten('unsqueeze'),
  squeeze: aten('squeeze'),
  squeezeDim: aten('squeeze', 'dim'),
  flatten: aten('flatten', 'using_ints'),
  expand: aten('expand'),
  repeat: aten('repeat'),
  narrow: aten('narrow'),
  select: aten('select', 'int'),
  slice: aten('slice', 'Tensor'),
  indexSelect: aten('index_select'),
  index: aten('index', 'Tensor'),
  indexPut_: aten('index_put_'),
  gather: aten('gather'),
  scatter: aten('scatter', 'src'),
  scatterValue: aten('scatter', 'value'),
  maskedFill: aten('masked_fill', 'Scalar'),
  maskedFill_: aten('masked_fill_', 'Scalar'),
  split: aten('split', 'Tensor'),
  chunk: aten('chunk'),
  unbind: aten('unbind', 'int'),
  flip: aten('flip'),
  roll: aten('roll'),
  matmul: aten('matmul'),
  mm: aten('mm'),
  bmm: aten('bmm'),
  t: aten('t'),
  softmax: aten('softmax', 'int'),
  logSoftmax: aten('log_softmax', 'int'),
  topk: aten('topk'),
  sort: aten('sort'),
  argsort: aten('argsort'),
  toDtype: aten('to', 'dtype'),
  toOptions: aten('to', 'dtype_layout'),
  clone: aten('clone'),
  detach: aten('detach'),
  detach_: aten('detach_'),
  zero_: aten('zero_'),
  fill_: aten('fill_', 'Scalar'),
  copy_: aten('copy_'),
  addcmul_: aten('addcmul_'),
  addcdiv_: aten('addcdiv_'),
  lerp_S: aten('lerp_', 'Scalar'),
  uniform_: aten('uniform_'),
  normal_: aten('normal_'),
  bernoulliP: aten('bernoulli', 'p'),
  bernoulli: aten('bernoulli'),
  isnan: aten('isnan'),
  isfinite: aten('isfinite'),
  dropout: aten('dropout'),
} as const;

const UNARY = [
  'neg',
  'abs',
  'exp',
  'log',
  'log1p',
  'sqrt',
  'rsqrt',
  'reciprocal',
  'sigmoid',
  'tanh',
  'relu',
  'silu',
  'gelu',
  'sin',
  'cos',
  'floor',
  'ceil',
  'round',
  'sign',
  'square',
] as const;
type UnaryName = (typeof UNARY)[number];
const UNARY_OPS = Object.fromEntries(UNARY.map((n) => [n, aten(n)])) as Record<UnaryName, ReturnType<typeof aten>>;
const UNARY_INPLACE = ['neg_', 'abs_', 'exp_', 'sqrt_', 'sigmoid_', 'tanh_', 'relu_', 'silu_'] as const;
type UnaryInplaceName = (typeof UNARY_INPLACE)[number];
const UNARY_INPLACE_OPS = Object.fromEntries(UNARY_INPLACE.map((n) => [n, aten(n)])) as Record<UnaryInplaceName, ReturnType<typeof aten>>;

/** Wrap a handle returned by the addon (null stays null). */
export function wrap(h: unknown): Tensor {
  if (typeof h !== 'number') throw new Error(`expected a tensor result, got ${String(h)}`);
  return new Tensor(h);
}

export function wrapMaybe(h: unknown): Tensor | null {
  return h === null || h === undefined ? null : wrap(h);
}

function dims(d: DimList): number[] {
  return typeof d === 'number' ? [d] : [...d];
}

export interface ReduceOptions {
  keepdim?: boolean;
  dtype?: DType;
}

export class Tensor implements ScopedResource, Disposable {
  /** The addon handle; -1 once disposed. */
  h: Handle;
  kept = false;
  private _shape: readonly number[] | undefined = undefined;
  private _dtype: DType | undefined = undefined;

  /** @internal Use the factories (tensor, zeros, fromTypedArray, ...) to make tensors. */
  constructor(h: Handle) {
    this.h = h;
    if (!adoptIntoCurrentScope(this)) finalizer.register(this, h);
  }

  /** @internal Leaving the last scope alive: arm the GC backstop. */
  unscoped(): void {
    if (this.h >= 0) finalizer.register(this, this.h);
  }

  // ------------------------------------------------------------------ lifetime

  dispose(): void {
    if (this.h >= 0) {
      native.release(this.h);
      this.h = -1;
    }
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  get isDisposed(): boolean {
    return this.h < 0;
  }
  /** Exclude from every scope (see keep()). */
  keep(): this {
    if (!this.kept) {
      this.kept = true;
      this.unscoped();
    }
    return this;
  }

  // ------------------------------------------------------------------ metadata

  get shape(): readonly number[] {
    return (this._shape ??= Object.freeze(native.shape(this.h)));
  }
  get dtype(): DType {
    return (this._dtype ??= dtypeFromCode(native.dtype(this.h)));
  }
  get ndim(): number {
    return this.shape.length;
  }
  dim(): number {
    return this.shape.length;
  }
  size(dim?: number): number {
    if (dim === undefined) return this.numel();
    const s = this.shape;
    const d = dim < 0 ? dim + s.length : dim;
    check(d >= 0 && d < s.length, () => `size(${dim}): tensor has ${s.length} dims`);
    return s[d]!;
  }
  numel(): number {
    let n = 1;
    for (const d of this.shape) n *= d;
    return n;
  }
  /** Where the data lives: 'cpu', 'cuda:0', ... (libtorch's spelling, always with an index for CUDA). */
  get device(): Device {
    return native.device(this.h);
  }
  strides(): number[] {
    return native.strides(this.h);
  }
  isContiguous(memoryFormat: MemoryFormat = 'contiguous'): boolean {
    const s = this.shape;
    const st = native.strides(this.h);
    const order = memoryFormat === 'channelsLast' && s.length === 4 ? [1, 3, 2, 0] : s.map((_, i) => s.length - 1 - i);
    let expected = 1;
    for (const i of order) {
      if (s[i] !== 1 && st[i] !== expected) return false;
      expected *= s[i]!;
    }
    return true;
  }

  // ------------------------------------------------------------------ autograd

  get requiresGrad(): boolean {
    return native.requiresGrad(this.h);
  }
  set requiresGrad(v: boolean) {
    native.setRequiresGrad(this.h, v);
  }
  requiresGrad_(v = true): this {
    native.setRequiresGrad(this.h, v);
    return this;
  }
  /** The accumulated gradient (a new JS tensor on the same storage each call), or null. */
  get grad(): Tensor | null {
    return wrapMaybe(native.grad(this.h));
  }
  set grad(g: Tensor | null) {
    native.setGrad(this.h, g === null ? null : g.h);
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.h);
  }
  get gradFn(): { name: string; next: (string | null)[] } | null {
    return native.gradFn(this.h);
  }
  retainGrad(): this {
    native.retainGrad(this.h);
    return this;
  }
  backward(gradient?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean; inputs?: Tensor[] } = {}): void {
    native.backward(
      [this.h],
      gradient ? [gradient.h] : null,
      opts.retainGraph ?? null,
      opts.createGraph ?? false,
      opts.inputs ? opts.inputs.map((t) => t.h) : null,
    );
  }
  /** backward() on the serial compute thread; the JS thread stays free meanwhile. */
  backwardAsync(gradient?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): Promise<void> {
    return native.backwardAsync([this.h], gradient ? [gradient.h] : null, opts.retainGraph ?? null, opts.createGraph ?? false, null);
  }
  detach(): Tensor {
    return wrap(native.call(O.detach.get(), this.h));
  }
  detach_(): this {
    native.call(O.detach_.get(), this.h);
    return this;
  }

  // ------------------------------------------------------------------ data out

  /** The single element as a number (a CUDA tensor's value is copied to the CPU). */
  item(): number {
    const v = native.item(this.h);
    return typeof v === 'boolean' ? (v ? 1 : 0) : v;
  }
  /**
   * A copy of the data in C order (int64 as BigInt64Array, float16/bfloat16 as raw Uint16Array bits).
   * A tensor on another device is copied to the CPU first.
   */
  toTypedArray(): TypedArrayFor<DType> {
    return typedArrayFor(this.dtype, native.toBuffer(this.h));
  }
  /**
   * Zero-copy view of a contiguous CPU tensor's memory (opt-in): writes through it change the tensor,
   * and it stays valid after dispose() (it holds its own reference to the storage). A CUDA tensor's
   * memory cannot be viewed from JS: it throws (use toTypedArray()).
   */
  dataView(): TypedArrayFor<DType> {
    return typedArrayFor(this.dtype, native.toExternal(this.h));
  }
  /** As a plain number array (int64 converted with Number(), lossy above 2^53). */
  toArray(): number[] {
    const a = this.toTypedArray();
    return a instanceof BigInt64Array ? Array.from(a, Number) : Array.from(a as ArrayLike<number>);
  }
  /** Nested arrays like torch's tolist(). */
  toList(): unknown {
    const flat = this.toArray();
    const shape = this.shape;
    if (shape.length === 0) return flat[0];
    let pos = 0;
    const build = (d: number): unknown[] => {
      const out: unknown[] = [];
      for (let i = 0; i < shape[d]!; i++) out.push(d === shape.length - 1 ? flat[pos++] : build(d + 1));
      return out;
    };
    return build(0);
  }
  toString(): string {
    if (this.h < 0) return 'Tensor(disposed)';
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }

  // ------------------------------------------------------------------ scalars

  /** A JS number as a libtorch Scalar: an int Scalar (BigInt) for integer values with int tensors. */
  private sc(x: Scalar): number | bigint | boolean {
    if (typeof x === 'boolean') return x;
    return Number.isInteger(x) && isIntegral(this.dtype) ? BigInt(x) : x;
  }

  // ------------------------------------------------------------------ arithmetic

  add(other: Tensor | Scalar, alpha?: Scalar): Tensor {
    const a = alpha === undefined ? undefined : this.sc(alpha);
    return other instanceof Tensor
      ? wrap(native.call(O.addT.get(), this.h, other.h, a))
      : wrap(native.call(O.addS.get(), this.h, this.sc(other), a));
  }
  sub(other: Tensor | Scalar, alpha?: Scalar): Tensor {
    const a = alpha === undefined ? undefined : this.sc(alpha);
    return other instanceof Tensor
      ? wrap(native.call(O.subT.get(), this.h, other.h, a))
      : wrap(native.call(O.subS.get(), this.h, this.sc(other), a));
  }
  mul(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor
      ? wrap(native.call(O.mulT.get(), this.h, other.h))
      : wrap(native.call(O.mulS.get(), this.h, this.sc(other)));
  }
  /** True division (always floating), or 'trunc' / 'floor' rounding like torch.div. */
  div(other: Tensor | Scalar, roundingMode?: 'trunc' | 'floor'): Tensor {
    if (roundingMode !== undefined) {
      return other instanceof Tensor
        ? wrap(native.call(O.divTMode.get(), this.h, other.h, roundingMode))
        : wrap(native.call(O.divSMode.get(), this.h, this.sc(other), roundingMode));
    }
    return other instanceof Tensor
      ? wrap(native.call(O.divT.get(), this.h, other.h))
      : wrap(native.call(O.divS.get(), this.h, this.sc(other)));
  }
  remainder(other: Tensor | Scalar): Tensor {
    return other instanceof Tensor
      ? wrap(native.call(O.remT.get(), this.h, other.h))
      : wrap(native.call(O.remS.get(), this.h, this.sc(other)));
  }
  pow(exponent: Tensor | Scalar): Tensor {
    return exponent instanceof Tensor
      ? wrap(native.call(O.powTT.get(), this.h, exponent.h))
      : wrap(native.call(O.powTS.get(), this.h, this.sc(exponent)));
  }
  /** Clamp to [min, max]; either bound may be omitted (null). */
  clamp(min: Tensor | Scalar | null, max: Tensor | Scalar | null = null): Tensor {
    if (min instanceof Tensor || max instanceof Tensor) {
      const lo = min === null ? null : min instanceof Tensor ? min.h : undefined;
      const hi = max === null ? null : max instanceof Tensor ? max.h : undefined;
      check(lo !== undefined && hi !== undefined, () => 'clamp: bounds must be both tensors (or null) or both scalars');
      return wrap(native.call(O.clampT.get(), this.h, lo, hi));
    }
    return wrap(native.call(O.clamp.get(), this.h, min === null ? null : this.sc(min), max === null ? null : this.sc(max)));
  }
  maximum(other: Tensor): Tensor {
    return wrap(native.call(O.maximum.get(), this.h, other.h));
  }
  minimum(other: Tensor): Tensor {
    return wrap(native.call(O.minimum.get(), this.h, other.h));
  }
  private unary(name: UnaryName): Tensor {
    return wrap(native.call(UNARY_OPS[name].get(), this.h));
  }
  neg(): Tensor {
    return this.unary('neg');
  }
  abs(): Tensor {
    return this.unary('abs');
  }
  exp(): Tensor {
    return this.unary('exp');
  }
  log(): Tensor {
    return this.unary('log');
  }
  log1p(): Tensor {
    return this.unary('log1p');
  }
  sqrt(): Tensor {
    return this.unary('sqrt');
  }
  rsqrt(): Tensor {
    return this.unary('rsqrt');
  }
  reciprocal(): Tensor {
    return this.unary('reciprocal');
  }
  sigmoid(): Tensor {
    return this.unary('sigmoid');
  }
  tanh(): Tensor {
    return this.unary('tanh');
  }
  relu(): Tensor {
    return this.unary('relu');
  }
  silu(): Tensor {
    return this.unary('silu');
  }
  gelu(): Tensor {
    return this.unary('gelu');
  }
  sin(): Tensor {
    return this.unary('sin');
  }
  cos(): Tensor {
    return this.unary('cos');
  }
  floor(): Tensor {
    return this.unary('floor');
  }
  ceil(): Tensor {
    return this.unary('ceil');
  }
  round(): Tensor {
    return this.unary('round');
  }
  sign(): Tensor {
    return this.unary('sign');
  }
  square(): Tensor {
    return this.unary('square');
  }

  // ------------------------------------------------------------------ in place (return this)

  add_(other: Tensor | Scalar, alpha?: Scalar): this {
    const a = alpha === undefined ? undefined : this.sc(alpha);
    if (other instanceof Tensor) native.call(O.add_T.get(), this.h, other.h, a);
    else native.call(O.add_S.get(), this.h, this.sc(other), a);
    return this;
  }
  sub_(other: Tensor | Scalar, alpha?: Scalar): this {
    const a = alpha === undefined ? undefined : this.sc(alpha);
    if (other instanceof Tensor) native.call(O.sub_T.get(), this.h, other.h, a);
    else native.call(O.sub_S.get(), this.h, this.sc(other), a);
    return this;
  }
  mul_(other: Tensor | Scalar): this {
    if (other instanceof Tensor) native.call(O.mul_T.get(), this.h, other.h);
    else native.call(O.mul_S.get(), this.h, this.sc(other));
    return this;
  }
  div_(other: Tensor | Scalar): this {
    if (other instanceof Tensor) native.call(O.div_T.get(), this.h, other.h);
    else native.call(O.div_S.get(), this.h, this.sc(other));
    return this;
  }
  clamp_(min: Scalar | null, max: Scalar | null = null): this {
    native.call(O.clamp_.get(), this.h, min === null ? null : this.sc(min), max === null ? null : this.sc(max));
    return this;
  }
  zero_(): this {
    native.call(O.zero_.get(), this.h);
    return this;
  }
  fill_(value: Scalar): this {
    native.call(O.fill_.get(), this.h, this.sc(value));
    return this;
  }
  copy_(src: Tensor): this {
    native.call(O.copy_.get(), this.h, src.h);
    return this;
  }
  /** this += value * t1 * t2 */
  addcmul_(t1: Tensor, t2: Tensor, value: Scalar = 1): this {
    native.call(O.addcmul_.get(), this.h, t1.h, t2.h, this.sc(value));
    return this;
  }
  /** this += value * t1 / t2 */
  addcdiv_(t1: Tensor, t2: Tensor, value: Scalar = 1): this {
    native.call(O.addcdiv_.get(), this.h, t1.h, t2.h, this.sc(value));
    return this;
  }
  /** this += weight * (end - this) */
  lerp_(end: Tensor, weight: number): this {
    native.call(O.lerp_S.get(), this.h, end.h, weight);
    return this;
  }
  maskedFill_(mask: Tensor, value: Scalar): this {
    native.call(O.maskedFill_.get(), this.h, mask.h, this.sc(value));
    return this;
  }
  indexPut_(indices: (Tensor | null)[], values: Tensor, accumulate = false): this {
    native.call(
      O.indexPut_.get(),
      this.h,
      indices.map((t) => (t === null ? null : t.h)),
      values.h,
      accumulate,
    );
    return this;
  }
  uniform_(from = 0, to = 1, generator?: Generator): this {
    native.call(O.uniform_.get(), this.h, from, to, generator?.id ?? null);
    return this;
  }
  normal_(mean = 0, std = 1, generator?: Generator): this {
    native.call(O.normal_.get(), this.h, mean, std, generator?.id ?? null);
    return this;
  }
  private unaryInplace(name: UnaryInplaceName): this {
    native.call(UNARY_INPLACE_OPS[name].get(), this.h);
    return this;
  }
  neg_(): this {
    return this.unaryInplace('neg_');
  }
  abs_(): this {
    return this.unaryInplace('abs_');
  }
  exp_(): this {
    return this.unaryInplace('exp_');
  }
  sqrt_(): this {
    return this.unaryInplace('sqrt_');
  }
  sigmoid_(): this {
    return this.unaryInplace('sigmoid_');
  }
  tanh_(): this {
    return this.unaryInplace('tanh_');
  }
  relu_(): this {
    return this.unaryInplace('relu_');
  }
  silu_(): this {
    return this.unaryInplace('silu_');
  }

  // ------------------------------------------------------------------ comparison and logic

  private cmp(t: ReturnType<typeof aten>, s: ReturnType<typeof aten>, other: Tensor | Scalar): Tensor {
    return other instanceof Tensor ? wrap(native.call(t.get(), this.h, other.h)) : wrap(native.call(s.get(), this.h, this.sc(other)));
  }
  eq(other: Tensor | Scalar): Tensor {
    return this.cmp(O.eqT, O.eqS, other);
  }
  ne(other: Tensor | Scalar): Tensor {
    return this.cmp(O.neT, O.neS, other);
  }
  lt(other: Tensor | Scalar): Tensor {
    return this.cmp(O.ltT, O.ltS, other);
  }
  le(other: Tensor | Scalar): Tensor {
    return this.cmp(O.leT, O.leS, other);
  }
  gt(other: Tensor | Scalar): Tensor {
    return this.cmp(O.gtT, O.gtS, other);
  }
  ge(other: Tensor | Scalar): Tensor {
    return this.cmp(O.geT, O.geS, other);
  }
  logicalAnd(other: Tensor): Tensor {
    return wrap(native.call(O.logicalAnd.get(), this.h, other.h));
  }
  logicalOr(other: Tensor): Tensor {
    return wrap(native.call(O.logicalOr.get(), this.h, other.h));
  }
  logicalNot(): Tensor {
    return wrap(native.call(O.logicalNot.get(), this.h));
  }
  isnan(): Tensor {
    return wrap(native.call(O.isnan.get(), this.h));
  }
  isfinite(): Tensor {
    return wrap(native.call(O.isfinite.get(), this.h));
  }
  any(): Tensor {
    return wrap(native.call(O.any.get(), this.h));
  }
  all(): Tensor {
    return wrap(native.call(O.all.get(), this.h));
  }
  /** Elementwise `condition ? this : other`. */
  where(condition: Tensor, other: Tensor): Tensor {
    return wrap(native.call(O.whereSelf.get(), condition.h, this.h, other.h));
  }
  maskedFill(mask: Tensor, value: Scalar): Tensor {
    return wrap(native.call(O.maskedFill.get(), this.h, mask.h, this.sc(value)));
  }

  // ------------------------------------------------------------------ reductions

  sum(dim?: DimList, opts: ReduceOptions = {}): Tensor {
    const dt = opts.dtype === undefined ? null : DTYPE_CODE[opts.dtype];
    if (dim === undefined) return wrap(native.call(O.sum.get(), this.h, dt));
    return wrap(native.call(O.sumDim.get(), this.h, dims(dim), opts.keepdim ?? false, dt));
  }
  mean(dim?: DimList, opts: ReduceOptions = {}): Tensor {
    const dt = opts.dtype === undefined ? null : DTYPE_CODE[opts.dtype];
    if (dim === undefined) return wrap(native.call(O.mean.get(), this.h, dt));
    return wrap(native.call(O.meanDim.get(), this.h, dims(dim), opts.keepdim ?? false, dt));
  }
  /** Variance with Bessel's correction by default (correction=1), like torch.var. */
  var(dim?: DimList, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
    return wrap(
      native.call(O.varDim.get(), this.h, dim === undefined ? null : dims(dim), BigInt(opts.correction ?? 1), opts.keepdim ?? false),
    );
  }
  std(dim?: DimList, opts: { correction?: number; keepdim?: boolean } = {}): Tensor {
    return wrap(
      native.call(O.stdDim.get(), this.h, dim === undefined ? null : dims(dim), BigInt(opts.correction ?? 1), opts.keepdim ?? false),
    );
  }
  norm(p = 2, dim?: DimList, keepdim = false): Tensor {
    return wrap(native.call(O.normScalarOpt.get(), this.h, p, dim === undefined ? [] : dims(dim), keepdim));
  }
  /** Global max (no dim), or { values, indices } along a dim. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return wrap(native.call(O.maxAll.get(), this.h));
    const [v, i] = native.call(O.maxDim.get(), this.h, dim, keepdim) as [Handle, Handle];
    return { values: wrap(v), indices: wrap(i) };
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  min(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    if (dim === undefined) return wrap(native.call(O.minAll.get(), this.h));
    const [v, i] = native.call(O.minDim.get(), this.h, dim, keepdim) as [Handle, Handle];
    return { values: wrap(v), indices: wrap(i) };
  }
  amax(dim: DimList = [], keepdim = false): Tensor {
    return wrap(native.call(O.amax.get(), this.h, dims(dim), keepdim));
  }
  amin(dim: DimList = [], keepdim = false): Tensor {
    return wrap(native.call(O.amin.get(), this.h, dims(dim), keepdim));
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return wrap(native.call(O.argmax.get(), this.h, dim ?? null, keepdim));
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return wrap(native.call(O.argmin.get(), this.h, dim ?? null, keepdim));
  }
  logsumexp(dim: DimList, keepdim = false): Tensor {
    return wrap(native.call(O.logsumexp.get(), this.h, dims(dim), keepdim));
  }
  cumsum(dim: number, dtype?: DType): Tensor {
    return wrap(native.call(O.cumsum.get(), this.h, dim, dtype === undefined ? null : DTYPE_CODE[dtype]));
  }
  prod(dtype?: DType): Tensor {
    return wrap(native.call(O.prod.get(), this.h, dtype === undefined ? null : DTYPE_CODE[dtype]));
  }

  // ------------------------------------------------------------------ shape and indexing

  view(...shape: number[]): Tensor {
    return wrap(native.call(O.view.get(), this.h, shape));
  }
  reshape(...shape: number[]): Tensor {
    return wrap(native.call(O.reshape.get(), this.h, shape));
  }
  permute(...order: number[]): Tensor {
    check(order.length === this.ndim, () => `permute: got ${order.length} dims for a tensor with ${this.ndim}`);
    return wrap(native.call(O.permute.get(), this.h, order));
  }
  transpose(dim0: number, dim1: number): Tensor {
    return wrap(native.call(O.transpose.get(), this.h, dim0, dim1));
  }
  /** 2-D transpose. */
  t(): Tensor {
    return wrap(native.call(O.t.get(), this.h));
  }
  contiguous(memoryFormat: MemoryFormat = 'contiguous'): Tensor {
    return wrap(native.call(O.contiguous.get(), this.h, MEMORY_FORMAT[memoryFormat]));
  }
  unsqueeze(dim: number): Tensor {
    return wrap(native.call(O.unsqueeze.get(), this.h, dim));
  }
  squeeze(dim?: number): Tensor {
    return dim === undefined ? wrap(native.call(O.squeeze.get(), this.h)) : wrap(native.call(O.squeezeDim.get(), this.h, dim));
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return wrap(native.call(O.flatten.get(), this.h, startDim, endDim));
  }
  expand(...shape: number[]): Tensor {
    return wrap(native.call(O.expand.get(), this.h, shape, false));
  }
  expandAs(other: Tensor): Tensor {
    return this.expand(...other.shape);
  }
  repeat(...repeats: number[]): Tensor {
    return wrap(native.call(O.repeat.get(), this.h, repeats));
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return wrap(native.call(O.narrow.get(), this.h, dim, start, length));
  }
  select(dim: number, index: number): Tensor {
    return wrap(native.call(O.select.get(), this.h, dim, index));
  }
  /** Python's x[..., start:end:step] along one dim (end exclusive, negatives count from the end). */
  slice(dim: number, start: number | null = null, end: number | null = null, step = 1): Tensor {
    return wrap(native.call(O.slice.get(), this.h, dim, start, end, step));
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return wrap(native.call(O.indexSelect.get(), this.h, dim, index.h));
  }
  /** Advanced indexing x[i0, i1, ...] with index tensors (null = take the whole dim). */
  index(indices: (Tensor | null)[]): Tensor {
    return wrap(
      native.call(
        O.index.get(),
        this.h,
        indices.map((t) => (t === null ? null : t.h)),
      ),
    );
  }
  gather(dim: number, index: Tensor): Tensor {
    return wrap(native.call(O.gather.get(), this.h, dim, index.h, false));
  }
  scatter(dim: number, index: Tensor, src: Tensor | Scalar): Tensor {
    return src instanceof Tensor
      ? wrap(native.call(O.scatter.get(), this.h, dim, index.h, src.h))
      : wrap(native.call(O.scatterValue.get(), this.h, dim, index.h, this.sc(src)));
  }
  split(splitSize: number, dim = 0): Tensor[] {
    return (native.call(O.split.get(), this.h, splitSize, dim) as Handle[]).map(wrap);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return (native.call(O.chunk.get(), this.h, chunks, dim) as Handle[]).map(wrap);
  }
  unbind(dim = 0): Tensor[] {
    return (native.call(O.unbind.get(), this.h, dim) as Handle[]).map(wrap);
  }
  flip(dimsToFlip: DimList): Tensor {
    return wrap(native.call(O.flip.get(), this.h, dims(dimsToFlip)));
  }
  roll(shifts: DimList, dim: DimList = []): Tensor {
    return wrap(native.call(O.roll.get(), this.h, dims(shifts), dims(dim)));
  }

  // ------------------------------------------------------------------ linear algebra and nn

  matmul(other: Tensor): Tensor {
    return wrap(native.call(O.matmul.get(), this.h, other.h));
  }
  mm(other: Tensor): Tensor {
    check(this.ndim === 2 && other.ndim === 2, () => `mm: expected 2-D tensors, got [${this.shape}] and [${other.shape}]`);
    check(this.shape[1] === other.shape[0], () => `mm: shapes [${this.shape}] and [${other.shape}] cannot be multiplied`);
    return wrap(native.call(O.mm.get(), this.h, other.h));
  }
  bmm(other: Tensor): Tensor {
    return wrap(native.call(O.bmm.get(), this.h, other.h));
  }
  softmax(dim: number, dtype?: DType): Tensor {
    return wrap(native.call(O.softmax.get(), this.h, dim, dtype === undefined ? null : DTYPE_CODE[dtype]));
  }
  logSoftmax(dim: number, dtype?: DType): Tensor {
    return wrap(native.call(O.logSoftmax.get(), this.h, dim, dtype === undefined ? null : DTYPE_CODE[dtype]));
  }
  topk(k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
    const [v, i] = native.call(O.topk.get(), this.h, k, dim, largest, sorted) as [Handle, Handle];
    return { values: wrap(v), indices: wrap(i) };
  }
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    const [v, i] = native.call(O.sort.get(), this.h, dim, descending) as [Handle, Handle];
    return { values: wrap(v), indices: wrap(i) };
  }
  argsort(dim = -1, descending = false): Tensor {
    return wrap(native.call(O.argsort.get(), this.h, dim, descending));
  }
  dropout(p: number, train: boolean): Tensor {
    return wrap(native.call(O.dropout.get(), this.h, p, train));
  }
  /** Bernoulli draws: with `p`, each element ~ B(p); without, this tensor holds the probabilities. */
  bernoulli(p?: number, generator?: Generator): Tensor {
    return p === undefined
      ? wrap(native.call(O.bernoulli.get(), this.h, generator?.id ?? null))
      : wrap(native.call(O.bernoulliP.get(), this.h, p, generator?.id ?? null));
  }

  // ------------------------------------------------------------------ conversion

  /**
   * Convert to a dtype, move to a device, or both: `t.to('float16')`, `t.to('cuda:0')`,
   * `t.to({ device: 'cuda', dtype: 'bfloat16' })`. Like torch, it returns this same tensor (under a
   * new handle) when nothing changes, unless `copy`. Differentiable: gradients flow back to `this`
   * (on its own device and dtype). Devices are checked first (parseDevice).
   */
  to(dtype: DType, opts?: { copy?: boolean }): Tensor;
  to(device: Device, opts?: { copy?: boolean }): Tensor;
  to(target: { device?: Device; dtype?: DType; copy?: boolean }): Tensor;
  to(target: DType | Device | { device?: Device; dtype?: DType; copy?: boolean }, opts: { copy?: boolean } = {}): Tensor {
    if (typeof target === 'string' && isDType(target)) {
      return wrap(native.call(O.toDtype.get(), this.h, DTYPE_CODE[target], false, opts.copy ?? false, null));
    }
    const t = typeof target === 'string' ? { device: target, copy: opts.copy } : target;
    if (t.dtype !== undefined && !isDType(t.dtype)) throw new DTypeError(`to(): unknown dtype ${String(t.dtype)}`);
    const device = t.device === undefined ? null : parseDevice(t.device);
    const dtype = t.dtype === undefined ? null : DTYPE_CODE[t.dtype];
    // aten::to.dtype_layout(self, dtype?, layout?, device?, pin_memory?, non_blocking, copy, memory_format?)
    return wrap(native.call(O.toOptions.get(), this.h, dtype, null, device, null, false, t.copy ?? false, null));
  }
  /** to('cpu'). */
  cpu(): Tensor {
    return this.to('cpu');
  }
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  long(): Tensor {
    return this.to('int64');
  }
  int(): Tensor {
    return this.to('int32');
  }
  bool(): Tensor {
    return this.to('bool');
  }
  clone(memoryFormat: MemoryFormat = 'preserve'): Tensor {
    return wrap(native.call(O.clone.get(), this.h, MEMORY_FORMAT[memoryFormat]));
  }
  /** True when both are the same libtorch tensor (not merely equal values). */
  isSame(other: Tensor): boolean {
    return native.sameTensor(this.h, other.h);
  }
  /** Bytes of the storage this tensor keeps alive. */
  storageBytes(): number {
    return native.storageBytes(this.h);
  }
}

// Scopes recognise tensors by this marker (on the prototype: no per-instance cost).
Object.defineProperty(Tensor.prototype, SCOPED, { value: true });

/** Shape check helper for callers that validate before calling libtorch. */
export function assertShape(t: Tensor, expected: readonly (number | null)[], what: string): void {
  const s = t.shape;
  const ok = s.length === expected.length && expected.every((e, i) => e === null || e === s[i]);
  if (!ok) {
    throw new ShapeError(`${what}: expected shape [${expected.map((e) => (e === null ? '*' : e)).join(', ')}], got [${s.join(', ')}]`);
  }
}

export function assertLive(t: Tensor): void {
  if (t.h < 0) throw new DisposedError();
}
