// The data loader: seeded shuffling, batching, decode + transform in a pool of worker threads with a
// bounded number of batches in flight, ordered (default) or completion-order delivery, and corrupt
// samples skipped, counted and reported.
//
// Reproducibility: the batch composition is a function of (seed, epoch) only (the permutation is
// drawn on the main thread) and every sample's augmentation uses Rng.forSample(seed, epoch, index),
// so 0, 1 or N workers produce bitwise-identical batches. Workers return Float32Arrays (transferred,
// not copied); turning them into tensors is the caller's job on the main thread.
//
// Memory: each running batch decodes its samples one after another (the next one's decode overlapping
// the current one's transform, so two decoded images at most), and all decodes in flight (in
// every worker, or in the prefetched batches on the calling thread) share one byte budget
// (maxDecodeBytesInFlight, estimated from each image's header); an image over the per-image cap
// (decode.maxDecodedBytes) is refused from its header and skipped like a corrupt file.
import { Rng } from './rng.js';
import type { LoadImageOptions } from './image_io.js';
import type { ImageDataset, SampleSource } from './datasets/dataset.js';
import { type BatchRequest, type BatchResult, type SampleError, type TransformSpec, makeBatchRunner } from './loader_batch.js';
import { DEFAULT_MAX_WORKER_CRASHES, LoaderError, WorkerPool } from './loader_pool.js';
import { ByteBudget, DEFAULT_DECODE_BYTES_IN_FLIGHT } from './decode_budget.js';

export type { BatchResult, SampleError, TransformSpec } from './loader_batch.js';
export { LoaderError } from './loader_pool.js';

export interface LoaderOptions {
  readonly batchSize: number;
  readonly transform: TransformSpec;
  /** Reshuffle every epoch from (seed, epoch). Default false (dataset order). */
  readonly shuffle?: boolean;
  readonly seed?: number;
  readonly dropLast?: boolean;
  /** Worker threads; 0 runs everything on the calling thread (decodes still overlap in libuv). */
  readonly numWorkers?: number;
  /** Maximum batches dispatched but not yet delivered. Default max(2, 2 * numWorkers). */
  readonly prefetch?: number;
  /** Deliver batches in order (default) or as they complete. */
  readonly ordered?: boolean;
  readonly decode?: LoadImageOptions;
  /** Called for every skipped sample (after it is counted in stats). */
  readonly onSampleError?: (e: SampleError) => void;
  /**
   * Worker deaths in a row (no batch completing in between) tolerated before the loader fails with
   * a LoaderError. A dead worker is replaced and its batch retried item by item; a sample that kills
   * a worker twice is skipped and reported like a corrupt file. Default 8.
   */
  readonly maxWorkerCrashes?: number;
  /**
   * Bytes that decodes running at the same time may hold (from each image's header: the decoded
   * pixels plus the 8-bit copy). A decode waits while the others hold the budget. Default 1 GiB.
   */
  readonly maxDecodeBytesInFlight?: number;
}

export interface LoaderStats {
  readonly epoch: number;
  batches: number;
  samples: number;
  skipped: number;
  readonly errors: SampleError[];
}

export class DataLoader implements AsyncDisposable {
  private readonly opts: Required<Omit<LoaderOptions, 'onSampleError' | 'decode'>> & Pick<LoaderOptions, 'onSampleError' | 'decode'>;
  private pool: WorkerPool | null = null;
  private local: ((req: BatchRequest) => Promise<BatchResult>) | null = null;
  private localBudget: ByteBudget | null = null;
  private running = false;
  /** Stats of the current (or last) epoch. */
  stats: LoaderStats = { epoch: -1, batches: 0, samples: 0, skipped: 0, errors: [] };

  constructor(
    readonly dataset: ImageDataset,
    opts: LoaderOptions,
  ) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1)
      throw new LoaderError(`batchSize must be a positive integer, got ${opts.batchSize}`);
    const numWorkers = opts.numWorkers ?? 0;
    if (!Number.isInteger(numWorkers) || numWorkers < 0)
      throw new LoaderError(`numWorkers must be a non-negative integer, got ${numWorkers}`);
    this.opts = {
      batchSize: opts.batchSize,
      transform: opts.transform,
      shuffle: opts.shuffle ?? false,
      seed: opts.seed ?? 0,
      dropLast: opts.dropLast ?? false,
      numWorkers,
      prefetch: Math.max(1, opts.prefetch ?? Math.max(2, 2 * numWorkers)),
      ordered: opts.ordered ?? true,
      decode: opts.decode,
      onSampleError: opts.onSampleError,
      maxWorkerCrashes: opts.maxWorkerCrashes ?? DEFAULT_MAX_WORKER_CRASHES,
      maxDecodeBytesInFlight: opts.maxDecodeBytesInFlight ?? DEFAULT_DECODE_BYTES_IN_FLIGHT,
    };
    if (!(this.opts.maxDecodeBytesInFlight > 0))
      throw new LoaderError(`maxDecodeBytesInFlight must be positive, got ${this.opts.maxDecodeBytesInFlight}`);
  }

  /** Batches per epoch (before any corrupt-sample skipping). */
  get length(): number {
    const n = this.dataset.length;
    return this.opts.dropLast ? Math.floor(n / this.opts.batchSize) : Math.ceil(n / this.opts.batchSize);
  }

  /** The dataset indices of each batch of `epoch`, in delivery order. */
  batchIndices(epoch: number): Int32Array[] {
    const n = this.dataset.length;
    const order = this.opts.shuffle
      ? Rng.fromKeys(this.opts.seed, 0x5f1e, epoch).permutation(n)
      : Int32Array.from({ length: n }, (_, i) => i);
    const out: Int32Array[] = [];
    for (let b = 0; b < this.length; b++) out.push(order.subarray(b * this.opts.batchSize, Math.min(n, (b + 1) * this.opts.batchSize)));
    return out;
  }

  private runBatch(req: BatchRequest): Promise<BatchResult> {
    if (this.opts.numWorkers > 0) {
      this.pool ??= new WorkerPool(
        this.opts.numWorkers,
        this.opts.transform,
        this.opts.decode ?? {},
        this.opts.maxWorkerCrashes,
        this.opts.maxDecodeBytesInFlight,
      );
      return this.pool.run(req);
    }
    this.localBudget ??= new ByteBudget(this.opts.maxDecodeBytesInFlight);
    this.local ??= makeBatchRunner(this.opts.transform, this.opts.decode ?? {}, this.localBudget);
    return this.local(req);
  }

  /** The most decode bytes held at once so far (by the current worker pool, or on this thread). */
  get decodePeakBytes(): number {
    return (this.opts.numWorkers > 0 ? this.pool?.budget.peak : this.localBudget?.peak) ?? 0;
  }

  private request(epoch: number, b: number, indices: Int32Array): BatchRequest {
    const threads = this.opts.numWorkers > 0;
    const sources: SampleSource[] = [];
    const labels: number[] = [];
    for (const i of indices) {
      const s = this.dataset.source(i);
      // A view into a large buffer would be cloned whole by postMessage: copy just the pixels.
      sources.push(threads && s.kind === 'image' ? { kind: 'image', image: { ...s.image, data: s.image.data.slice() } } : s);
      labels.push(this.dataset.label(i));
    }
    return { batch: b, epoch, seed: this.opts.seed, indices: [...indices], labels, sources };
  }

  /**
   * Iterate the batches of one epoch, from `startBatch` on (a resumed run skips what it trained).
   * Breaking out early waits for in-flight work, so nothing leaks.
   */
  async *epoch(epoch: number, startBatch = 0): AsyncGenerator<BatchResult> {
    if (this.running) throw new LoaderError('an epoch is already being iterated on this loader');
    this.running = true;
    const stats: LoaderStats = { epoch, batches: 0, samples: 0, skipped: 0, errors: [] };
    this.stats = stats;
    const batches = this.batchIndices(epoch);
    const pending = new Map<number, Promise<BatchResult>>();
    const first = Math.min(Math.max(0, startBatch), batches.length);
    let next = first;
    const dispatch = (): void => {
      while (next < batches.length && pending.size < this.opts.prefetch) {
        const b = next++;
        const p = this.runBatch(this.request(epoch, b, batches[b]!));
        p.catch(() => undefined); // observed below; avoid unhandled rejections while queued
        pending.set(b, p);
      }
    };
    try {
      dispatch();
      for (let delivered = first; delivered < batches.length; delivered++) {
        let res: BatchResult;
        if (this.opts.ordered) {
          res = await pending.get(delivered)!;
          pending.delete(delivered);
        } else {
          res = await Promise.race(pending.values());
          pending.delete(res.batch);
        }
        dispatch();
        for (const e of res.errors) {
          stats.skipped++;
          stats.errors.push(e);
          this.opts.onSampleError?.(e);
        }
        if (res.indices.length === 0) continue;
        stats.batches++;
        stats.samples += res.indices.length;
        yield res;
      }
    } finally {
      await Promise.allSettled(pending.values());
      this.running = false;
    }
  }

  /** Load any list of dataset indices as one batch (same transform and per-sample randomness). */
  fetch(epoch: number, key: number, indices: ArrayLike<number>): Promise<BatchResult> {
    return this.runBatch(this.request(epoch, key, Int32Array.from(indices)));
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = null;
    await pool?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
