// The HTTP inference server behind `noisy-student serve`, as a library: a fastify app over one
// InferenceModel, with dynamic batching across requests (batcher.ts), decoding on worker threads
// (decode_pool.ts), Prometheus metrics (metrics.ts), backpressure and limits.
//
//   POST /v1/predict   an image as the body (image/*, application/octet-stream), or multipart/form-data
//                      with several; ?topk=5  ->  { predictions: [ { file?, topk: [ { index, label, prob } ] } ] }
//   POST /v1/features  the same bodies -> pre-logits: JSON { model, shape, features: [ { file?, values } ] },
//                      or raw little-endian float32 [N, F] (Accept: application/octet-stream or ?format=f32)
//   GET /v1/models     name, backend, precision, classes, input config
//   GET /healthz       the process answers;  GET /readyz  the model is loaded and the server not draining
//   GET /metrics       Prometheus text
//
// Every error is JSON { error: { code, message } }: 400 a body that is not a decodable image, 413
// over the body or pixel limit, 415 an unsupported content type, 422 a bad parameter, 503 queue full
// or not ready (with Retry-After), 504 over the request time limit. A refused image touches nothing
// shared: it fails in its decode worker and only its own request answers the error.
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import type { InferenceArray, InferenceModel } from '../models/index.js';
import { resolveDataConfig, type DataConfig } from '../data/data_config.js';
import { Batcher, type BatchOutput, type Submitted } from './batcher.js';
import { DecodeFailure, DecodePool } from './decode_pool.js';
import { HttpError, errorBody, fromFrameworkError } from './errors.js';
import { createMetrics, type ServeMetrics } from './metrics.js';
import { classNames, topkEntries, type TopkEntry } from '../models/index.js';
import { threadPlan } from '../util/cpu_budget.js';
import { chooseLoneThreads, loneThreadSwitch, type LoneThreads } from './lone_threads.js';

export interface ServeOptions {
  /** The model, or a function that loads it (the server answers /healthz, and 503 elsewhere, until it resolves). */
  readonly model: InferenceModel | (() => Promise<InferenceModel>);
  /** Release the model when the server closes. Default: true for a loader function, false for a model given. */
  readonly disposeModel?: boolean;
  /** Class names (a --class-map), one per class; default the model's own, or ImageNet's for 1000 classes. */
  readonly classMap?: readonly string[] | null;
  readonly host?: string;
  /** 0: any free port (listen() returns the URL). Default 8080. */
  readonly port?: number;
  /** Images per model call at most. Default 32. */
  readonly maxBatch?: number;
  /** How long an idle model waits for images still decoding to join a batch. Default 5 ms. */
  readonly maxWaitMs?: number;
  /** Images admitted (decoding, waiting or in the model) at most; beyond it requests get 503. Default 256. */
  readonly maxQueue?: number;
  /** Request body limit in bytes (a whole single-image body, or each part of a multipart one). Default 16 MiB. */
  readonly maxBodyBytes?: number;
  /** Decoded pixels per image at most (width x height, from the header before decoding). Default 50 million. */
  readonly maxPixels?: number;
  /** Images in one multipart request at most. Default 64. */
  readonly maxFiles?: number;
  /** A request not answered within this is answered 504. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Decode worker threads (0: decode on the server's thread). Default: the thread plan's loader workers for inference (1 on 2-6 cores, 0 on 1). */
  readonly decodeWorkers?: number;
  /**
   * libtorch threads for a batch of one image (a lone request): default measured at startup, 1 or the
   * thread plan's, whichever answers faster (lone_threads.ts); batches of two or more get the plan's.
   */
  readonly loneThreads?: number;
  /** fastify's logger (default off). */
  readonly logger?: boolean;
}

export type ServerState = 'loading' | 'ready' | 'draining' | 'closed' | 'failed';

export interface InferenceServer {
  /** The fastify app (routes registered); listen() or embed it (app.routing, app.inject). */
  readonly app: FastifyInstance;
  readonly metrics: ServeMetrics;
  readonly state: ServerState;
  /** Resolves when the model is loaded and the decode workers are up; rejects if loading failed. */
  readonly loaded: Promise<void>;
  /** The threads a lone image and a batch get, once loaded (null before). */
  readonly threads: LoneThreads | null;
  /** Listen on the options' host and port; the URL (with the real port when port is 0). */
  listen(): Promise<string>;
  /** Graceful shutdown: stop accepting, answer every request in flight, stop the workers, release the model. */
  close(): Promise<void>;
}

const DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  maxBatch: 32,
  maxWaitMs: 5,
  maxQueue: 256,
  maxBodyBytes: 16 * 1024 * 1024,
  maxPixels: 50_000_000,
  maxFiles: 64,
  requestTimeoutMs: 30_000,
} as const;

/** Bodies up to this size may be decoded on the server's thread when it is otherwise idle (a 500x375 JPEG is ~40 KB). */
const INLINE_DECODE_BYTES = 1 << 20;

/** Content types a single-image body may have (the decoder sniffs the format itself). */
const IMAGE_TYPES = /^(image\/[a-z0-9.+-]+|application\/octet-stream)$/;

interface Loaded {
  readonly model: InferenceModel;
  readonly batcher: Batcher;
  readonly pool: DecodePool;
  readonly names: readonly string[] | null;
  readonly config: DataConfig;
}

interface Upload {
  /** The part's file name (multipart only). */
  readonly file?: string;
  readonly bytes: Buffer;
}

const positive = (name: string, v: number, int = true): number => {
  if (!(v > 0) || (int && !Number.isInteger(v)))
    throw new RangeError(`serve: ${name} must be a positive ${int ? 'integer' : 'number'}, got ${v}`);
  return v;
};

/** Build the server (not yet listening) and start loading its model. */
export function createInferenceServer(opts: ServeOptions): InferenceServer {
  const o = { ...DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as Required<ServeOptions>;
  positive('maxBatch', o.maxBatch);
  if (!(o.maxWaitMs >= 0)) throw new RangeError(`serve: maxWaitMs must be >= 0, got ${o.maxWaitMs}`);
  positive('maxQueue', o.maxQueue);
  positive('maxBodyBytes', o.maxBodyBytes);
  positive('maxPixels', o.maxPixels);
  positive('maxFiles', o.maxFiles);
  positive('requestTimeoutMs', o.requestTimeoutMs);
  const decodeWorkers = opts.decodeWorkers ?? threadPlan('serve').loaderWorkers;
  if (!Number.isInteger(decodeWorkers) || decodeWorkers < 0)
    throw new RangeError(`serve: decodeWorkers must be a non-negative integer, got ${decodeWorkers}`);
  const disposeModel = opts.disposeModel ?? typeof opts.model === 'function';

  const metrics = createMetrics({ maxBatch: o.maxBatch });
  let state: ServerState = 'loading';
  let ctx: Loaded | null = null;
  let threads: LoneThreads | null = null;
  /** Images admitted and not yet answered. */
  let admitted = 0;

  const app = Fastify({
    logger: o.logger ?? false,
    bodyLimit: o.maxBodyBytes,
    // Node's own limit on receiving a request (a client trickling its body); ours (504) covers the answer.
    requestTimeout: o.requestTimeoutMs + 5_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });

  const loaded = (async () => {
    const model = typeof opts.model === 'function' ? await opts.model() : opts.model;
    try {
      if (!model.outputs.includes('logits'))
        throw new Error(`serve: ${model.name} gives no logits (a features_only model cannot be served)`);
      if (o.classMap && o.classMap.length !== model.numClasses) {
        throw new Error(`serve: the class map has ${o.classMap.length} names but ${model.name} has ${model.numClasses} classes`);
      }
      // predict's preprocessing: the model's pretrained config, timm's eval transform.
      const config = resolveDataConfig({}, model);
      const pool = new DecodePool({ workers: decodeWorkers, config, decode: { maxPixels: o.maxPixels } });
      await pool.start();
      threads = await chooseLoneThreads(model, config.inputSize, opts.loneThreads);
      const beforeRun = loneThreadSwitch(threads);
      const batcher = new Batcher(model, config.inputSize, {
        maxBatch: o.maxBatch,
        maxWaitMs: o.maxWaitMs,
        ...(beforeRun ? { beforeRun } : {}),
        onBatch: ({ output, size, seconds }) => {
          metrics.batchSize.observe({ output }, size);
          metrics.batchSeconds.observe({ output }, seconds);
        },
      });
      ctx = { model, batcher, pool, names: classNames(model, o.classMap ?? null), config };
      if (state === 'loading') state = 'ready';
    } catch (e) {
      if (disposeModel) await model.dispose();
      throw e;
    }
  })();
  loaded.catch(() => {
    state = 'failed';
  });

  void app.register(multipart, { limits: { fileSize: o.maxBodyBytes, files: o.maxFiles, fields: 16, parts: o.maxFiles + 16 } });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((e: Error & { code?: string; statusCode?: number }, _req, reply) => {
    const h = fromFrameworkError(e);
    if (h.status >= 500 && h.status !== 503 && h.status !== 504) app.log.error(e);
    void reply.code(h.status).headers(h.headers).send(errorBody(h.code, h.message));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody('not_found', `no route ${req.method} ${req.url}`));
  });

  app.addHook('onRequest', async (req) => {
    metrics.inFlight.inc();
    (req as TimedRequest).startedAt = performance.now();
  });
  // While draining, every answer closes its connection: a client's keep-alive socket would otherwise
  // hold close() open until the keep-alive timeout.
  app.addHook('onSend', async (_req, reply) => {
    if (state === 'draining') void reply.header('connection', 'close');
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.inFlight.dec();
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, (performance.now() - (req as TimedRequest).startedAt) / 1000);
  });

  /** Checks made before a POST's body is read: readiness, room in the queue, content type, parameters. */
  const admit = async (req: FastifyRequest) => {
    if (state !== 'ready' || !ctx) {
      throw new HttpError(
        503,
        state === 'loading' ? 'not_ready' : 'shutting_down',
        `the server is ${state === 'loading' ? 'loading its model' : state}`,
        {
          'retry-after': '1',
        },
      );
    }
    if (admitted >= o.maxQueue) {
      metrics.rejected.inc({ reason: 'queue_full' });
      throw new HttpError(503, 'queue_full', `${admitted} images are queued (the limit is ${o.maxQueue}); retry later`, {
        'retry-after': '1',
      });
    }
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== '' && type !== 'multipart/form-data' && !IMAGE_TYPES.test(type)) {
      throw new HttpError(
        415,
        'unsupported_media_type',
        `content type ${type} is not an image: send image/* or application/octet-stream, or multipart/form-data`,
      );
    }
  };

  const uploads = async (req: FastifyRequest): Promise<Upload[]> => {
    if (!req.isMultipart()) {
      const body = req.body as Buffer | undefined;
      return [{ bytes: Buffer.isBuffer(body) ? body : Buffer.alloc(0) }];
    }
    const out: Upload[] = [];
    for await (const part of req.parts()) {
      if (part.type !== 'file') continue; // form fields carry nothing for us
      out.push({ file: part.filename, bytes: await part.toBuffer() });
    }
    if (out.length === 0) throw new HttpError(400, 'no_image', 'the multipart body has no file part');
    return out;
  };

  /**
   * Every upload through a decode worker and the batcher; one model output row per upload, in order.
   * Rejects with the first failure (naming the part); the request's other images are cancelled.
   */
  const infer = async (
    req: FastifyRequest,
    reply: FastifyReply,
    output: BatchOutput,
  ): Promise<{ files: Upload[]; rows: InferenceArray[] }> => {
    const c = ctx!;
    const files = await uploads(req);
    if (admitted + files.length > o.maxQueue && admitted > 0) {
      metrics.rejected.inc({ reason: 'queue_full' });
      throw new HttpError(503, 'queue_full', `${admitted} images are queued (the limit is ${o.maxQueue}); retry later`, {
        'retry-after': '1',
      });
    }
    files.forEach((f, i) => {
      if (f.bytes.length === 0) {
        metrics.decodeFailures.inc({ reason: 'empty' });
        throw new HttpError(400, 'empty_body', `${describe(f, i, files.length)}is empty: send the image's bytes`);
      }
    });
    admitted += files.length;
    metrics.queueDepth.set(admitted);
    const submitted: Submitted[] = [];
    let done = false;
    const abandon = () => {
      done = true;
      for (const s of submitted) s.cancel();
    };
    reply.raw.once('close', abandon); // the client went away: its images are not run
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HttpError(504, 'timeout', `the request was not answered within ${o.requestTimeoutMs} ms`)),
        o.requestTimeoutMs,
      );
    });
    try {
      // A lone, small image with the model idle is decoded on this thread: nothing else is waiting for
      // it, and the worker's round trip was most of a lone request's tail. Large bodies still go to a
      // worker: the resize of a photo of many megapixels would hold this thread (health checks, accepts).
      const here = files.length === 1 && files[0]!.bytes.length <= INLINE_DECODE_BYTES && c.batcher.free;
      const work = files.map(async (f, i): Promise<InferenceArray> => {
        c.batcher.expect();
        let input: Float32Array;
        const t0 = performance.now();
        try {
          input = await (here ? c.pool.decodeHere(f.bytes, f.file ?? '<body>') : c.pool.decode(f.bytes, f.file ?? '<body>'));
          metrics.decodeSeconds.observe((performance.now() - t0) / 1000);
        } catch (e) {
          c.batcher.unexpect();
          throw decodeError(e, describe(f, i, files.length), metrics);
        }
        if (done) {
          c.batcher.unexpect();
          throw new HttpError(499, 'abandoned', 'the request was abandoned');
        }
        const s = c.batcher.submit(input, output, { decoded: true });
        submitted.push(s);
        return s.result;
      });
      work.forEach((p) => p.catch(() => undefined)); // the first failure is reported; the others are cancelled
      return { files, rows: await Promise.race([Promise.all(work), timeout]) };
    } catch (e) {
      abandon();
      throw e;
    } finally {
      clearTimeout(timer);
      reply.raw.off('close', abandon);
      admitted -= files.length;
      metrics.queueDepth.set(admitted);
    }
  };

  app.post('/v1/predict', { onRequest: admit }, async (req, reply) => {
    const topk = parseTopk((req.query as Record<string, unknown>)['topk']);
    const { files, rows } = await infer(req, reply, 'logits');
    const names = ctx!.names;
    const predictions = files.map((f, i) => {
      const entries: TopkEntry[] = topkEntries(rows[i]!, topk, names)[0]!;
      return f.file !== undefined ? { file: f.file, topk: entries } : { topk: entries };
    });
    return { predictions };
  });

  app.post('/v1/features', { onRequest: admit }, async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const format = q['format'] ?? (/application\/octet-stream/.test(req.headers.accept ?? '') ? 'f32' : 'json');
    if (format !== 'json' && format !== 'f32')
      throw new HttpError(422, 'bad_parameter', `format must be json or f32, got ${String(format)}`);
    const { files, rows } = await infer(req, reply, 'pre_logits');
    const width = ctx!.model.numFeatures;
    if (format === 'f32') {
      const out = Buffer.alloc(rows.length * width * 4);
      const f32 = new Float32Array(out.buffer, out.byteOffset, rows.length * width);
      rows.forEach((r, i) => f32.set(r.data, i * width));
      return reply.type('application/octet-stream').header('x-shape', `${rows.length},${width}`).header('x-dtype', 'float32-le').send(out);
    }
    const features = files.map((f, i) => {
      const values = Array.from(rows[i]!.data);
      return f.file !== undefined ? { file: f.file, values } : { values };
    });
    return { model: ctx!.model.name, shape: [rows.length, width], features };
  });

  app.get('/v1/models', async () => {
    if (!ctx) throw new HttpError(503, 'not_ready', 'the model is not loaded yet', { 'retry-after': '1' });
    const { model, config, names } = ctx;
    return {
      models: [
        {
          name: model.name,
          backend: model.backend,
          precision: model.precision,
          numClasses: model.numClasses,
          numFeatures: model.numFeatures,
          classes: names,
          input: {
            inputSize: config.inputSize,
            interpolation: config.interpolation,
            mean: config.mean,
            std: config.std,
            cropPct: config.cropPct,
            cropMode: config.cropMode,
          },
          batching: { maxBatch: o.maxBatch, maxWaitMs: o.maxWaitMs, maxQueue: o.maxQueue },
        },
      ],
    };
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (state === 'ready') return { status: 'ready' };
    return reply
      .code(503)
      .header('retry-after', '1')
      .send(errorBody(state === 'loading' ? 'not_ready' : 'shutting_down', `the server is ${state}`));
  });
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      if (state !== 'failed') state = 'draining';
      // Stops accepting; requests in flight are answered (each within its time limit) before it resolves.
      // Connections left idle are closed as they become so, and any still open past the longest a
      // request may take (a client that never reads its answer) are cut.
      const deadline = performance.now() + o.requestTimeoutMs + 5_000;
      const sweep = setInterval(() => {
        if (performance.now() > deadline) app.server.closeAllConnections();
        else app.server.closeIdleConnections();
      }, 50);
      try {
        await app.close();
      } finally {
        clearInterval(sweep);
      }
      await loaded.catch(() => undefined);
      if (ctx) {
        await ctx.batcher.idle();
        await ctx.pool.close();
        if (disposeModel) await ctx.model.dispose();
      }
      if (state !== 'failed') state = 'closed';
    })());

  return {
    app,
    metrics,
    get state() {
      return state;
    },
    get threads() {
      return threads;
    },
    loaded,
    async listen() {
      return app.listen({ host: o.host, port: o.port });
    },
    close,
  };
}

/** createInferenceServer + listen; resolves once it listens (the model may still be loading: see `loaded`). */
export async function serve(opts: ServeOptions): Promise<InferenceServer & { url: string }> {
  const server = createInferenceServer(opts);
  try {
    const url = await server.listen();
    return Object.assign(server, { url });
  } catch (e) {
    await server.close();
    throw e;
  }
}

interface TimedRequest extends FastifyRequest {
  startedAt: number;
}

function parseTopk(v: unknown): number {
  if (v === undefined) return 5;
  const s = String(v);
  const k = /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(k) || k < 1) throw new HttpError(422, 'bad_parameter', `topk must be a positive integer, got "${s}"`);
  return k;
}

const describe = (f: Upload, i: number, n: number): string =>
  f.file !== undefined ? `part "${f.file}" ` : n > 1 ? `image ${i + 1} ` : 'the body ';

function decodeError(e: unknown, what: string, metrics: ServeMetrics): HttpError {
  if (!(e instanceof DecodeFailure)) return new HttpError(500, 'internal', (e as Error).message);
  if (e.code === 'E_IMAGE_TOO_LARGE') {
    metrics.decodeFailures.inc({ reason: 'too_large' });
    return new HttpError(413, 'image_too_large', `${what}is too large: ${e.message.replace(/^cannot decode image [^:]*: /, '')}`);
  }
  if (e.code === 'E_IMAGE_DECODE') {
    metrics.decodeFailures.inc({ reason: 'decode' });
    return new HttpError(400, 'bad_image', `${what}is not a decodable image: ${e.message.replace(/^cannot decode image [^:]*: /, '')}`);
  }
  metrics.decodeFailures.inc({ reason: 'other' });
  return new HttpError(e.code === 'E_CLOSED' ? 503 : 500, e.code === 'E_CLOSED' ? 'shutting_down' : 'internal', e.message);
}
