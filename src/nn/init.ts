// Weight initialisers, drawing from an explicit generator (reproducible model init).
import { noGrad, type Generator, type Tensor } from '../torch/index.js';

/** timm's _init_weight_goog for convs: N(0, sqrt(2 / fan_out)), fan_out = k*k*out_chs/groups. */
export function initConvGoog(weight: Tensor, groups: number, generator?: Generator): void {
  const [outChs, , kh, kw] = weight.shape as [number, number, number, number];
  const fanOut = Math.floor((kh * kw * outChs) / groups);
  noGrad(() => weight.normal_(0, Math.sqrt(2 / fanOut), generator));
}

/** timm's _init_weight_goog for Linear: U(-1/sqrt(fan_out), 1/sqrt(fan_out)), fan_out = out features. */
export function initLinearGoog(weight: Tensor, generator?: Generator): void {
  const r = 1 / Math.sqrt(weight.shape[0]!);
  noGrad(() => weight.uniform_(-r, r, generator));
}

/** PyTorch's default Linear/Conv init: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
export function initKaimingUniformDefault(weight: Tensor, generator?: Generator): void {
  const fanIn = weight.shape.slice(1).reduce((a, b) => a * b, 1);
  const r = 1 / Math.sqrt(fanIn);
  noGrad(() => weight.uniform_(-r, r, generator));
}
