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
