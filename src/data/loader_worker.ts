// Worker-thread side of the loader: builds the transform once from workerData, then answers batch
// requests, transferring the float buffer back (no copy).
import { parentPort, workerData } from 'node:worker_threads';
import { type BatchRequest, type TransformSpec, makeBatchRunner } from './loader_batch.js';
import type { LoadImageOptions } from './image_io.js';

const { spec, decode } = workerData as { spec: TransformSpec; decode: LoadImageOptions };
const run = makeBatchRunner(spec, decode);
const port = parentPort;
if (!port) throw new Error('loader_worker must run in a worker thread');

port.on('message', (req: BatchRequest) => {
  run(req).then(
    (res) =>
      port.postMessage({ ok: true, res }, [
        res.data.buffer as ArrayBuffer,
        res.indices.buffer as ArrayBuffer,
        res.labels.buffer as ArrayBuffer,
      ]),
    (e: unknown) => port.postMessage({ ok: false, batch: req.batch, message: (e as Error).stack ?? String(e) }),
  );
});
