// Data-parallel training over a c10d process group (torch's DistributedDataParallel, for our
// trainer): the one trainer calls these hooks when it is given a DataParallel, and is unchanged
// without one.
//
//  - Same start: parameters and buffers are broadcast from rank 0 once the model is built (and
//    loaded), so every rank steps from the same weights whatever its own initialisation drew.
//  - Same global batch: the batch plan is the one a single process would follow with a batch of
//    B·W (the labeled loader's per-epoch permutation, or the ratio sampler's mixed batches, both
//    pure functions of (seed, epoch, step)); rank r trains on slice r of it: B labeled images and
//    r·B pseudo-labeled ones, so the labeled:unlabeled ratio holds on every rank. Augmentation is
//    keyed per sample by (seed, epoch, dataset index) (data/loader.ts), so it does not depend on
//    which rank draws it. A restart seeks to the same (epoch, step) on every rank.
//  - Same update: the gradients are averaged across ranks in buckets (flat float copies of ~25 MiB,
//    in reverse parameter order as DDP fills them), all buckets in flight at once. From Node the
//    backward pass is one native call with no per-parameter hooks, so the allreduce starts after
//    backward rather than overlapping it: the overlap "where the engine allows" is between buckets.
//  - SyncBatchNorm (optional): batch statistics over the whole group's batch (the c10d addon's
//    autograd function), so 2 ranks x B normalise like 1 process x 2B.
//  - One writer: checkpoints, metrics.jsonl and the model folder come from rank 0 only; the
//    per-step loss and the evaluation counts are reduced across ranks first, so what rank 0 writes
//    is the job's, not its shard's. Every rank resumes from the same checkpoint.
//  - Same noise: dropout and drop-path masks are keyed per sample by (seed, epoch, source, dataset
//    index) too (nn/layers/keyed_noise.ts), so with every noise on, W ranks draw the masks one
//    process draws and training matches it up to float rounding (test/distributed).
import { cat, noGrad, scope, zeros, type Tensor } from '../torch/index.js';
import { wrap } from '../torch/tensor.js';
import { BatchNorm2d, activationInplace, type Module } from '../nn/index.js';
import type { ImageDataset } from '../data/index.js';
import { ProcessGroup, initProcessGroupFromEnv, distributedNative, type InitProcessGroupOptions } from '../distributed/index.js';
import type { EvalResult } from './loop.js';

/** DDP's default bucket size. */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

export interface DataParallelOptions {
  /** Bytes of gradients per allreduce. Default 25 MiB. */
  readonly bucketBytes?: number;
}

/** The batch indices of one step, as the trainer's plans give them. */
export interface StepIndices {
  labeled: ArrayLike<number>;
  unlabeled: ArrayLike<number> | null;
}

export class DataParallel {
  readonly group: ProcessGroup;
  private readonly bucketBytes: number;
  private syncBnModules = 0;

  constructor(group: ProcessGroup, o: DataParallelOptions = {}) {
    this.group = group;
    this.bucketBytes = o.bucketBytes ?? DEFAULT_BUCKET_BYTES;
  }

  get rank(): number {
    return this.group.rank;
  }
  get worldSize(): number {
    return this.group.worldSize;
  }
  /** Whether this rank writes the run's files (rank 0). */
  get isWriter(): boolean {
    return this.group.rank === 0;
  }
  /** How many BatchNorm layers run synchronised. */
  get syncBatchNormLayers(): number {
    return this.syncBnModules;
  }

  /** Rank 0's parameters and buffers on every rank (in place). */
  broadcastModel(model: Module): void {
    const tensors = [...model.namedParameters()].map(([, t]) => t).concat([...model.namedBuffers()].map(([, t]) => t));
    // One flat copy per dtype would save calls; the start is once per run, so per tensor keeps it simple.
    noGrad(() => this.group.broadcastSync(tensors, 0));
  }

  /**
   * Make every BatchNorm2d of `model` normalise with the whole group's batch statistics in training
   * mode (torch's convert_sync_batchnorm, done on the instances: eval mode is unchanged).
   */
  convertSyncBatchNorm(model: Module): number {
    const d = distributedNative();
    const pg = this.group;
    let n = 0;
    for (const [, m] of model.namedModules()) {
      if (!(m instanceof BatchNorm2d)) continue;
      const bn = m;
      const plain = bn.forward.bind(bn);
      const act = bn.actName ? activationInplace(bn.actName) : null;
      bn.forward = (x: Tensor): Tensor => {
        if (!bn.training) return plain(x);
        const p = new Map(bn.namedParameters());
        const b = new Map(bn.namedBuffers());
        noGrad(() => b.get('num_batches_tracked')!.add_(1));
        const h = d.syncBatchNorm(
          pg.native,
          x.h,
          p.get('weight')!.h,
          p.get('bias')!.h,
          b.get('running_mean')!.h,
          b.get('running_var')!.h,
          bn.momentum,
          bn.eps,
        );
        // A handle the c10d addon made through the main addon's table: one of ours.
        const y = wrap(h);
        return act ? act(y) : y;
      };
      n++;
    }
    this.syncBnModules += n;
    return n;
  }

  /** Average the gradients across ranks (trainStep's afterBackward). */
  afterBackward = (params: Tensor[]): void => {
    const W = this.worldSize;
    scope(() => {
      // Reverse order (the order backward produces them), one bucket per dtype run of ~bucketBytes.
      const entries = params.filter((p) => p.requiresGrad).reverse();
      const buckets: { items: { p: Tensor; g: Tensor | null }[]; flat: Tensor }[] = [];
      let cur: { p: Tensor; g: Tensor | null }[] = [];
      let bytes = 0;
      const flush = () => {
        if (cur.length === 0) return;
        // A parameter without a gradient on this rank contributes zeros (another rank may have one).
        const parts = cur.map(({ p, g }) => (g ?? zeros(p.shape, { dtype: p.dtype })).reshape(-1));
        buckets.push({ items: cur, flat: cat(parts) });
        cur = [];
        bytes = 0;
      };
      for (const p of entries) {
        const g = p.grad;
        if (cur.length > 0 && (cur[0]!.p.dtype !== p.dtype || bytes >= this.bucketBytes)) flush();
        cur.push({ p, g });
        bytes += p.numel() * 4;
      }
      flush();
      if (buckets.length === 0) return;
      this.group.allreduceSync(buckets.map((b) => b.flat));
      noGrad(() => {
        for (const b of buckets) {
          b.flat.div_(W);
          let off = 0;
          for (const { p, g } of b.items) {
            const n = p.numel();
            const avg = b.flat.narrow(0, off, n).view(...p.shape);
            if (g) g.copy_(avg);
            off += n;
          }
        }
      });
    });
  };

  /** The job's mean of a per-rank value (each rank's step loss over equal shares of the batch). */
  meanAcrossRanks = (value: number): number => this.group.allreduceNumbersSync([value])[0]! / this.worldSize;

  /** This rank's slice of a global batch: near-equal contiguous parts, rank order. */
  shard(indices: ArrayLike<number>): number[] {
    const n = indices.length;
    const W = this.worldSize;
    const lo = Math.floor((n * this.rank) / W);
    const hi = Math.floor((n * (this.rank + 1)) / W);
    return Array.from({ length: hi - lo }, (_, i) => indices[lo + i]!);
  }

  /** This rank's slice of one step of the global plan (labeled and unlabeled parts each). */
  shardStep(b: StepIndices): StepIndices {
    return { labeled: this.shard(b.labeled), unlabeled: b.unlabeled ? this.shard(b.unlabeled) : null };
  }

  /** Every W-th image from this rank's own (evaluation: the ranks' parts cover the set once). */
  shardDataset(ds: ImageDataset): ImageDataset {
    const idx: number[] = [];
    for (let i = this.rank; i < ds.length; i += this.worldSize) idx.push(i);
    return {
      length: idx.length,
      classes: ds.classes,
      label: (i) => ds.label(idx[i]!),
      source: (i) => ds.source(idx[i]!),
    };
  }

  /** The whole set's top-1/top-5/loss from each rank's result on its shard (counts summed). */
  async reduceEval(r: EvalResult): Promise<EvalResult> {
    const [n, c1, c5, l] = await this.group.allreduceNumbers([r.n, r.top1 * r.n, r.top5 * r.n, r.loss * r.n]);
    return n! > 0 ? { n: n!, top1: c1! / n!, top5: c5! / n!, loss: l! / n! } : { n: 0, top1: 0, top5: 0, loss: 0 };
  }

  barrier(): Promise<void> {
    return this.group.barrier();
  }
}

/**
 * The job's DataParallel when this process runs under a launcher with more than one rank (torchrun,
 * `noisy-student launch`, Slurm, an indexed Job), else null: what the train, student and run
 * commands call, so the same command line runs alone or distributed.
 */
export async function dataParallelFromEnv(
  o: Omit<InitProcessGroupOptions, 'env'> & DataParallelOptions = {},
): Promise<DataParallel | null> {
  const group = await initProcessGroupFromEnv(o);
  return group ? new DataParallel(group, o) : null;
}
