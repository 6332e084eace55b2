// Worker-thread side of the server's decode pool: encoded image bytes in, the model's input out
// (decode_job.ts), transferred back without a copy. The decode itself runs on this thread's libuv
// pool (libjpeg in the image addon, or sharp), so one job's decode overlaps another's transform.
import { parentPort, workerData } from 'node:worker_threads';
import type { DataConfig } from '../data/data_config.js';
import type { LoadImageOptions } from '../data/image_io.js';
import { failureCode, makeDecoder } from './decode_job.js';

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
const run = makeDecoder(config, decode);

port.on('message', (job: DecodeJob) => {
  run(job.bytes, job.name).then(
    (data) => port.postMessage({ type: 'done', id: job.id, ok: true, data } satisfies DecodeReply, [data.buffer as ArrayBuffer]),
    (e: unknown) =>
      port.postMessage({ type: 'done', id: job.id, ok: false, code: failureCode(e), message: (e as Error).message } satisfies DecodeReply),
  );
});
port.postMessage({ type: 'ready' } satisfies DecodeReply);
