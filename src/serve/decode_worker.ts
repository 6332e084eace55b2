// Worker-thread side of the server's decode pool: encoded image bytes in, the model's input out
// (decoded PIL-style with the server's limits, then the eval transform predict uses, as float32 CHW,
// transferred back without a copy). The decode itself runs on this thread's libuv pool (libjpeg in
// the image addon, or sharp), so one job's decode overlaps another's transform.
import { parentPort, workerData } from 'node:worker_threads';
import type { DataConfig } from '../data/data_config.js';
import { type LoadImageOptions, ImageDecodeError, decodeImage } from '../data/image_io.js';
import { createTransform } from '../data/transforms_factory.js';

export interface DecodeJob {
  readonly id: number;
  readonly bytes: Uint8Array;
  readonly name: string;
}
export type DecodeReply =
  | { readonly type: 'ready' }
  | { readonly type: 'done'; readonly id: number; readonly ok: true; readonly data: Float32Array }
  | { readonly type: 'done'; readonly id: number; readonly ok: false; readonly code: string; readonly message: string };

export interface DecodeWorkerData {
  readonly config: DataConfig;
  readonly decode: LoadImageOptions;
}

const port = parentPort;
if (!port) throw new Error('decode_worker must run in a worker thread');
const { config, decode } = workerData as DecodeWorkerData;
const transform = createTransform(config);
const [c, h, w] = config.inputSize;

/**
 * decodeImage refuses an image over maxPixels from its header as E_IMAGE_TOO_LARGE, except when sharp
 * reads the header itself (formats other than plain JPEG): sharp's own pixel limit trips first, as a
 * decode error. That case is told apart here so the client hears 413 (too large), not 400.
 */
async function decodeLimited(job: DecodeJob) {
  try {
    return await decodeImage(job.bytes, job.name, decode);
  } catch (e) {
    if (!(e instanceof ImageDecodeError) || e.code !== 'E_IMAGE_DECODE' || !/exceeds pixel limit/.test(e.message)) throw e;
    const sharp = (await import('sharp')).default;
    const meta = await sharp(job.bytes, { limitInputPixels: false }).metadata();
    const limit = decode.maxPixels ?? 0;
    throw new ImageDecodeError('E_IMAGE_TOO_LARGE', job.name, `${meta.width}x${meta.height} exceeds the ${limit}-pixel limit`);
  }
}

async function run(job: DecodeJob): Promise<Float32Array> {
  const img = await decodeLimited(job);
  const out = new Float32Array(c * h * w);
  transform.toFloatInto(img, undefined, out);
  return out;
}

port.on('message', (job: DecodeJob) => {
  run(job).then(
    (data) => port.postMessage({ type: 'done', id: job.id, ok: true, data } satisfies DecodeReply, [data.buffer as ArrayBuffer]),
    (e: unknown) => {
      const err = e as Error & { code?: string };
      const code = e instanceof ImageDecodeError ? err.code! : (err.code ?? err.name);
      port.postMessage({ type: 'done', id: job.id, ok: false, code, message: err.message } satisfies DecodeReply);
    },
  );
});
port.postMessage({ type: 'ready' } satisfies DecodeReply);
