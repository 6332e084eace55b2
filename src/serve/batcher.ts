// Dynamic batching: images from concurrent requests share one model call. The model runs one batch
// at a time (it already uses every intra-op thread); while it runs, newly decoded images queue up
// and go together in the next call, up to maxBatch. When the model is idle, an image is sent at once
// unless other images are still being decoded (the server says how many: expect/unexpect): then the
// batch waits for them up to maxWaitMs after its first image arrived. So a lone request never waits
// out maxWait, and a burst is not cut into batches of one by the first image to finish decoding.
// Logits and pre-logits are different model calls: each has its own queue, and the idle model takes
// the queue whose first image has waited longest.
import type { InferenceArray, InferenceModel, InferenceOutput } from '../models/index.js';

export type BatchOutput = Extract<InferenceOutput, 'logits' | 'pre_logits'>;

export interface BatcherOptions {
  readonly maxBatch: number;
  readonly maxWaitMs: number;
  /** Called before every model call with its batch size (serve sets libtorch's threads from it). */
  readonly beforeRun?: (size: number) => void;
  /** Called after every model call (metrics). */
  readonly onBatch?: (info: { output: BatchOutput; size: number; seconds: number }) => void;
}

interface Item {
  readonly input: Float32Array;
  readonly arrived: number;
  readonly resolve: (row: InferenceArray) => void;
  readonly reject: (e: Error) => void;
  /** Set when the request gave up (timed out, client gone): skipped, never run. */
  cancelled: boolean;
}

/** A submitted image: its result row, and cancel() for a request that no longer wants it. */
export interface Submitted {
  readonly result: Promise<InferenceArray>;
  cancel(): void;
}

export class Batcher {
  private readonly queues: Record<BatchOutput, Item[]> = { logits: [], pre_logits: [] };
  private running = false;
  private decoding = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly per: number;
  private readonly shape: [number, number, number];

  constructor(
    private readonly model: InferenceModel,
    inputSize: readonly [number, number, number],
    private readonly opts: BatcherOptions,
  ) {
    if (!Number.isInteger(opts.maxBatch) || opts.maxBatch < 1)
      throw new RangeError(`maxBatch must be a positive integer, got ${opts.maxBatch}`);
    if (!(opts.maxWaitMs >= 0)) throw new RangeError(`maxWaitMs must be >= 0, got ${opts.maxWaitMs}`);
    this.shape = [...inputSize];
    this.per = inputSize[0] * inputSize[1] * inputSize[2];
  }

  /** An image has started decoding and will be submitted (or unexpect()ed) soon. */
  expect(): void {
    this.decoding++;
  }
  /** An expected image will not come (its decode ended, in a submit or a failure). */
  unexpect(): void {
    this.decoding--;
    this.pump();
  }

  /** Nothing running, waiting or being decoded: an image submitted now goes to the model at once. */
  get free(): boolean {
    return !this.running && this.decoding === 0 && this.waiting === 0;
  }

  /** Images waiting for the model (not counting the batch it is running). */
  get waiting(): number {
    return this.queues.logits.length + this.queues.pre_logits.length;
  }

  /** Queue one preprocessed image; `decoded`: it is one of the expect()ed images (counted off here). */
  submit(input: Float32Array, output: BatchOutput, opts: { decoded?: boolean } = {}): Submitted {
    if (opts.decoded) this.decoding--;
    if (input.length !== this.per) throw new RangeError(`batcher: an input of ${input.length} values, expected ${this.per}`);
    let item!: Item;
    const result = new Promise<InferenceArray>((resolve, reject) => {
      item = { input, arrived: performance.now(), resolve, reject, cancelled: false };
    });
    this.queues[output].push(item);
    this.pump();
    return {
      result,
      cancel: () => {
        item.cancelled = true;
      },
    };
  }

  private pump(): void {
    if (this.running) return;
    for (const q of Object.values(this.queues)) while (q.length > 0 && q[0]!.cancelled) q.shift();
    const l = this.queues.logits[0];
    const p = this.queues.pre_logits[0];
    if (!l && !p) return;
    const output: BatchOutput = l && (!p || l.arrived <= p.arrived) ? 'logits' : 'pre_logits';
    const queue = this.queues[output];
    const waited = performance.now() - queue[0]!.arrived;
    if (queue.length < this.opts.maxBatch && this.decoding > 0 && waited < this.opts.maxWaitMs) {
      this.timer ??= setTimeout(
        () => {
          this.timer = null;
          this.pump();
        },
        Math.max(0, this.opts.maxWaitMs - waited),
      );
      return;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const items: Item[] = [];
    while (queue.length > 0 && items.length < this.opts.maxBatch) {
      const it = queue.shift()!;
      if (!it.cancelled) items.push(it);
    }
    if (items.length === 0) return this.pump();
    this.running = true;
    void this.run(items, output).finally(() => {
      this.running = false;
      this.pump();
    });
  }

  private async run(items: Item[], output: BatchOutput): Promise<void> {
    const n = items.length;
    const data = n === 1 ? items[0]!.input : new Float32Array(n * this.per);
    if (n > 1) items.forEach((it, i) => data.set(it.input, i * this.per));
    const t0 = performance.now();
    let out: InferenceArray;
    try {
      this.opts.beforeRun?.(n);
      out = await this.model.run({ data, shape: [n, ...this.shape] }, output);
    } catch (e) {
      for (const it of items) it.reject(e as Error);
      return;
    }
    this.opts.onBatch?.({ output, size: n, seconds: (performance.now() - t0) / 1000 });
    const width = out.data.length / n;
    items.forEach((it, i) => it.resolve({ data: out.data.subarray(i * width, (i + 1) * width), shape: [1, width] }));
  }

  /** Resolves once nothing is queued or running (graceful shutdown drains through it). */
  async idle(): Promise<void> {
    while (this.running || this.waiting > 0) await new Promise((r) => setTimeout(r, 5));
  }
}
