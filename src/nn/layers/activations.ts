// Activations by timm's names.
import type { Tensor } from '../../torch/index.js';

export type ActName = 'relu' | 'relu6' | 'silu' | 'swish' | 'hard_swish' | 'mish' | 'sigmoid' | 'gelu' | 'tanh';
export type ActFn = (x: Tensor) => Tensor;

const ACTS: Readonly<Record<ActName, ActFn>> = {
  relu: (x) => x.relu(),
  relu6: (x) => x.clamp(0, 6),
  silu: (x) => x.silu(),
  swish: (x) => x.silu(),
  hard_swish: (x) => x.mul(x.add(3).clamp(0, 6)).div(6),
  mish: (x) => x.mul(x.exp().log1p().tanh()),
  sigmoid: (x) => x.sigmoid(),
  gelu: (x) => x.gelu(),
  tanh: (x) => x.tanh(),
};

export function activation(name: ActName): ActFn {
  const f = ACTS[name];
  if (!f) throw new Error(`unknown activation "${name}"; known: ${Object.keys(ACTS).join(', ')}`);
  return f;
}

// In-place forms for activations applied to a fresh tensor (a BN or conv output), as timm builds
// them (inplace=True): no second activation buffer. Safe under autograd because batch_norm's and
// conv's backward need their inputs, not their outputs.
const INPLACE: Partial<Record<ActName, ActFn>> = {
  relu: (x) => x.relu_(),
  silu: (x) => x.silu_(),
  swish: (x) => x.silu_(),
  sigmoid: (x) => x.sigmoid_(),
  tanh: (x) => x.tanh_(),
};

/** The activation applied in place where libtorch has an in-place kernel, else out of place. */
export function activationInplace(name: ActName): ActFn {
  return INPLACE[name] ?? activation(name);
}
