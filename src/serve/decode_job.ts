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
    const img = await decodeImage(bytes, name, decode);
    const out = new Float32Array(c * h * w);
    transform.toFloatInto(img, undefined, out);
    return out;
  };
}

/** An error's code for the reply: ImageDecodeError's (E_IMAGE_DECODE, E_IMAGE_TOO_LARGE), else the error's own. */
export function failureCode(e: unknown): string {
  const err = e as Error & { code?: string };
  return e instanceof ImageDecodeError ? err.code! : (err.code ?? err.name);
}
