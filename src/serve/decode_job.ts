// One image's way from request bytes to model input: decoded PIL-style with the server's limits,
// then the eval transform predict uses, as float32 CHW. Run in the decode workers
// (decode_worker.ts), or on the server's own thread when it has none (one core).
import type { DataConfig } from '../data/data_config.js';
import { type LoadImageOptions, ImageDecodeError, decodeImage } from '../data/image_io.js';
import { createTransform } from '../data/transforms_factory.js';

export type DecodeFn = (bytes: Uint8Array, name: string) => Promise<Float32Array>;

export function makeDecoder(config: DataConfig, decode: LoadImageOptions): DecodeFn {
  const transform = createTransform(config);
  const [c, h, w] = config.inputSize;
  return async (bytes, name) => {
    const img = await decodeLimited(bytes, name, decode);
    const out = new Float32Array(c * h * w);
    transform.toFloatInto(img, undefined, out);
    return out;
  };
}

/**
 * decodeImage refuses an image over maxPixels from its header as E_IMAGE_TOO_LARGE, except when sharp
 * reads the header itself (formats other than plain JPEG): sharp's own pixel limit trips first, as a
 * decode error. That case is told apart here so the client hears 413 (too large), not 400.
 */
async function decodeLimited(bytes: Uint8Array, name: string, decode: LoadImageOptions) {
  try {
    return await decodeImage(bytes, name, decode);
  } catch (e) {
    if (!(e instanceof ImageDecodeError) || e.code !== 'E_IMAGE_DECODE' || !/exceeds pixel limit/.test(e.message)) throw e;
    const sharp = (await import('sharp')).default;
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    throw new ImageDecodeError('E_IMAGE_TOO_LARGE', name, `${meta.width}x${meta.height} exceeds the ${decode.maxPixels ?? 0}-pixel limit`);
  }
}

/** An error's code for the reply: ImageDecodeError's (E_IMAGE_DECODE, E_IMAGE_TOO_LARGE), else the error's own. */
export function failureCode(e: unknown): string {
  const err = e as Error & { code?: string };
  return e instanceof ImageDecodeError ? err.code! : (err.code ?? err.name);
}
