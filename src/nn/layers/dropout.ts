// Dropout and drop-path (stochastic depth) drawing from an explicit generator when one is given, so
// a noised student's masks are reproducible (aten::dropout only uses the global generator). The
// caller passes its module's training flag (Module.training): these are functions, not modules.
import { empty, type Generator, type Tensor } from '../../torch/index.js';

export function dropout(x: Tensor, p: number, training: boolean, generator?: Generator): Tensor {
  if (!training || p <= 0) return x;
  if (p >= 1) return x.mul(0);
  const keepProb = 1 - p;
  const mask = empty(x.shape as number[], { dtype: x.dtype }).bernoulli(keepProb, generator);
  return x.mul(mask).div(keepProb);
}

/**
 * Drop whole residual branches per sample (timm's drop_path): survivors are scaled by 1/keep so the
 * expectation is unchanged.
 */
export function dropPath(x: Tensor, p: number, training: boolean, generator?: Generator): Tensor {
  if (!training || p <= 0) return x;
  const keepProb = 1 - p;
  const shape = [x.shape[0]!, ...x.shape.slice(1).map(() => 1)];
  const mask = empty(shape, { dtype: x.dtype }).bernoulli(keepProb, generator);
  if (keepProb > 0) mask.div_(keepProb);
  return x.mul(mask);
}
