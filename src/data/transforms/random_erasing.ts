// timm's RandomErasing (timm/data/random_erasing.py) on one normalised CHW float image, in place.
// Runs after Normalize, so 'const' erases to 0 (= the dataset mean), 'rand' to one normal value per
// channel and 'pixel' to per-pixel normal noise.
import type { FloatCHW } from '../image.js';
import type { Rng } from '../rng.js';
import { roundHalfEven } from '../py_math.js';

export type ErasingMode = 'const' | 'rand' | 'pixel';

export interface RandomErasingOptions {
  readonly probability?: number;
  readonly minArea?: number;
  readonly maxArea?: number;
  readonly minAspect?: number;
  readonly maxAspect?: number;
  readonly mode?: ErasingMode;
  readonly minCount?: number;
  readonly maxCount?: number;
}

export function createRandomErasing(opts: RandomErasingOptions = {}): (x: FloatCHW, rng: Rng) => FloatCHW {
  const probability = opts.probability ?? 0.5;
  const minArea = opts.minArea ?? 0.02;
  const maxArea = opts.maxArea ?? 1 / 3;
  const minAspect = opts.minAspect ?? 0.3;
  const maxAspect = opts.maxAspect ?? 1 / minAspect;
  const logAspect: [number, number] = [Math.log(minAspect), Math.log(maxAspect)];
  const mode = opts.mode ?? 'const';
  const minCount = opts.minCount ?? 1;
  const maxCount = opts.maxCount ?? minCount;
  if (!['const', 'rand', 'pixel'].includes(mode)) throw new RangeError(`random erasing mode must be const, rand or pixel, got "${mode}"`);
  return (x, rng) => {
    if (rng.random() > probability) return x;
    const [chan, imgH, imgW] = x.shape;
    const area = imgH * imgW;
    const count = minCount === maxCount ? minCount : rng.randint(minCount, maxCount);
    const plane = imgH * imgW;
    for (let n = 0; n < count; n++) {
      for (let attempt = 0; attempt < 10; attempt++) {
        const targetArea = (rng.uniform(minArea, maxArea) * area) / count;
        const aspect = Math.exp(rng.uniform(logAspect[0], logAspect[1]));
        const h = roundHalfEven(Math.sqrt(targetArea * aspect));
        const w = roundHalfEven(Math.sqrt(targetArea / aspect));
        if (w < imgW && h < imgH) {
          const top = rng.randint(0, imgH - h);
          const left = rng.randint(0, imgW - w);
          for (let c = 0; c < chan; c++) {
            const v = mode === 'rand' ? rng.normal() : 0;
            for (let y = top; y < top + h; y++) {
              const row = c * plane + y * imgW;
              for (let xx = left; xx < left + w; xx++) x.data[row + xx] = mode === 'pixel' ? Math.fround(rng.normal()) : Math.fround(v);
            }
          }
          break;
        }
      }
    }
    return x;
  };
}
