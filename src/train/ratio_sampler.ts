// The batch-ratio sampler of a student (Noisy Student's labeled + pseudo-labeled batches): every step draws B labeled and r·B pseudo-labeled
// samples (the original's `--unlabel_ratio`, main.py / data_input.py: the unlabeled batch is
// unlabel_ratio × train_batch_size and both are concatenated into one training batch).
//
// Definitions (the original trains by steps over an endlessly repeated, shuffled unlabeled set, so
// it has no epoch of its own; we need one for schedules, metrics and resume points):
//  - An **epoch is one pass over the unlabeled stream**: `stepsPerEpoch = ceil(U / (r·B))` steps.
//    Epoch e walks a fresh permutation of the U unlabeled entries (the list may hold repeats: an id
//    listed c times, as the balancing stage duplicates it, appears c times). When U is not a multiple
//    of r·B the last batch of the epoch is topped up with `stepsPerEpoch·r·B − U` extra entries taken
//    from a second, independent permutation (like torch's DistributedSampler padding), so every
//    batch has exactly r·B entries and every entry appears once in the epoch's first U positions.
//  - The **labeled stream cycles independently**: it is an endless concatenation of passes, each a
//    fresh permutation of the L labeled indices, cut into consecutive batches of B. A labeled pass
//    may start in the middle of a batch and span epochs; every labeled index appears exactly once per
//    labeled pass.
//  - Every permutation is a pure function of (seed, stream, pass number), so the batch at any
//    (epoch, step) is a pure function of the inputs: `seek()` jumps there in O(U + L), and a killed
//    student run that seeks to its saved `position()` continues with exactly the same batches.
import { Rng } from '../data/rng.js';

export interface RatioSamplerOptions {
  /** Labeled sample indices (any integers); size L >= 1. */
  readonly labeled: readonly number[] | Int32Array;
  /** Pseudo-labeled sample ids, repeats allowed (the balanced set); size U >= 1. */
  readonly unlabeled: readonly number[] | Int32Array;
  /** Labeled images per step, B. */
  readonly batchSize: number;
  /** Unlabeled-to-labeled ratio r (default 3); r·B must be an integer >= 1. */
  readonly ratio?: number;
  readonly seed: number;
}

export interface SamplerPosition {
  readonly epoch: number;
  /** Step within the epoch, 0 <= step < stepsPerEpoch. */
  readonly step: number;
}

export interface RatioBatch extends SamplerPosition {
  /** B labeled indices. */
  readonly labeled: number[];
  /** r·B unlabeled ids. */
  readonly unlabeled: number[];
}

const LABELED_STREAM = 0x1abe1ed;
const UNLABELED_STREAM = 0x0e1abe1;
const PAD_STREAM = 0x0ba7d;

export const DEFAULT_UNLABEL_RATIO = 3;

function toInt32(ids: readonly number[] | Int32Array, what: string): Int32Array {
  if (ids instanceof Int32Array) return ids.slice();
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const v = ids[i]!;
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`${what}[${i}] = ${v} is not a 32-bit integer id`);
    out[i] = v;
  }
  return out;
}

/** A small cache of pass permutations (the current and the next pass are all a sequential run needs). */
class PassCache {
  private readonly cache = new Map<string, Int32Array>();
  constructor(
    private readonly n: number,
    private readonly keys: readonly number[],
  ) {}

  get(...pass: number[]): Int32Array {
    const key = pass.join(',');
    let p = this.cache.get(key);
    if (!p) {
      p = Rng.fromKeys(...this.keys, ...pass).permutation(this.n);
      if (this.cache.size >= 3) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, p);
    }
    return p;
  }
}

export class RatioSampler implements Iterable<RatioBatch> {
  readonly batchSize: number;
  readonly unlabeledBatchSize: number;
  readonly ratio: number;
  /** Steps per epoch: ceil(U / (r·B)). */
  readonly stepsPerEpoch: number;
  /** Extra unlabeled entries topping up the last batch of every epoch: stepsPerEpoch·r·B − U. */
  readonly padPerEpoch: number;
  readonly seed: number;
  private readonly labeled: Int32Array;
  private readonly unlabeled: Int32Array;
  private readonly labeledPasses: PassCache;
  private readonly unlabeledPasses: PassCache;
  private readonly padPasses: PassCache;
  private epoch = 0;
  private step = 0;

  constructor(opts: RatioSamplerOptions) {
    const ratio = opts.ratio ?? DEFAULT_UNLABEL_RATIO;
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${opts.batchSize}`);
    }
    if (!Number.isFinite(ratio) || ratio <= 0) throw new RangeError(`ratio must be positive, got ${ratio}`);
    const ub = ratio * opts.batchSize;
    if (Math.abs(ub - Math.round(ub)) > 1e-9) {
      throw new RangeError(`ratio × batchSize must be an integer, got ${ratio} × ${opts.batchSize} = ${ub}`);
    }
    if (opts.labeled.length === 0) throw new RangeError('the labeled list is empty');
    if (opts.unlabeled.length === 0) throw new RangeError('the unlabeled list is empty (nothing passed the filter?)');
    if (!Number.isSafeInteger(opts.seed)) throw new RangeError(`seed must be a safe integer, got ${opts.seed}`);
    this.batchSize = opts.batchSize;
    this.unlabeledBatchSize = Math.round(ub);
    this.ratio = ratio;
    this.seed = opts.seed;
    this.labeled = toInt32(opts.labeled, 'labeled');
    this.unlabeled = toInt32(opts.unlabeled, 'unlabeled');
    const U = this.unlabeled.length;
    this.stepsPerEpoch = Math.ceil(U / this.unlabeledBatchSize);
    this.padPerEpoch = this.stepsPerEpoch * this.unlabeledBatchSize - U;
    this.labeledPasses = new PassCache(this.labeled.length, [opts.seed, LABELED_STREAM]);
    this.unlabeledPasses = new PassCache(U, [opts.seed, UNLABELED_STREAM]);
    this.padPasses = new PassCache(U, [opts.seed, PAD_STREAM]);
  }

  get labeledSize(): number {
    return this.labeled.length;
  }

  get unlabeledSize(): number {
    return this.unlabeled.length;
  }

  /** Where the next batch comes from (save this with a checkpoint). */
  position(): SamplerPosition {
    return { epoch: this.epoch, step: this.step };
  }

  /** Continue from a saved position; `step` may equal stepsPerEpoch (meaning the next epoch's start). */
  seek(pos: SamplerPosition): void {
    if (!Number.isSafeInteger(pos.epoch) || pos.epoch < 0 || !Number.isSafeInteger(pos.step) || pos.step < 0) {
      throw new RangeError(`bad sampler position ${JSON.stringify(pos)}`);
    }
    const global = pos.epoch * this.stepsPerEpoch + pos.step;
    this.epoch = Math.floor(global / this.stepsPerEpoch);
    this.step = global - this.epoch * this.stepsPerEpoch;
  }

  /** The batch at the current position, then advance. */
  next(): RatioBatch {
    const b = this.batchAt(this.epoch, this.step);
    this.step++;
    if (this.step === this.stepsPerEpoch) {
      this.step = 0;
      this.epoch++;
    }
    return b;
  }

  /** The batches of the current epoch from the current position (stops at the epoch's end). */
  *restOfEpoch(): Generator<RatioBatch> {
    const epoch = this.epoch;
    while (this.epoch === epoch) yield this.next();
  }

  /** Endless: batches from the current position on. */
  *[Symbol.iterator](): Iterator<RatioBatch> {
    for (;;) yield this.next();
  }

  /** The batch at (epoch, step), without moving. Pure in (inputs, seed, epoch, step). */
  batchAt(epoch: number, step: number): RatioBatch {
    if (!Number.isSafeInteger(epoch) || epoch < 0 || !Number.isInteger(step) || step < 0 || step >= this.stepsPerEpoch) {
      throw new RangeError(`no step ${step} in epoch ${epoch} (stepsPerEpoch ${this.stepsPerEpoch})`);
    }
    return { epoch, step, labeled: this.labeledBatch(epoch, step), unlabeled: this.unlabeledBatch(epoch, step) };
  }

  private labeledBatch(epoch: number, step: number): number[] {
    const B = this.batchSize;
    const L = this.labeled.length;
    const out = new Array<number>(B);
    // Global offset into the endless labeled stream (exact as long as it stays below 2^53).
    const offset = (epoch * this.stepsPerEpoch + step) * B;
    let pass = Math.floor(offset / L);
    let at = offset - pass * L;
    for (let i = 0; i < B; i++) {
      if (at === L) {
        pass++;
        at = 0;
      }
      out[i] = this.labeled[this.labeledPasses.get(pass)[at++]!]!;
    }
    return out;
  }

  private unlabeledBatch(epoch: number, step: number): number[] {
    const R = this.unlabeledBatchSize;
    const U = this.unlabeled.length;
    const out = new Array<number>(R);
    const perm = this.unlabeledPasses.get(epoch);
    const start = step * R;
    for (let i = 0; i < R; i++) {
      const pos = start + i;
      if (pos < U) {
        out[i] = this.unlabeled[perm[pos]!]!;
      } else {
        // Top-up of the last batch: successive independent permutations keyed by (epoch, k).
        const padIdx = pos - U;
        const k = Math.floor(padIdx / U);
        out[i] = this.unlabeled[this.padPasses.get(epoch, k)[padIdx - k * U]!]!;
      }
    }
    return out;
  }
}
