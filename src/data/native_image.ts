// The optional native image addon (native/image, no libtorch): the resampler's passes in C++ with
// AVX2/AVX-512 paths, and RandAugment's pixel loops (affine transform, smooth, blend, LUTs). Loaded lazily, once per thread (the loader's worker threads each get their
// own instance, see native/image/src/addon.cc for why this is not the libtorch addon). When it is
// not built, or NOISY_STUDENT_IMAGE_NATIVE=0, callers use their JavaScript path, which computes the
// same bytes.
import { createRequire } from 'node:module';
import { findPackageFile } from '../util/package_file.js';

export type SimdLevel = 'scalar' | 'avx2' | 'avx512';

export interface NativeImage {
  /**
   * Pillow's two resampling passes. A pass given as null is skipped (its axis keeps its size).
   * Bounds and weights are resample_coeffs.ts tables; the addon checks them against the sizes.
   */
  resample(
    src: Uint8Array,
    width: number,
    height: number,
    channels: number,
    hBounds: Int32Array | null,
    hKk: Int32Array | null,
    hKsize: number,
    vBounds: Int32Array | null,
    vKk: Int32Array | null,
    vKsize: number,
    outWidth: number,
    outHeight: number,
    out: Uint8Array,
  ): void;
  /**
   * ToTensor + Normalize: HWC bytes to CHW float32 in `out` (at least width x height x channels
   * floats), each byte through `lut` (256 float32 values per channel, from to_tensor.ts).
   */
  toChw(src: Uint8Array, width: number, height: number, channels: number, lut: Float32Array, out: Float32Array): void;
  /**
   * Decode a JPEG (8-bit, 1 or 3 components) to RGB into `out` (width x height x 3 bytes, the frame
   * header's size) with libjpeg, on the libuv pool. Absent when the addon was built without libjpeg.
   */
  decodeJpeg?: (src: Uint8Array, width: number, height: number, out: Uint8Array) => Promise<void>;
  /**
   * PIL's AFFINE transform as augment_ops.ts computes it: `out` (outWidth x outHeight x channels)
   * is filled with `fill` (one byte per channel), then gets every pixel whose source lies in the
   * image. resample: 0 nearest, 1 bilinear, 2 bicubic.
   */
  affine(
    src: Uint8Array,
    width: number,
    height: number,
    channels: number,
    matrix: Float64Array,
    resample: 0 | 1 | 2,
    out: Uint8Array,
    outWidth: number,
    outHeight: number,
    fill: Uint8Array,
  ): void;
  /** ImageFilter.SMOOTH (augment_ops.ts `smooth`) into `out`, the same size as `src`. */
  smooth(src: Uint8Array, width: number, height: number, channels: number, out: Uint8Array): void;
  /** Image.blend's float32 arithmetic (augment_ops.ts `blend`) of two equal-sized byte arrays. */
  blend(a: Uint8Array, b: Uint8Array, alpha: number, out: Uint8Array): void;
  /** out[i] = lut[256 * band + src[i]] (a 256-entry table, or 256 per band). */
  lut(src: Uint8Array, channels: number, lut: Uint8Array, out: Uint8Array): void;
  /** The loops in use on this thread and the widest the CPU runs. */
  simd(): { level: SimdLevel; best: SimdLevel };
  /** Use other loops on this thread (at most `best`): tests compare every path with JavaScript. */
  setSimd(level: SimdLevel): { level: SimdLevel; best: SimdLevel };
}

const ADDON = 'native/image/build/Release/noisy_student_image.node';

const findAddon = (): string | null => findPackageFile(ADDON);

let loaded: NativeImage | null | undefined;
let loadError: string | null = null;

/** The addon, or null when it is disabled or not built (then `nativeImageError()` says why). */
export function nativeImage(): NativeImage | null {
  // Read on every call (cheap next to a resize) so a benchmark can switch paths within one process.
  if (process.env['NOISY_STUDENT_IMAGE_NATIVE'] === '0') {
    loadError = 'disabled by NOISY_STUDENT_IMAGE_NATIVE=0';
    return null;
  }
  if (loaded !== undefined) return loaded;
  loaded = null;
  const path = findAddon();
  if (!path) {
    loadError = `not built (${ADDON}; run \`node scripts/build-image-addon.mjs\`)`;
    return loaded;
  }
  try {
    loaded = createRequire(import.meta.url)(path) as NativeImage;
  } catch (e) {
    loadError = `failed to load ${path}: ${(e as Error).message}`;
  }
  return loaded;
}

export function nativeImageError(): string | null {
  return nativeImage() ? null : loadError;
}
