// `noisy-student serve --model NAME (--checkpoint P | --pretrained)`: the model behind an HTTP API
// (src/serve/server.ts) with dynamic batching across requests. The model is loaded the way predict
// loads it (same backends, precisions, weights and class names), so the answers are predict's.
// SIGTERM or SIGINT: stop accepting, answer what is in flight, exit 0 (a second signal exits at once).
import { Command } from 'commander';
import { serve } from '../../serve/server.js';
import { CliError } from '../errors.js';
import {
  addBackendOptions,
  addModelOptions,
  calibrationFromOptions,
  globalOptions,
  intArg,
  loadInferenceFromOptions,
  validateModelOptions,
  type ModelCliOptions,
} from '../options.js';
import { readClassMap } from './predict.js';

interface ServeCliOptions extends ModelCliOptions {
  host: string;
  port: number;
  maxBatch: number;
  maxWaitMs: number;
  maxQueue: number;
  maxBodyMb: number;
  maxPixels: number;
  maxFiles: number;
  requestTimeoutMs: number;
  workers?: number;
  loneThreads?: number;
  classMap?: string;
}

export default function serveCommand(): Command {
  const cmd = new Command('serve')
    .summary('an HTTP inference server (predict, features) with dynamic batching')
    .description(
      'Serve a model over HTTP: POST /v1/predict and /v1/features (an image body, or multipart with several), ' +
        'GET /v1/models, /healthz, /readyz and /metrics (Prometheus). Concurrent requests share model calls ' +
        '(up to --max-batch images, waiting at most --max-wait-ms for images still decoding); a full queue answers 503. ' +
        'SIGTERM drains the requests in flight and exits 0.',
    );
  addBackendOptions(addModelOptions(cmd))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0: any free port, printed on stderr)', intArg(0), 8080)
    .option('--max-batch <n>', 'images per model call at most', intArg(1), 32)
    .option('--max-wait-ms <ms>', 'how long an idle model waits for images still decoding to join its batch', intArg(0), 5)
    .option('--max-queue <n>', 'images admitted (decoding, queued or running) at most; beyond it: 503 with Retry-After', intArg(1), 256)
    .option('--max-body-mb <mb>', 'request body limit (each part of a multipart body), MiB', intArg(1), 16)
    .option(
      '--max-pixels <n>',
      "decoded pixels per image at most (from the image's header, before decoding): 413 beyond",
      intArg(1),
      50_000_000,
    )
    .option('--max-files <n>', 'images per multipart request at most', intArg(1), 64)
    .option('--request-timeout-ms <ms>', 'a request not answered within this gets 504', intArg(1), 30_000)
    .option(
      '--workers <n>',
      "decode worker threads (0: decode on the server's thread; default: the thread plan's, 1 on 2-6 cores); libtorch gets the cores they leave",
      intArg(0),
    )
    .option(
      '--lone-threads <n>',
      'libtorch threads for a batch of one image (default: measured at startup, 1 or all, whichever answers faster)',
      intArg(1),
    )
    .option('--class-map <file>', 'class names, one per line in class-index order (ImageNet names are built in)');
  return cmd.action(async (o: ServeCliOptions, self: Command) => {
    const { quiet } = globalOptions(self);
    validateModelOptions(o, { command: 'serve', requireWeights: true });
    const classMap = o.classMap ? readClassMap(o.classMap) : null;
    const calibration = calibrationFromOptions(o);
    const model = await loadInferenceFromOptions(o, { command: 'serve', requireWeights: true, quiet, batchSize: o.maxBatch, calibration });
    if (classMap && classMap.length !== model.numClasses) {
      await model.dispose();
      throw new CliError(`class map ${o.classMap} has ${classMap.length} names but ${o.model} has ${model.numClasses} classes`);
    }
    const server = await serve({
      model,
      disposeModel: true,
      classMap,
      host: o.host,
      port: o.port,
      maxBatch: o.maxBatch,
      maxWaitMs: o.maxWaitMs,
      maxQueue: o.maxQueue,
      maxBodyBytes: o.maxBodyMb * 1024 * 1024,
      maxPixels: o.maxPixels,
      maxFiles: o.maxFiles,
      requestTimeoutMs: o.requestTimeoutMs,
      ...(o.workers !== undefined ? { decodeWorkers: o.workers } : {}),
      ...(o.loneThreads !== undefined ? { loneThreads: o.loneThreads } : {}),
    });
    try {
      await server.loaded;
    } catch (e) {
      await server.close();
      throw e;
    }
    // Always printed (also with --quiet): with --port 0 it is the only place the port is said.
    process.stderr.write(`serving ${model.name} (${model.backend}, ${model.precision}) on ${server.url}\n`);
    const t = server.threads;
    if (!quiet && t?.measured) process.stderr.write(`threads: ${t.lone} for a lone image, ${t.full} for a batch (${t.reason})\n`);
    await new Promise<void>((resolve, reject) => {
      let signals = 0;
      const stop = (sig: NodeJS.Signals) => {
        if (++signals > 1) {
          process.stderr.write(`${sig} again: exiting without draining\n`);
          process.exit(1);
        }
        if (!quiet) process.stderr.write(`${sig}: draining the requests in flight\n`);
        server.close().then(() => {
          if (!quiet) process.stderr.write('stopped\n');
          resolve();
        }, reject);
      };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
  });
}
