// Dropout and drop-path (stochastic depth) drawing from an explicit source of randomness, so a
// noised student's masks are reproducible (aten::dropout only uses the global generator):
//  - a Generator: libtorch's bernoulli on it, one draw per call (a single process's stream);
//  - keyed rows ({ keys, salt }, keyed_noise.ts): each row's mask from its sample's key, the same
//    in any batch or rank (what the trainer passes, so data-parallel runs draw as one process).
// The caller passes its module's training flag (Module.training): these are functions, not modules.
import { empty, fromTypedArray, type Generator, type Tensor } from '../../torch/index.js';
import type { ForwardContext } from '../context.js';
import { keyedKeepMask } from './keyed_noise.js';

/** Per-row keys and the call site's salt. */
export interface KeyedDraw {
  readonly keys: Uint32Array;
  readonly salt: number;
}

export type NoiseSource = Generator | KeyedDraw;

/** The context's randomness for the call site `salt`: its sample keys when it has them, else its generator. */
export function noiseSource(ctx: ForwardContext | undefined, salt: number): NoiseSource | undefined {
  if (ctx?.sampleKeys) return { keys: ctx.sampleKeys, salt };
  return ctx?.generator;
}

function isKeyed(s: NoiseSource | undefined): s is KeyedDraw {
  return s !== undefined && (s as KeyedDraw).keys instanceof Uint32Array;
}

/** The scaled keep mask as a tensor of x's dtype and device, shaped [N, ...perRowShape]. */
function keyedMask(x: Tensor, s: KeyedDraw, rowShape: readonly number[], keepProb: number): Tensor {
  const n = x.shape[0]!;
  if (s.keys.length !== n) throw new Error(`keyed dropout: ${s.keys.length} sample keys for a batch of ${n} rows`);
  const perRow = rowShape.reduce((a, b) => a * b, 1);
  const m = fromTypedArray(keyedKeepMask(s.keys, s.salt, perRow, keepProb), [n, ...rowShape]);
  return x.dtype === 'float32' && x.device === 'cpu' ? m : m.to({ dtype: x.dtype, device: x.device });
}

export function dropout(x: Tensor, p: number, training: boolean, rng?: NoiseSource): Tensor {
  if (!training || p <= 0) return x;
  if (p >= 1) return x.mul(0);
  const keepProb = 1 - p;
  if (isKeyed(rng)) return x.mul(keyedMask(x, rng, x.shape.slice(1), keepProb));
  const mask = empty(x.shape as number[], { dtype: x.dtype }).bernoulli(keepProb, rng);
  return x.mul(mask).div(keepProb);
}

/**
 * Drop whole residual branches per sample (timm's drop_path): survivors are scaled by 1/keep so the
 * expectation is unchanged.
 */
export function dropPath(x: Tensor, p: number, training: boolean, rng?: NoiseSource): Tensor {
  if (!training || p <= 0) return x;
  const keepProb = 1 - p;
  const rowShape = x.shape.slice(1).map(() => 1);
  if (isKeyed(rng)) return keepProb > 0 ? x.mul(keyedMask(x, rng, rowShape, keepProb)) : x.mul(0);
  const mask = empty([x.shape[0]!, ...rowShape], { dtype: x.dtype }).bernoulli(keepProb, rng);
  if (keepProb > 0) mask.div_(keepProb);
  return x.mul(mask);
}
