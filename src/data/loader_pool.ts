// The loader's worker threads: a fixed number of slots, each running one batch at a time, that
// survives its workers dying. Every promise it hands out settles: with the batch, with a LoaderError
// (the pool failed or was closed), or, for a batch whose worker died, with the result of retrying it.
//
// A worker can die from an uncaught exception (an 'error' event), from process.exit in the thread,
// from the V8 heap limit (ERR_WORKER_OUT_OF_MEMORY) or from terminate(). Its slot is emptied and
// refilled with a fresh worker when work is next waiting (so a worker that dies while idle is
// replaced lazily). The batch it was running is retried once, item by item, so a one-off crash
// loses nothing and a sample that kills every worker it touches takes only itself down: it comes
// back as a SampleError, counted and reported like an undecodable file. Deaths are counted in a row
// (any batch that completes resets the count); past `maxCrashes` the pool fails with a LoaderError
// instead of respawning forever (a worker that cannot even start would otherwise loop).
//
// Decodes in all workers share one ByteBudget held here: a worker asks for a decode's bytes and
// waits for the grant; what a dying worker held (or asked for) is given back with it.
//
// Limit: worker threads share the process, so a native crash (SIGSEGV, abort() in a codec) still
// ends the whole process; only the failures above are survivable.
import { Worker } from 'node:worker_threads';
import type { LoadImageOptions } from './image_io.js';
import type { BatchRequest, BatchResult, SampleError, TransformSpec } from './loader_batch.js';
import { ByteBudget, DEFAULT_DECODE_BYTES_IN_FLIGHT } from './decode_budget.js';
import { loaderWorkerEntry } from './worker_entry.js';

/** Messages from the pool to a worker. */
export type ToWorker = { readonly type: 'batch'; readonly req: BatchRequest } | { readonly type: 'grant'; readonly id: number };
/** Messages from a worker to the pool. */
export type ToPool =
  | { readonly type: 'result'; readonly ok: true; readonly res: BatchResult }
  | { readonly type: 'result'; readonly ok: false; readonly message: string }
  | { readonly type: 'reserve'; readonly id: number; readonly bytes: number }
  | { readonly type: 'release'; readonly id: number };

export class LoaderError extends Error {
  readonly code = 'E_LOADER';
  constructor(message: string) {
    super(message);
    this.name = 'LoaderError';
  }
}

/** Internal: the worker running a task died; the pool retries or reports the task's samples. */
class WorkerDied extends Error {}

interface Task {
  readonly req: BatchRequest;
  readonly resolve: (r: BatchResult) => void;
  readonly reject: (e: Error) => void;
}

interface Slot {
  readonly w: Worker;
  task: Task | null;
  /** Budget reservations granted to this worker and not yet given back, by request id. */
  readonly held: Map<number, () => void>;
  /** Set once the worker is known dead or was terminated by us; later events are ignored. */
  gone: boolean;
}

/** Default for LoaderOptions.maxWorkerCrashes. */
export const DEFAULT_MAX_WORKER_CRASHES = 8;

export class WorkerPool {
  private readonly slots: (Slot | null)[];
  private readonly queue: Task[] = [];
  private closed = false;
  private failure: LoaderError | null = null;
  private crashesInARow = 0;
  private readonly make: () => Worker;
  private readonly chw: [number, number, number];
  readonly budget: ByteBudget;

  constructor(
    n: number,
    spec: TransformSpec,
    decode: LoadImageOptions,
    private readonly maxCrashes = DEFAULT_MAX_WORKER_CRASHES,
    decodeBytesInFlight = DEFAULT_DECODE_BYTES_IN_FLIGHT,
  ) {
    this.budget = new ByteBudget(decodeBytesInFlight);
    this.slots = Array.from({ length: n }, () => null);
    this.chw = [...spec.config.inputSize];
    // Running from TypeScript sources, the entry is a cached JavaScript bundle (worker_entry.ts).
    const entry = loaderWorkerEntry();
    const workerData = { spec, decode };
    this.make = () =>
      entry.kind === 'eval'
        ? new Worker(entry.code, { eval: true, workerData })
        : new Worker(entry.url, { workerData, execArgv: [...entry.execArgv] });
  }

  /** Run one batch; a batch whose worker dies is retried once item by item (see the header). */
  async run(req: BatchRequest): Promise<BatchResult> {
    try {
      return await this.attempt(req);
    } catch (e) {
      if (!(e instanceof WorkerDied)) throw e;
      const first = e.message;
      const parts = await Promise.all(
        req.indices.map((_, k) => {
          const one: BatchRequest = { ...req, indices: [req.indices[k]!], labels: [req.labels[k]!], sources: [req.sources[k]!] };
          return this.attempt(one).catch((e2: unknown) => {
            if (!(e2 instanceof WorkerDied)) throw e2;
            return this.failed(one, `${e2.message}; it had died on this sample's batch before (${first})`);
          });
        }),
      );
      return this.merge(req.batch, parts);
    }
  }

  private attempt(req: BatchRequest): Promise<BatchResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(new LoaderError('loader is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.closed || this.failure) return;
    for (let i = 0; i < this.slots.length && this.queue.length > 0; i++) {
      const slot = this.slots[i] ?? this.spawn(i);
      if (slot.task) continue;
      const t = this.queue.shift()!;
      slot.task = t;
      this.send(slot, { type: 'batch', req: t.req });
    }
  }

  private spawn(i: number): Slot {
    const slot: Slot = { w: this.make(), task: null, held: new Map(), gone: false };
    slot.w.on('message', (m: ToPool) => this.onMessage(slot, m));
    slot.w.on('error', (e: Error) => this.onDeath(slot, `crashed (${e.message})`));
    slot.w.on('exit', (code: number) => this.onDeath(slot, `exited with code ${code}`));
    this.slots[i] = slot;
    return slot;
  }

  private send(slot: Slot, m: ToWorker): void {
    slot.w.postMessage(m);
  }

  private onMessage(slot: Slot, m: ToPool): void {
    if (m.type === 'reserve') {
      this.budget.reserve(m.bytes).then(
        (release) => {
          if (slot.gone) {
            release(); // died while waiting: nothing to hand it
            return;
          }
          slot.held.set(m.id, release);
          this.send(slot, { type: 'grant', id: m.id });
        },
        () => undefined, // cancelled: the pool is closing or failed, the worker is being stopped
      );
      return;
    }
    if (m.type === 'release') {
      slot.held.get(m.id)?.();
      slot.held.delete(m.id);
      return;
    }
    const t = slot.task;
    slot.task = null;
    if (t) {
      this.crashesInARow = 0;
      if (m.ok) t.resolve(m.res);
      else t.reject(new LoaderError(`worker failed on batch ${t.req.batch}: ${m.message}`));
    }
    this.pump();
  }

  private onDeath(slot: Slot, why: string): void {
    if (slot.gone) return; // 'error' is followed by 'exit'; our own terminate() too
    this.retire(slot);
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots[i] = null;
    void slot.w.terminate().catch(() => undefined);
    const t = slot.task;
    slot.task = null;
    if (this.closed || this.failure) {
      t?.reject(this.failure ?? new LoaderError('loader closed'));
      return;
    }
    this.crashesInARow++;
    const what = `loader worker ${why}${t ? ` while loading batch ${t.req.batch}` : ' while idle'}`;
    if (this.crashesInARow > this.maxCrashes) {
      t?.reject(new WorkerDied(what)); // settled first; fail() settles everything else
      this.fail(
        new LoaderError(
          `loader workers keep dying: ${this.crashesInARow} deaths in a row without a batch completing, the last ${what}. ` +
            'Run with numWorkers 0 to see the underlying error, or raise maxWorkerCrashes if the data is expected to crash some workers.',
        ),
      );
      return;
    }
    t?.reject(new WorkerDied(what));
    this.pump();
  }

  /** The pool is unusable: settle every task and stop every worker. */
  private fail(err: LoaderError): void {
    this.failure = err;
    for (const q of this.queue.splice(0)) q.reject(err);
    this.budget.cancel(err);
    void this.stopAll(err);
  }

  /** Mark a worker gone and give back the decode bytes it held. */
  private retire(slot: Slot): void {
    slot.gone = true;
    for (const release of slot.held.values()) release();
    slot.held.clear();
  }

  private stopAll(err: LoaderError): Promise<unknown> {
    const stopping: Promise<unknown>[] = [];
    for (const [i, slot] of this.slots.entries()) {
      if (!slot) continue;
      this.slots[i] = null;
      this.retire(slot);
      slot.task?.reject(err);
      slot.task = null;
      stopping.push(slot.w.terminate().catch(() => undefined));
    }
    return Promise.all(stopping);
  }

  /** The samples of a batch that could not be loaded, as a batch with no images and one error each. */
  private failed(req: BatchRequest, message: string): BatchResult {
    const errors: SampleError[] = req.indices.map((index, k) => {
      const src = req.sources[k]!;
      return { index, path: src.kind === 'file' ? src.path : null, message };
    });
    return {
      batch: req.batch,
      data: new Float32Array(0),
      shape: [0, ...this.chw],
      indices: new Int32Array(0),
      labels: new Int32Array(0),
      errors,
    };
  }

  private merge(batch: number, parts: readonly BatchResult[]): BatchResult {
    const n = parts.reduce((s, p) => s + p.indices.length, 0);
    const per = this.chw[0] * this.chw[1] * this.chw[2];
    const data = new Float32Array(n * per);
    const indices = new Int32Array(n);
    const labels = new Int32Array(n);
    let o = 0;
    for (const p of parts) {
      data.set(p.data, o * per);
      indices.set(p.indices, o);
      labels.set(p.labels, o);
      o += p.indices.length;
    }
    return { batch, data, shape: [n, ...this.chw], indices, labels, errors: parts.flatMap((p) => p.errors) };
  }

  async close(): Promise<void> {
    this.closed = true;
    const err = new LoaderError('loader closed');
    for (const q of this.queue.splice(0)) q.reject(err);
    this.budget.cancel(err);
    await this.stopAll(err);
  }
}
