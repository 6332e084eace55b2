// Autograd outside the Tensor methods: grad modes, torch.autograd.grad, multi-tensor backward.
import { native } from './native.js';
import { Tensor, wrapMaybe } from './tensor.js';

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const prev = native.setGradEnabled(enabled);
  try {
    const r = fn();
    if (r instanceof Promise)
      throw new Error('noGrad/enableGrad take a synchronous function (grad mode is thread-local state; it cannot follow an await)');
    return r;
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Run fn with gradient recording off (torch.no_grad). Synchronous only. */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Run fn with gradient recording on, e.g. inside noGrad (torch.enable_grad). */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

/**
 * Run fn in inference mode (torch.inference_mode): faster than noGrad, but tensors made inside can
 * never be used in autograd later. Synchronous only.
 */
export function inferenceMode<T>(fn: () => T): T {
  native.enterInferenceMode(true);
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error('inferenceMode takes a synchronous function');
    return r;
  } finally {
    native.exitInferenceMode();
  }
}

export function isInferenceMode(): boolean {
  return native.isInferenceMode();
}

export interface BackwardOptions {
  gradTensors?: (Tensor | null)[];
  retainGraph?: boolean;
  createGraph?: boolean;
  /** Accumulate only into these leaves. */
  inputs?: Tensor[];
}

/** torch.autograd.backward over several outputs. */
export function backward(tensors: Tensor[], o: BackwardOptions = {}): void {
  native.backward(
    tensors.map((t) => t.h),
    o.gradTensors ? o.gradTensors.map((t) => (t ? t.h : null)) : null,
    o.retainGraph ?? null,
    o.createGraph ?? false,
    o.inputs ? o.inputs.map((t) => t.h) : null,
  );
}

export interface GradOptions {
  gradOutputs?: (Tensor | null)[];
  retainGraph?: boolean;
  createGraph?: boolean;
  allowUnused?: boolean;
}

/** torch.autograd.grad: gradients of outputs w.r.t. inputs, without touching .grad. */
export function grad(outputs: Tensor | Tensor[], inputs: Tensor | Tensor[], o: GradOptions = {}): (Tensor | null)[] {
  const outs = Array.isArray(outputs) ? outputs : [outputs];
  const ins = Array.isArray(inputs) ? inputs : [inputs];
  const res = native.autogradGrad(
    outs.map((t) => t.h),
    ins.map((t) => t.h),
    o.gradOutputs ? o.gradOutputs.map((t) => (t ? t.h : null)) : null,
    o.retainGraph ?? null,
    o.createGraph ?? false,
    o.allowUnused ?? false,
  );
  return res.map(wrapMaybe);
}
