// Crops and pads with PIL / torchvision / timm semantics.
import { type ImageU8, ImageShapeError, fillBytes } from '../image.js';
import { roundHalfEven } from '../py_math.js';

/**
 * PIL `img.crop((left, top, left + width, top + height))` (what torchvision `F.crop` does on PIL
 * images): the box may extend past the image; those pixels are `fill` (PIL fills with 0).
 */
export function crop(
  img: ImageU8,
  top: number,
  left: number,
  height: number,
  width: number,
  fill: number | readonly number[] = 0,
): ImageU8 {
  if (
    !Number.isInteger(top) ||
    !Number.isInteger(left) ||
    !Number.isInteger(height) ||
    !Number.isInteger(width) ||
    height < 0 ||
    width < 0
  ) {
    throw new ImageShapeError(`crop: integer box required, got top=${top} left=${left} height=${height} width=${width}`);
  }
  const ch = img.channels;
  const out = new Uint8Array(width * height * ch);
  const x0 = Math.max(0, left);
  const x1 = Math.min(img.width, left + width);
  const y0 = Math.max(0, top);
  const y1 = Math.min(img.height, top + height);
  const inside = x0 === left && x1 === left + width && y0 === top && y1 === top + height;
  if (!inside) {
    const f = fillBytes(ch, fill);
    if (f.some((v) => v !== 0)) {
      for (let i = 0; i < out.length; i += ch) for (let c = 0; c < ch; c++) out[i + c] = f[c]!;
    }
  }
  if (x1 > x0) {
    const n = (x1 - x0) * ch;
    for (let y = y0; y < y1; y++) {
      const s = (y * img.width + x0) * ch;
      out.set(img.data.subarray(s, s + n), ((y - top) * width + (x0 - left)) * ch);
    }
  }
  return { width, height, channels: ch, data: out };
}

/** Constant padding (torchvision `F.pad(img, [l, t, r, b], fill)` on PIL = ImageOps.expand). */
export function pad(img: ImageU8, left: number, top: number, right: number, bottom: number, fill: number | readonly number[] = 0): ImageU8 {
  return crop(img, -top, -left, img.height + top + bottom, img.width + left + right, fill);
}

/**
 * torchvision `CenterCrop` (0.14) and timm `CenterCropOrPad`: pad symmetrically (extra pixel
 * right/bottom) when the crop is larger than the image, then crop at
 * `int(round((H - h) / 2))`, `int(round((W - w) / 2))` with Python's round-half-even.
 */
export function centerCropOrPad(img: ImageU8, height: number, width: number, fill: number | readonly number[] = 0): ImageU8 {
  let src = img;
  if (width > src.width || height > src.height) {
    const dw = width - src.width;
    const dh = height - src.height;
    const l = dw > 0 ? Math.floor(dw / 2) : 0;
    const t = dh > 0 ? Math.floor(dh / 2) : 0;
    const r = dw > 0 ? Math.floor((dw + 1) / 2) : 0;
    const b = dh > 0 ? Math.floor((dh + 1) / 2) : 0;
    src = pad(src, l, t, r, b, fill);
    if (src.width === width && src.height === height) return src;
  }
  const top = roundHalfEven((src.height - height) / 2.0);
  const left = roundHalfEven((src.width - width) / 2.0);
  return crop(src, top, left, height, width);
}

/** The crop box torchvision's CenterCrop uses on an image at least as large: [left, top, right, bottom]. */
export function centerCropBox(imgW: number, imgH: number, width: number, height: number): [number, number, number, number] {
  const top = roundHalfEven((imgH - height) / 2.0);
  const left = roundHalfEven((imgW - width) / 2.0);
  return [left, top, left + width, top + height];
}
