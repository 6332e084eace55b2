// The server's decode workers: a few threads that turn request bodies into model inputs off the
// thread that answers HTTP and drives the model. Jobs go to the least busy worker, at most
// `perWorker` at a time each (two: one decoding on libuv while the other is transformed); with none,
// on the calling thread (a 1-core machine: a worker could only time-slice with the model). A worker
// that dies fails only the jobs it held (a 500 for those requests) and is replaced on the next job.
import { Worker } from 'node:worker_threads';
import type { DataConfig } from '../data/data_config.js';
import type { LoadImageOptions } from '../data/image_io.js';
import { workerEntry } from '../data/worker_entry.js';
import type { DecodeJob, DecodeReply, DecodeWorkerData } from './decode_worker.js';
import { type DecodeFn, failureCode, makeDecoder } from './decode_job.js';

/** An image the pool could not turn into a model input; `code` is ImageDecodeError's (E_IMAGE_DECODE, E_IMAGE_TOO_LARGE) or another error's. */
export class DecodeFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DecodeFailure';
  }
}

interface Pending {
  readonly resolve: (x: Float32Array) => void;
  readonly reject: (e: Error) => void;
}

interface Slot {
  readonly w: Worker;
  readonly jobs: Map<number, Pending>;
  readonly ready: Promise<void>;
  gone: boolean;
}

interface Queued {
  readonly job: DecodeJob;
  readonly pending: Pending;
}

const MAX_CRASHES = 8;

export interface DecodePoolOptions {
  readonly workers: number;
  readonly config: DataConfig;
  readonly decode: LoadImageOptions;
  readonly perWorker?: number;
}

export class DecodePool {
  private readonly slots: (Slot | null)[];
  private readonly queue: Queued[] = [];
  private readonly perWorker: number;
  private readonly data: DecodeWorkerData;
  private nextId = 0;
  private closed = false;
  /** Worker deaths since a job last completed: past MAX_CRASHES the pool stops respawning (a worker that cannot start would loop). */
  private crashes = 0;
  private failure: DecodeFailure | null = null;

  /** With no workers: the decode on this thread (its libuv pool still decodes JPEGs off it). */
  private readonly inline: DecodeFn | null;
  /** decodeHere()'s decoder, made on its first use. */
  private here: DecodeFn | null = null;

  constructor(opts: DecodePoolOptions) {
    if (!Number.isInteger(opts.workers) || opts.workers < 0)
      throw new RangeError(`decode workers must be a non-negative integer, got ${opts.workers}`);
    this.slots = Array.from({ length: opts.workers }, () => null);
    this.perWorker = opts.perWorker ?? 2;
    this.data = { config: opts.config, decode: opts.decode };
    this.inline = opts.workers === 0 ? makeDecoder(opts.config, opts.decode) : null;
  }

  /** Start every worker and wait until each has loaded its code (so the first request does not pay for it). */
  async start(): Promise<void> {
    await Promise.all(this.slots.map((s, i) => (s ?? this.spawn(i)).ready));
  }

  /** The model input of one encoded image; rejects with DecodeFailure. */
  decode(bytes: Uint8Array, name: string): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new DecodeFailure('E_CLOSED', 'the decode pool is closed'));
    if (this.failure) return Promise.reject(this.failure);
    if (this.inline) return this.decodeHere(bytes, name);
    // Transferred to the worker: a Buffer that is a view into a shared pool is copied first.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && !(bytes.buffer instanceof SharedArrayBuffer);
    const data = own ? bytes : bytes.slice();
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { id: this.nextId++, bytes: data, name }, pending: { resolve, reject } });
      this.pump();
    });
  }

  /**
   * The same decode on the calling thread, for an image nobody else is waiting behind (the server's
   * lone request with the model idle): a worker's round trip costs it more than the thread it frees.
   */
  decodeHere(bytes: Uint8Array, name: string): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new DecodeFailure('E_CLOSED', 'the decode pool is closed'));
    this.here ??= this.inline ?? makeDecoder(this.data.config, this.data.decode);
    return this.here(bytes, name).catch((e: unknown) => Promise.reject(new DecodeFailure(failureCode(e), (e as Error).message)));
  }

  private pump(): void {
    if (this.failure) return;
    while (this.queue.length > 0) {
      let best: Slot | null = null;
      for (let i = 0; i < this.slots.length; i++) {
        const s = this.slots[i] ?? this.spawn(i);
        if (s.jobs.size < this.perWorker && (!best || s.jobs.size < best.jobs.size)) best = s;
      }
      if (!best) return;
      const { job, pending } = this.queue.shift()!;
      best.jobs.set(job.id, pending);
      best.w.postMessage(job, [job.bytes.buffer as ArrayBuffer]);
    }
  }

  private spawn(i: number): Slot {
    // From the TypeScript sources, a cached JavaScript bundle of the worker, as the loader's (worker_entry.ts).
    const entry = workerEntry(import.meta.url, 'decode_worker');
    const w =
      entry.kind === 'eval'
        ? new Worker(entry.code, { eval: true, workerData: this.data })
        : new Worker(entry.url, { workerData: this.data, execArgv: [...entry.execArgv] });
    let markReady: () => void = () => {};
    let failStart: (e: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failStart = reject;
    });
    ready.catch(() => undefined); // start() reports it; a lazily spawned worker's death fails its jobs instead
    const slot: Slot = { w, jobs: new Map(), ready, gone: false };
    w.on('message', (m: DecodeReply) => {
      if (m.type === 'ready') return markReady();
      const p = slot.jobs.get(m.id);
      slot.jobs.delete(m.id);
      this.crashes = 0;
      if (m.ok) p?.resolve(m.data);
      else p?.reject(new DecodeFailure(m.code, m.message));
      this.pump();
    });
    const died = (why: string) => {
      if (slot.gone) return;
      slot.gone = true;
      failStart(new DecodeFailure('E_WORKER', `decode worker ${why} before it was ready`));
      if (this.slots[i] === slot) this.slots[i] = null;
      for (const p of slot.jobs.values()) p.reject(new DecodeFailure('E_WORKER', `decode worker ${why}`));
      slot.jobs.clear();
      if (this.closed) return;
      if (++this.crashes > MAX_CRASHES) {
        this.failure = new DecodeFailure('E_WORKER', `decode workers keep dying (${this.crashes} in a row, the last ${why})`);
        for (const q of this.queue.splice(0)) q.pending.reject(this.failure);
        return;
      }
      this.pump();
    };
    w.on('error', (e) => died(`crashed (${e.message})`));
    w.on('exit', (code) => died(`exited with code ${code}`));
    this.slots[i] = slot;
    return slot;
  }

  /** Stop the workers; jobs not yet answered are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    for (const q of this.queue.splice(0)) q.pending.reject(new DecodeFailure('E_CLOSED', 'the decode pool is closed'));
    const stopping: Promise<unknown>[] = [];
    for (const [i, s] of this.slots.entries()) {
      if (!s) continue;
      this.slots[i] = null;
      s.gone = true;
      for (const p of s.jobs.values()) p.reject(new DecodeFailure('E_CLOSED', 'the decode pool is closed'));
      s.jobs.clear();
      stopping.push(s.w.terminate().catch(() => undefined));
    }
    await Promise.all(stopping);
  }
}
