// timm's RandomResizedCropAndInterpolation.get_params: 10 attempts at a random area/aspect crop that
// fits, then a central crop clamped to the ratio range. The crop is then resized with PIL
// (torchvision F.resized_crop = PIL crop + PIL resize), the resampler reading the crop in place.
import type { ImageU8 } from '../image.js';
import type { Rng } from '../rng.js';
import { roundHalfEven } from '../py_math.js';
import { type ResampleFilter, resizeCrop } from './resize.js';

export interface CropParams {
  readonly top: number;
  readonly left: number;
  readonly height: number;
  readonly width: number;
}

export function randomResizedCropParams(
  imgW: number,
  imgH: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
  rng: Rng,
): CropParams {
  const area = imgW * imgH;
  const logRatio: [number, number] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = rng.uniform(scale[0], scale[1]) * area;
    const aspect = Math.exp(rng.uniform(logRatio[0], logRatio[1]));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w <= imgW && h <= imgH) {
      const top = rng.randint(0, imgH - h);
      const left = rng.randint(0, imgW - w);
      return { top, left, height: h, width: w };
    }
  }
  // Fallback to a central crop.
  const inRatio = imgW / imgH;
  const rMin = Math.min(ratio[0], ratio[1]);
  const rMax = Math.max(ratio[0], ratio[1]);
  let w: number;
  let h: number;
  if (inRatio < rMin) {
    w = imgW;
    h = roundHalfEven(w / rMin);
  } else if (inRatio > rMax) {
    h = imgH;
    w = roundHalfEven(h * rMax);
  } else {
    w = imgW;
    h = imgH;
  }
  return { top: Math.floor((imgH - h) / 2), left: Math.floor((imgW - w) / 2), height: h, width: w };
}

/**
 * Crop `p` then resize to (width, height) with PIL's resampler: the resampler reads the crop in
 * place (resizeCrop), the same bytes as cropping first.
 */
export function resizedCrop(img: ImageU8, p: CropParams, width: number, height: number, filter: ResampleFilter): ImageU8 {
  return resizeCrop(img, p.left, p.top, p.width, p.height, width, height, filter);
}
