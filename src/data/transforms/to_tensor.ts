// torchvision ToTensor + Normalize, in float32 like PyTorch: HWC uint8 -> CHW, x / 255, then
// (x - mean) / std with mean and std rounded to float32 first (Normalize builds float32 tensors).
// Each step is rounded to float32 (Math.fround) so the result is what PyTorch computes, op by op.
import type { FloatCHW, ImageU8 } from '../image.js';

/** ToTensor alone: CHW float32 in [0, 1]. */
export function toFloatCHW(img: ImageU8): FloatCHW {
  return toNormalizedCHW(img, null, null);
}

/**
 * ToTensor + Normalize. `mean`/`std` need one value per channel (or one value for all); pass null to
 * skip normalisation. Writes into `out` when given (e.g. a slot of a batch buffer).
 */
export function toNormalizedCHW(img: ImageU8, mean: readonly number[] | null, std: readonly number[] | null, out?: Float32Array): FloatCHW {
  const { width, height, channels: ch } = img;
  const plane = width * height;
  const data = out ?? new Float32Array(plane * ch);
  if (data.length < plane * ch) throw new RangeError(`toNormalizedCHW: output has ${data.length} floats, need ${plane * ch}`);
  const sd = img.data;
  // x / 255 for all 256 byte values, rounded to float32 once.
  const lut = new Float32Array(256);
  for (let c = 0; c < ch; c++) {
    if (mean && std) {
      const m = Math.fround(mean[c] ?? mean[0]!);
      const s = Math.fround(std[c] ?? std[0]!);
      for (let v = 0; v < 256; v++) lut[v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
    } else {
      for (let v = 0; v < 256; v++) lut[v] = Math.fround(v / 255);
    }
    const base = c * plane;
    for (let i = 0, p = c; i < plane; i++, p += ch) data[base + i] = lut[sd[p]!]!;
  }
  return { data, shape: [ch, height, width] };
}

/** Undo Normalize + ToTensor, rounding to uint8 like `round((x * std + mean) * 255)` in float64
 * (how the timm fixtures state their uint8 crops). */
export function fromNormalizedCHW(t: FloatCHW, mean: readonly number[], std: readonly number[]): ImageU8 {
  const [ch, height, width] = t.shape;
  if (ch !== 1 && ch !== 3) throw new RangeError(`fromNormalizedCHW: 1 or 3 channels expected, got ${ch}`);
  const plane = width * height;
  const out = new Uint8Array(plane * ch);
  for (let c = 0; c < ch; c++) {
    const m = mean[c] ?? mean[0]!;
    const s = std[c] ?? std[0]!;
    for (let i = 0; i < plane; i++) {
      const v = Math.round((t.data[c * plane + i]! * s + m) * 255);
      out[i * ch + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width, height, channels: ch, data: out };
}
