// torchvision ToTensor + Normalize, in float32 like PyTorch: HWC uint8 -> CHW, x / 255, then
// (x - mean) / std with mean and std rounded to float32 first (Normalize builds float32 tensors).
// Each step is rounded to float32 (Math.fround) so the result is what PyTorch computes, op by op.
import type { FloatCHW, ImageU8 } from '../image.js';
import { nativeImage, nativeImageError } from '../native_image.js';

/** ToTensor alone: CHW float32 in [0, 1]. */
export function toFloatCHW(img: ImageU8): FloatCHW {
  return toNormalizedCHW(img, null, null);
}

/** Which loop converts: the JavaScript reference, the image addon, or the addon when it is built. */
export type ConvertBackend = 'js' | 'native' | 'auto';

const luts = new Map<string, Float32Array>();

/**
 * The float32 value of every byte, per channel (`ch * 256` values): x / 255 rounded to float32,
 * then (x - mean) / std with mean and std rounded to float32 first, each step rounded. Both loops
 * read this table, so they agree to the bit. Cached: the loader asks for the same one per sample.
 */
export function normalizeLut(ch: number, mean: readonly number[] | null, std: readonly number[] | null): Float32Array {
  const key = `${ch}|${mean?.join(',') ?? ''}|${std?.join(',') ?? ''}`;
  let lut = luts.get(key);
  if (lut) return lut;
  lut = new Float32Array(ch * 256);
  for (let c = 0; c < ch; c++) {
    if (mean && std) {
      const m = Math.fround(mean[c] ?? mean[0]!);
      const s = Math.fround(std[c] ?? std[0]!);
      for (let v = 0; v < 256; v++) lut[c * 256 + v] = Math.fround(Math.fround(Math.fround(v / 255) - m) / s);
    } else {
      for (let v = 0; v < 256; v++) lut[c * 256 + v] = Math.fround(v / 255);
    }
  }
  if (luts.size > 16) luts.clear(); // a handful of configs per process; never grow without bound
  luts.set(key, lut);
  return lut;
}

/**
 * ToTensor + Normalize. `mean`/`std` need one value per channel (or one value for all); pass null to
 * skip normalisation. Writes into `out` when given (e.g. a sample's slot of a batch buffer). The
 * image addon runs the loop when it is built (`backend` 'auto'); 'js' and 'native' force one
 * (tests compare them bit for bit).
 */
export function toNormalizedCHW(
  img: ImageU8,
  mean: readonly number[] | null,
  std: readonly number[] | null,
  out?: Float32Array,
  backend: ConvertBackend = 'auto',
): FloatCHW {
  const { width, height, channels: ch } = img;
  const plane = width * height;
  const data = out ?? new Float32Array(plane * ch);
  if (data.length < plane * ch) throw new RangeError(`toNormalizedCHW: output has ${data.length} floats, need ${plane * ch}`);
  const lut = normalizeLut(ch, mean, std);
  const native = backend === 'js' ? null : nativeImage();
  if (backend === 'native' && !native) throw new Error(`toNormalizedCHW: the native image addon is ${nativeImageError() ?? 'unavailable'}`);
  if (native) {
    native.toChw(img.data, width, height, ch, lut, data);
    return { data, shape: [ch, height, width] };
  }
  const sd = img.data;
  for (let c = 0; c < ch; c++) {
    const base = c * plane;
    const lb = c * 256;
    for (let i = 0, p = c; i < plane; i++, p += ch) data[base + i] = lut[lb + sd[p]!]!;
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
