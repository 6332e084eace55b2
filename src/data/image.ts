// The in-memory image every data module works on: HWC interleaved uint8, like a PIL "RGB" (or "L")
// image's pixels (`np.asarray(pil_img)`), plus the float CHW array that ToTensor + Normalize produce.
// Pure TypeScript: no decoder and no tensor engine, so transforms run in worker threads cheaply.

/** Interleaved HWC uint8 pixels. `channels` is 3 (PIL "RGB") or 1 (PIL "L", e.g. Fashion-MNIST). */
export interface ImageU8 {
  readonly width: number;
  readonly height: number;
  readonly channels: 1 | 3;
  /** Row-major HWC bytes; length = width * height * channels. */
  readonly data: Uint8Array;
}

/** A float32 CHW array, what torchvision's ToTensor (+ Normalize) returns for one image. */
export interface FloatCHW {
  readonly data: Float32Array;
  readonly shape: [number, number, number];
}

export class ImageShapeError extends Error {
  readonly code = 'E_IMAGE_SHAPE';
  constructor(message: string) {
    super(message);
    this.name = 'ImageShapeError';
  }
}

/** A zero-filled (or constant-filled) image. `fill` is one value per channel, or one for all. */
export function createImage(width: number, height: number, channels: 1 | 3, fill?: number | readonly number[]): ImageU8 {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new ImageShapeError(`image size must be non-negative integers, got ${width}x${height}`);
  }
  const data = new Uint8Array(width * height * channels);
  if (fill !== undefined) fillImage(data, channels, fill);
  return { width, height, channels, data };
}

/** Wrap existing bytes as an image after checking the length. */
export function imageFromData(width: number, height: number, channels: 1 | 3, data: Uint8Array): ImageU8 {
  if (data.length !== width * height * channels) {
    throw new ImageShapeError(
      `image data has ${data.length} bytes, expected ${width}x${height}x${channels} = ${width * height * channels}`,
    );
  }
  return { width, height, channels, data };
}

export function cloneImage(img: ImageU8): ImageU8 {
  return { width: img.width, height: img.height, channels: img.channels, data: img.data.slice() };
}

/** Per-channel fill bytes, like PIL's `Image.new(mode, size, color)` (ints are clipped to 0..255). */
export function fillBytes(channels: number, fill: number | readonly number[]): Uint8Array {
  const out = new Uint8Array(channels);
  for (let c = 0; c < channels; c++) {
    const v = typeof fill === 'number' ? fill : (fill[c] ?? fill[0] ?? 0);
    out[c] = v < 0 ? 0 : v > 255 ? 255 : Math.trunc(v);
  }
  return out;
}

export function fillImage(data: Uint8Array, channels: number, fill: number | readonly number[]): void {
  const f = fillBytes(channels, fill);
  if (channels === 1) {
    data.fill(f[0]!);
    return;
  }
  for (let i = 0; i < data.length; i += channels) {
    for (let c = 0; c < channels; c++) data[i + c] = f[c]!;
  }
}

/** Replicate a 1-channel image to 3 channels (PIL `convert("RGB")` from "L"). */
export function grayToRgb(img: ImageU8): ImageU8 {
  if (img.channels === 3) return img;
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  const src = img.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    const v = src[i]!;
    out[j] = v;
    out[j + 1] = v;
    out[j + 2] = v;
  }
  return { width: img.width, height: img.height, channels: 3, data: out };
}

/**
 * RGB to L with PIL's integer formula (`rgb2l` in Convert.c: ITU-R 601-2 luma in 16.16 fixed point,
 * rounded): L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16. ImageEnhance.Color/Contrast use it.
 */
export function rgbToGray(img: ImageU8): ImageU8 {
  if (img.channels === 1) return img;
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const src = img.data;
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    out[i] = (src[j]! * 19595 + src[j + 1]! * 38470 + src[j + 2]! * 7471 + 0x8000) >>> 16;
  }
  return { width: img.width, height: img.height, channels: 1, data: out };
}
