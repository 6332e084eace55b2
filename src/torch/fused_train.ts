// Training-mode BatchNorm + activation in one autograd function (native/src/bn_act.cc): libtorch
// 1.13's batch_norm forward in training is several passes slower than its data, and a separate
// activation is one more pass and one more saved tensor. Same math as aten::batch_norm(training)
// followed by the activation (running statistics updated the same way, unbiased running variance);
// the backward is libtorch's native_batch_norm_backward after the activation's derivative.
//
// Only float32 CPU tensors take this path; batchNormActTraining returns null for anything else
// (bfloat16 under autocast, CUDA, other activations), and the caller falls back to aten.
// NOISY_STUDENT_FUSED_BN=0 turns it off (A/B benchmarks, bisecting).
import { native, type Handle, type NativeBinding } from './native.js';
import { Tensor, wrap } from './tensor.js';

/** Activations the fused kernel applies itself (native codes). */
const ACT_CODES: Readonly<Record<string, number>> = { none: 0, relu: 1, silu: 3, swish: 3 };

interface BnActBinding {
  bnActTrain(
    x: Handle,
    weight: Handle,
    bias: Handle,
    runningMean: Handle | null,
    runningVar: Handle | null,
    momentum: number,
    eps: number,
    act: number,
  ): Handle;
}
const binding = native as NativeBinding & Partial<BnActBinding>;
const bound = typeof binding.bnActTrain === 'function';
let enabled = bound && process.env['NOISY_STUDENT_FUSED_BN'] !== '0';

/** Turn the fused path on or off (A/B benchmarks); returns the previous setting. Off when the addon lacks it. */
export function setFusedBatchNormAct(on: boolean): boolean {
  const prev = enabled;
  enabled = on && bound;
  return prev;
}

export interface BatchNormActOptions {
  weight: Tensor;
  bias: Tensor;
  runningMean: Tensor | null;
  runningVar: Tensor | null;
  momentum: number;
  eps: number;
  /** 'none' or an activation name; null when the kernel does not have it. */
  act: string;
}

/** Whether batchNormActTraining can take an input of this kind with this activation. */
export function fusedBatchNormActSupported(x: Tensor, act: string): boolean {
  if (!enabled || ACT_CODES[act] === undefined || x.dtype !== 'float32' || x.shape.length < 2) return false;
  // One value per channel: aten's batch_norm gives a NaN running variance there, and so should we.
  return x.numel() / x.shape[1]! > 1 && x.device === 'cpu';
}

/**
 * y = act(batch_norm(x, training=true)) with its autograd, or null when the fused kernel does not
 * take this input (the caller runs aten::batch_norm and the activation instead).
 */
export function batchNormActTraining(x: Tensor, o: BatchNormActOptions): Tensor | null {
  if (!fusedBatchNormActSupported(x, o.act)) return null;
  const ok = (t: Tensor | null): boolean => t === null || (t.dtype === 'float32' && t.device === 'cpu');
  if (!ok(o.weight) || !ok(o.bias) || !ok(o.runningMean) || !ok(o.runningVar)) return null;
  return wrap(
    binding.bnActTrain!(x.h, o.weight.h, o.bias.h, o.runningMean?.h ?? null, o.runningVar?.h ?? null, o.momentum, o.eps, ACT_CODES[o.act]!),
  );
}
