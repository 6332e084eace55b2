// The training loop, model-agnostic: a model is anything with parameters and forward(x, ctx). The
// training mode is the model's own (fit calls model.train(), evaluate model.eval()); the execution
// context (device, autocast, randomness for dropout and drop-path) is passed to forward.
//
// trainStep() is the unit of work: forward, loss, backward, an optional hook between backward and
// the update (where a data-parallel run allreduces the gradients), clipping, optimizer step,
// scheduler and EMA updates. fit() runs epochs of steps with validation, metrics.jsonl,
// checkpoints and exact resume.
import { callOp, dispose, noGrad, scope, type Generator, type Tensor } from '../torch/index.js';
import { assertContextSupported, runForward, type ExecutionContext, type ForwardContext, type Module } from '../nn/index.js';
import type { Optimizer, BaseHyper } from './optim/index.js';
import type { Scheduler } from './schedule.js';
import type { ModelEma } from './ema.js';
import { clipGradNorm_ } from './optim/index.js';
import { accuracy, MetricsLog } from './metrics.js';
import { ensureCheckpointSpace, loadCheckpoint, saveCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import { loadStateDict } from '../nn/index.js';

export interface TrainableModel extends Module {
  forward(x: Tensor, ctx?: ForwardContext): Tensor;
}

/** One batch: the input and whatever the loss needs (targets, soft labels...). */
export interface TrainBatch {
  readonly x: Tensor;
  readonly target: Tensor;
  /** Number of samples (for throughput); defaults to x.shape[0]. */
  readonly n?: number;
  /** Extra fields for a custom loss (e.g. how many rows are labeled). */
  readonly extra?: Readonly<Record<string, unknown>>;
  /**
   * One noise key per row (sampleNoiseKeys): dropout and drop-path draw from these instead of the
   * generator, so a sample's masks do not depend on the batch or the rank it is trained in.
   */
  readonly sampleKeys?: Uint32Array;
}

export type LossFn = (logits: Tensor, batch: TrainBatch) => Tensor;

export interface StepOptions {
  readonly optimizer: Optimizer<BaseHyper>;
  readonly lossFn: LossFn;
  readonly scheduler?: Scheduler;
  readonly ema?: ModelEma;
  /** Max global gradient norm (L2); off when undefined. */
  readonly clipGrad?: number;
  /** Where and how the step runs (device, autocast, generator for dropout and drop-path); unset fields: as the model is. */
  readonly context?: Partial<ExecutionContext>;
  /** @deprecated Pass `context: { generator }`. Used when the context has no generator. */
  readonly generator?: Generator;
  /** Convert inputs to channels_last (faster convolutions in oneDNN for training). */
  readonly channelsLast?: boolean;
  /** Called after backward, before clipping and the update (gradient allreduce goes here). */
  readonly afterBackward?: (params: Tensor[]) => void;
}

export interface StepState {
  /** Optimizer updates done so far. */
  step: number;
}

/**
 * One optimizer update over `micro` batches (gradient accumulation when there is more than one):
 * the loss of each micro-batch is scaled by 1/micro so the update equals one large batch's.
 * Returns the mean loss.
 */
export function trainStep(model: TrainableModel, micro: readonly TrainBatch[], o: StepOptions, state: StepState): number {
  if (micro.length === 0) throw new Error('trainStep: no batches');
  // The mode is the model's (fit calls model.train()); the step only carries the context. Only
  // the fields given travel: no device named means wherever the model and batches already are.
  const generator = o.context?.generator ?? o.generator;
  const ctx: ForwardContext = { ...o.context, ...(generator ? { generator } : {}) };
  assertContextSupported(ctx, 'trainStep');
  let total = 0;
  try {
    for (const b of micro) {
      total += scope(() => {
        const x = o.channelsLast ? b.x.contiguous('channelsLast') : b.x;
        const bctx: ForwardContext = b.sampleKeys ? { ...ctx, sampleKeys: b.sampleKeys } : ctx;
        // Mixed precision (context.autocast): forward and loss under autocast, backward outside it
        // (as torch.autocast is used); the logits go to the loss in float32, so a softmax over
        // bfloat16 logits never rounds the loss. The weights, their gradients and the optimizer
        // state stay float32 (autocast casts a copy of each weight per step).
        const loss = runForward(bctx, () => o.lossFn(asFloat32(model.forward(x, bctx)), b));
        const scaled = micro.length > 1 ? loss.div(micro.length) : loss;
        scaled.backward();
        return loss.item();
      });
    }
  } catch (e) {
    // The gradients of the micro-batches done so far are this step's: free them rather than leave
    // a half-accumulated update on the parameters for whoever steps next.
    o.optimizer.zeroGrad();
    throw e;
  }
  const params = [...o.optimizer.namedParams()].map(([, p]) => p);
  o.afterBackward?.(params);
  if (o.clipGrad !== undefined) clipGradNorm_(params, o.clipGrad);
  o.optimizer.step();
  o.optimizer.zeroGrad();
  state.step += 1;
  o.scheduler?.stepUpdate(state.step);
  if (o.ema) o.ema.update(model.stateDict(), state.step);
  return total / micro.length;
}

/**
 * Give every 4-d parameter (the conv weights) the channels_last layout, in place: the same tensors,
 * so an optimizer made before still holds them, and their gradients and optimizer state follow
 * that layout. With channels_last inputs, oneDNN otherwise reorders every weight in each forward
 * and backward (timm's model.to(memory_format=torch.channels_last) does the same conversion).
 */
export function toChannelsLast_(model: Module): void {
  noGrad(() => {
    for (const p of model.parameters()) {
      if (p.shape.length !== 4 || p.isContiguous('channelsLast')) continue;
      scope(() => callOp('aten::set_.source_Tensor', p, p.contiguous('channelsLast')));
    }
  });
}

function asFloat32(t: Tensor): Tensor {
  return t.dtype === 'bfloat16' || t.dtype === 'float16' ? t.float() : t;
}

/** The precision a step context trains in, as the training config spells it (recorded in metrics and checkpoints). */
export function contextPrecision(ctx: Partial<ExecutionContext> | undefined): string {
  const a = ctx?.autocast ?? null;
  return a === 'bfloat16' ? 'bf16' : a === 'float16' ? 'fp16' : 'fp32';
}

export interface EvalResult {
  top1: number;
  top5: number;
  loss: number;
  n: number;
}

/** Top-1/top-5 (fractions in [0, 1]) and mean cross-entropy over labeled batches (released after use), in eval mode. */
/** Top-1/top-5 and summed cross-entropy over batches of logits: evaluate()'s and evaluateModel()'s tally. */
export class ClassificationScore {
  private n = 0;
  private c1 = 0;
  private c5 = 0;
  private lossSum = 0;

  add(logits: Tensor, target: Tensor): void {
    noGrad(() =>
      scope(() => {
        const k = Math.min(5, logits.shape[1]!);
        const [a1, a5] = accuracy(logits, target, [1, k]);
        const bn = target.shape[0]!;
        this.c1 += (a1! / 100) * bn;
        this.c5 += (a5! / 100) * bn;
        this.lossSum += logits.logSoftmax(1).gather(1, target.unsqueeze(1)).neg().sum().item();
        this.n += bn;
      }),
    );
  }

  get count(): number {
    return this.n;
  }

  result(): EvalResult {
    const n = this.n;
    return { top1: n ? this.c1 / n : 0, top5: n ? this.c5 / n : 0, loss: n ? this.lossSum / n : 0, n };
  }
}

export async function evaluate(model: TrainableModel, batches: AsyncIterable<TrainBatch> | Iterable<TrainBatch>): Promise<EvalResult> {
  const score = new ClassificationScore();
  // Eval mode for the pass, then the caller's mode back (fit's validate runs between epochs).
  const wasTraining = model.training;
  model.eval();
  try {
    for await (const b of batches) {
      try {
        noGrad(() => scope(() => score.add(model.forward(b.x), b.target)));
      } finally {
        releaseBatch(b); // evaluate owns the batches it is given, as fit does, also when scoring throws
      }
    }
  } finally {
    if (wasTraining) model.train();
  }
  return score.result();
}

export interface FitOptions extends StepOptions {
  readonly model: TrainableModel;
  readonly epochs: number;
  readonly batchesPerEpoch: number;
  /** The batches of an epoch from `startBatch` on (a resumed run skips the ones already trained). */
  readonly trainBatches: (epoch: number, startBatch: number) => AsyncIterable<TrainBatch>;
  /** Validation after each epoch (model in eval mode; EMA weights when an EMA is kept). */
  readonly validate?: (model: TrainableModel) => Promise<EvalResult>;
  /** Micro-batches per optimizer update. Default 1. */
  readonly gradAccum?: number;
  /** Run directory: checkpoints/ and metrics.jsonl. Without it nothing is written. */
  readonly output?: string;
  /** Continue from the latest checkpoint in output (a fresh start when there is none). */
  readonly resume?: boolean;
  /** Checkpoint every N optimizer steps as well as at each epoch end. Default: epoch ends only. */
  readonly checkpointEvery?: number;
  readonly configHash?: string;
  /** Every generator the run's randomness depends on (saved and restored with checkpoints). */
  readonly generators?: Readonly<Record<string, Generator>>;
  /** Metric that picks the best checkpoint. Default 'top1'. */
  readonly bestMetric?: string;
  readonly onStep?: (p: {
    epoch: number;
    batch: number;
    batches: number;
    step: number;
    loss: number;
    lr: number;
    samples: number;
    seconds: number;
  }) => void;
  readonly onEpoch?: (r: { epoch: number; trainLoss: number; eval: EvalResult | null; seconds: number }) => void;
  /** The job's loss from this process's (data parallel: the mean across ranks), before it is logged. */
  readonly reduceLoss?: (loss: number) => number;
  /** Whether this process writes checkpoints and metrics.jsonl (data parallel: rank 0 only). Default true. */
  readonly writeOutputs?: boolean;
}

export interface FitResult {
  steps: number;
  history: { epoch: number; trainLoss: number; eval: EvalResult | null }[];
  bestPath: string | null;
}

/** Free a batch's tensors (its input, targets and extra fields). */
export function releaseBatch(b: TrainBatch): void {
  b.x.dispose();
  b.target.dispose();
  if (b.extra) dispose(b.extra);
}

/** Swap the model's weights for the EMA's while `fn` runs (evaluation with EMA weights). */
export async function withEmaWeights<T>(model: TrainableModel, ema: ModelEma | undefined, fn: () => Promise<T>): Promise<T> {
  if (!ema) return fn();
  const backup = noGrad(() => new Map([...model.stateDict()].map(([k, t]) => [k, t.clone().keep()] as const)));
  try {
    loadStateDict(model, ema.stateDict(), { strict: true });
    return await fn();
  } finally {
    loadStateDict(model, backup, { strict: true });
    for (const t of backup.values()) t.dispose();
  }
}

export async function fit(o: FitOptions): Promise<FitResult> {
  const accum = o.gradAccum ?? 1;
  const state: StepState = { step: 0 };
  let startEpoch = 0;
  let startBatch = 0;
  const history: FitResult['history'] = [];
  const ckptDir = o.output ? `${o.output}/checkpoints` : null;
  let resumed: LoadedCheckpoint | null = null;
  if (ckptDir && o.resume) {
    resumed = loadCheckpoint(ckptDir, {
      optimizer: o.optimizer,
      ...(o.ema ? { ema: o.ema } : {}),
      ...(o.scheduler ? { scheduler: o.scheduler } : {}),
      ...(o.generators ? { generators: o.generators } : {}),
      ...(o.configHash !== undefined ? { expectConfigHash: o.configHash } : {}),
    });
    if (resumed) {
      try {
        loadStateDict(o.model, resumed.model, { strict: true });
      } finally {
        // Copied into the model, or refused (weights of another model): either way not kept.
        for (const t of resumed.model.values()) t.dispose();
      }
      state.step = resumed.step;
      const pos = resumed.dataPosition as { epoch: number; batch: number; history?: FitResult['history'] };
      startEpoch = pos.epoch;
      startBatch = pos.batch;
      history.push(...(pos.history ?? []));
    }
  }
  // channels_last inputs want channels_last weights (else each conv reorders its weight every step).
  if (o.channelsLast) toChannelsLast_(o.model);
  // A disk that cannot hold the checkpoints stops the job now, not at its first save (util/disk.ts).
  if (ckptDir) ensureCheckpointSpace(ckptDir, o.model.stateDict(), { ema: o.ema !== undefined });
  const writes = o.writeOutputs !== false;
  const log = o.output && writes ? MetricsLog.open(`${o.output}/metrics.jsonl`, { resumeStep: state.step }) : null;
  let bestPath: string | null = null;
  const precision = contextPrecision(o.context);
  const save = (epoch: number, batch: number, metrics?: Record<string, number>): void => {
    if (!ckptDir || !writes) return;
    const r = saveCheckpoint(
      ckptDir,
      {
        step: state.step,
        epoch,
        model: o.model.stateDict(),
        optimizer: o.optimizer,
        ...(o.ema ? { ema: o.ema } : {}),
        ...(o.scheduler ? { scheduler: o.scheduler } : {}),
        ...(o.generators ? { generators: o.generators } : {}),
        dataPosition: { epoch, batch, history } as never,
        ...(metrics ? { metrics } : {}),
        ...(o.configHash !== undefined ? { configHash: o.configHash } : {}),
        extra: { precision },
      },
      { bestMetric: o.bestMetric ?? 'top1' },
    );
    if (r.isBest) bestPath = r.path;
  };

  // The batches fit holds between the loader and an update (more than one with accumulation):
  // released when a step, a callback or the loader throws, as after each update.
  let pending: TrainBatch[] = [];
  try {
    for (let epoch = startEpoch; epoch < o.epochs; epoch++) {
      o.model.train();
      const t0 = process.hrtime.bigint();
      let lossSum = 0;
      let lossN = 0;
      let batch = epoch === startEpoch ? startBatch : 0;
      pending = [];
      let samples = 0;
      for await (const b of o.trainBatches(epoch, batch)) {
        pending.push(b);
        if (pending.length < accum) continue;
        const stepLoss = trainStep(o.model, pending, o, state);
        const loss = o.reduceLoss ? o.reduceLoss(stepLoss) : stepLoss;
        const done = pending;
        pending = [];
        for (const p of done) {
          samples += p.n ?? p.x.shape[0]!;
          releaseBatch(p);
        }
        batch += done.length;
        lossSum += loss;
        lossN += 1;
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const lr = o.optimizer.paramGroups[0]?.lr ?? 0;
        log?.append({ step: state.step, epoch, batch, loss, lr });
        o.onStep?.({ epoch, batch, batches: o.batchesPerEpoch, step: state.step, loss, lr, samples, seconds });
        if (o.checkpointEvery && state.step % o.checkpointEvery === 0 && batch < o.batchesPerEpoch) save(epoch, batch);
      }
      const leftover = pending;
      pending = [];
      for (const p of leftover) releaseBatch(p);
      o.scheduler?.step(epoch + 1);
      const evalResult = o.validate ? await withEmaWeights(o.model, o.ema, async () => o.validate!(o.model)) : null;
      const trainLoss = lossN ? lossSum / lossN : NaN;
      history.push({ epoch, trainLoss, eval: evalResult });
      log?.append({
        step: state.step,
        epoch,
        trainLoss,
        precision,
        ...(evalResult ? { top1: evalResult.top1, top5: evalResult.top5, evalLoss: evalResult.loss } : {}),
      });
      save(epoch + 1, 0, evalResult ? { top1: evalResult.top1, top5: evalResult.top5, loss: evalResult.loss } : undefined);
      o.onEpoch?.({ epoch, trainLoss, eval: evalResult, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    }
  } finally {
    for (const p of pending) releaseBatch(p);
    log?.close();
  }
  return { steps: state.step, history, bestPath };
}
