// timm's ResizeKeepRatio without its random scale/aspect options (what the eval transform uses):
// ratio = max(h/th, w/tw) * longest + min(h/th, w/tw) * (1 - longest); new size = round(edge / ratio)
// with Python's round-half-even. longest = 0 fits the shorter edge, 1 the longer one.
import type { ImageU8 } from '../image.js';
import { roundHalfEven } from '../py_math.js';
import { type ResampleFilter, resize } from './resize.js';

/** Returns [height, width]. */
export function resizeKeepRatioSize(imgH: number, imgW: number, targetH: number, targetW: number, longest: number): [number, number] {
  const rh = imgH / targetH;
  const rw = imgW / targetW;
  const ratio = Math.max(rh, rw) * longest + Math.min(rh, rw) * (1.0 - longest);
  return [roundHalfEven(imgH / ratio), roundHalfEven(imgW / ratio)];
}

export function resizeKeepRatio(img: ImageU8, targetH: number, targetW: number, longest: number, filter: ResampleFilter): ImageU8 {
  const [h, w] = resizeKeepRatioSize(img.height, img.width, targetH, targetW, longest);
  return resize(img, w, h, filter);
}
