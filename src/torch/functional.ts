// Neural-network functions (torch.nn.functional), typed over the generic op call.
import { native } from './native.js';
import { aten } from './ops.js';
import { Tensor, wrap, type Scalar } from './tensor.js';
import { check, ShapeError } from './errors.js';

const OP = {
  conv2d: aten('conv2d'),
  linear: aten('linear'),
  batchNorm: aten('batch_norm'),
  constantPad: aten('constant_pad_nd'),
  reflectionPad2d: aten('reflection_pad2d'),
  replicationPad2d: aten('replication_pad2d'),
  adaptiveAvgPool2d: aten('adaptive_avg_pool2d'),
  adaptiveMaxPool2d: aten('adaptive_max_pool2d'),
  maxPool2d: aten('max_pool2d'),
  avgPool2d: aten('avg_pool2d'),
  crossEntropy: aten('cross_entropy_loss'),
  nllLoss: aten('nll_loss'),
  mseLoss: aten('mse_loss'),
  whereSelf: aten('where', 'self'),
  embedding: aten('embedding'),
} as const;

type Pair = number | readonly [number, number];
const pair = (p: Pair): [number, number] => (typeof p === 'number' ? [p, p] : [p[0], p[1]]);

export interface Conv2dOptions {
  bias?: Tensor | null;
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
}

/** 2-D convolution, NCHW input and [out, in/groups, kh, kw] weight, symmetric zero padding. */
export function conv2d(x: Tensor, weight: Tensor, o: Conv2dOptions = {}): Tensor {
  const groups = o.groups ?? 1;
  check(x.ndim === 4, () => `conv2d: expected a 4-D NCHW input, got shape [${x.shape.join(', ')}]`);
  check(weight.ndim === 4, () => `conv2d: expected a 4-D weight, got shape [${weight.shape.join(', ')}]`);
  const cIn = x.shape[1]!;
  check(
    cIn === weight.shape[1]! * groups,
    () =>
      `conv2d: input has ${cIn} channels but weight [${weight.shape.join(', ')}] with groups=${groups} expects ${weight.shape[1]! * groups}`,
  );
  return wrap(
    native.call(
      OP.conv2d.get(),
      x.h,
      weight.h,
      o.bias ? o.bias.h : null,
      pair(o.stride ?? 1),
      pair(o.padding ?? 0),
      pair(o.dilation ?? 1),
      groups,
    ),
  );
}

/** y = x W^T + b */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const inF = x.shape[x.ndim - 1];
  check(inF === weight.shape[1], () => `linear: input features ${inF} do not match weight [${weight.shape.join(', ')}]`);
  return wrap(native.call(OP.linear.get(), x.h, weight.h, bias ? bias.h : null));
}

export interface BatchNormOptions {
  weight?: Tensor | null;
  bias?: Tensor | null;
  runningMean?: Tensor | null;
  runningVar?: Tensor | null;
  /** Normalise with batch statistics and update the running ones (in place). */
  training: boolean;
  momentum?: number;
  eps?: number;
}

/**
 * Batch normalisation as torch.nn.functional.batch_norm: in training, normalise with the biased
 * batch variance and update running_var with the unbiased one (momentum 0.1 by default).
 */
export function batchNorm(x: Tensor, o: BatchNormOptions): Tensor {
  const h = (t: Tensor | null | undefined): number | null => (t ? t.h : null);
  return wrap(
    native.call(
      OP.batchNorm.get(),
      x.h,
      h(o.weight),
      h(o.bias),
      h(o.runningMean),
      h(o.runningVar),
      o.training,
      o.momentum ?? 0.1,
      o.eps ?? 1e-5,
      false,
    ),
  );
}

export type PadMode = 'constant' | 'reflect' | 'replicate';

/**
 * torch.nn.functional.pad: `pad` lists (before, after) pairs starting from the LAST dim, e.g.
 * [left, right, top, bottom] for NCHW.
 */
export function pad(x: Tensor, padding: readonly number[], mode: PadMode = 'constant', value: Scalar = 0): Tensor {
  if (padding.length % 2 !== 0) throw new ShapeError(`pad: padding must have an even length, got ${padding.length}`);
  if (mode === 'constant') return wrap(native.call(OP.constantPad.get(), x.h, padding, value));
  check(x.ndim === 4 && padding.length === 4, () => `pad: mode '${mode}' is implemented for 4-D inputs with 4 pad values`);
  return wrap(native.call((mode === 'reflect' ? OP.reflectionPad2d : OP.replicationPad2d).get(), x.h, padding));
}

export function adaptiveAvgPool2d(x: Tensor, outputSize: Pair): Tensor {
  return wrap(native.call(OP.adaptiveAvgPool2d.get(), x.h, pair(outputSize)));
}
export function adaptiveMaxPool2d(x: Tensor, outputSize: Pair): Tensor {
  const [v, indices] = native.call(OP.adaptiveMaxPool2d.get(), x.h, pair(outputSize)) as [number, number];
  native.release(indices);
  return wrap(v);
}
export function maxPool2d(x: Tensor, kernel: Pair, o: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {}): Tensor {
  return wrap(
    native.call(
      OP.maxPool2d.get(),
      x.h,
      pair(kernel),
      o.stride === undefined ? [] : pair(o.stride),
      pair(o.padding ?? 0),
      pair(o.dilation ?? 1),
      o.ceilMode ?? false,
    ),
  );
}
export function avgPool2d(
  x: Tensor,
  kernel: Pair,
  o: { stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean } = {},
): Tensor {
  return wrap(
    native.call(
      OP.avgPool2d.get(),
      x.h,
      pair(kernel),
      o.stride === undefined ? [] : pair(o.stride),
      pair(o.padding ?? 0),
      o.ceilMode ?? false,
      o.countIncludePad ?? true,
      null,
    ),
  );
}

export type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Readonly<Record<Reduction, number>> = { none: 0, mean: 1, sum: 2 };

/**
 * Cross entropy over logits [N, C] with int64 class targets [N] or probability targets [N, C]
 * (torch.nn.functional.cross_entropy, label smoothing included).
 */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  o: { reduction?: Reduction; labelSmoothing?: number; ignoreIndex?: number; weight?: Tensor } = {},
): Tensor {
  return wrap(
    native.call(
      OP.crossEntropy.get(),
      logits.h,
      target.h,
      o.weight ? o.weight.h : null,
      REDUCTION[o.reduction ?? 'mean'],
      o.ignoreIndex ?? -100,
      o.labelSmoothing ?? 0,
    ),
  );
}
export function nllLoss(logProbs: Tensor, target: Tensor, o: { reduction?: Reduction; ignoreIndex?: number } = {}): Tensor {
  return wrap(native.call(OP.nllLoss.get(), logProbs.h, target.h, null, REDUCTION[o.reduction ?? 'mean'], o.ignoreIndex ?? -100));
}
export function mseLoss(input: Tensor, target: Tensor, reduction: Reduction = 'mean'): Tensor {
  return wrap(native.call(OP.mseLoss.get(), input.h, target.h, REDUCTION[reduction]));
}

export function softmax(x: Tensor, dim: number): Tensor {
  return x.softmax(dim);
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return x.logSoftmax(dim);
}
export function dropout(x: Tensor, p: number, training: boolean): Tensor {
  return x.dropout(p, training);
}
/** Elementwise `condition ? a : b`. */
export function where(condition: Tensor, a: Tensor, b: Tensor): Tensor {
  return wrap(native.call(OP.whereSelf.get(), condition.h, a.h, b.h));
}
export function embedding(weight: Tensor, indices: Tensor): Tensor {
  return wrap(native.call(OP.embedding.get(), weight.h, indices.h));
}
