// torchvision ColorJitter (brightness, contrast, saturation; no hue) on PIL images: the factors are
// drawn uniformly from [max(0, 1 - v), 1 + v] and the adjustments (ImageEnhance Brightness,
// Contrast, Color) are applied in a random order, as torchvision does with randperm(4).
import type { ImageU8 } from '../image.js';
import type { Rng } from '../rng.js';
import { brightness, color, contrast } from '../augment_ops.js';

export type ColorJitterSpec = number | readonly [number, number, number];

export function createColorJitter(spec: ColorJitterSpec): (img: ImageU8, rng: Rng) => ImageU8 {
  const [b, c, s] = typeof spec === 'number' ? [spec, spec, spec] : spec;
  for (const v of [b, c, s]) if (!(v >= 0)) throw new RangeError(`color jitter values must be >= 0, got ${JSON.stringify(spec)}`);
  const range = (v: number): [number, number] => [Math.max(0, 1 - v), 1 + v];
  const ranges = [range(b), range(c), range(s)] as const;
  return (img, rng) => {
    const order = rng.permutation(3);
    const factors = ranges.map(([lo, hi], i) => ([b, c, s][i]! > 0 ? rng.uniform(lo, hi) : null));
    let out = img;
    for (const k of order) {
      const f = factors[k];
      if (f == null) continue;
      out = k === 0 ? brightness(out, f) : k === 1 ? contrast(out, f) : color(out, f);
    }
    return out;
  };
}
