// The one trainer. `train` (timm's train.py) and the Noisy Student student stage both call
// trainModel: the same model construction, data config, recipe (optimizer, schedule, EMA, loss),
// batches, checkpoints and model folder. A student differs only by its batches (labeled images plus
// `ratio` times as many pseudo-labeled ones, the RatioSampler) and its loss (the mixed batch loss
// over both); given no pseudo-labeled images it IS a `train` run, bit for bit.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Generator, cat, fromTypedArray, noGrad, readSafetensorsHeader, scope, type Tensor } from '../torch/index.js';
import { checkpointFiles, createModel, resolveModelName, saveModel, type EfficientNet } from '../models/index.js';
import { sampleNoiseKeys } from '../nn/index.js';
import { DataLoader, type DataConfig, type ImageDataset, type SampleError } from '../data/index.js';
import { fileHash, contentHash } from '../util/hash.js';
import { AdamW, RMSpropTF, SGD } from './optim/index.js';
import { paramGroupsWeightDecay } from './param_groups.js';
import { Scheduler, createSchedule } from './schedule.js';
import { ModelEma } from './ema.js';
import { labelSmoothingCrossEntropy, mixedBatchLoss } from './losses.js';
import { evaluate, fit, releaseBatch, withEmaWeights, type EvalResult, type FitResult, type TrainBatch } from './loop.js';
import { loaderBatches } from './data.js';
import { RatioSampler } from './ratio_sampler.js';
import { trainingDataConfig, type DataConfigOverrides, type DataDefaults } from './data_spec.js';
import { throwIfAborted, type ProgressListener } from './events.js';
import { precisionAutocast, type Recipe } from './config.js';
import { dataParallelFromEnv, type DataParallel } from './data_parallel.js';

/** Target distributions of a secondary stream of images (a teacher's probabilities). */
export interface TargetSource {
  readonly numClasses: number;
  /** Write image `id`'s probabilities into `out` (numClasses floats). */
  row(id: number, out: Float32Array): void;
  /** Image `id`'s most probable class. */
  label(id: number): number;
}

/** Images without labels of their own, trained on with targets from elsewhere (Noisy Student's pseudo-labels). */
export interface UnlabeledStream {
  readonly images: ImageDataset;
  /** Ids into `images`, repeats allowed (a balanced selection lists an id once per copy). */
  readonly ids: readonly number[];
  /** Unlabeled : labeled images per batch. */
  readonly ratio: number;
  readonly targets: TargetSource;
  /** soft: cross-entropy with the probabilities (at `temperature`); hard: their argmax, label-smoothed. */
  readonly kind: 'soft' | 'hard';
  readonly temperature: number;
}

export interface TrainJob {
  /** timm model name. */
  readonly model: string;
  readonly recipe: Recipe;
  /** Starting weights: timm's pretrained ones, or a local checkpoint (fine-tuning, a warm start). Default: from scratch. */
  readonly init?: { readonly pretrained?: boolean; readonly checkpoint?: string } | undefined;
  readonly numClasses: number;
  /** Class names, saved in the model folder's config.json (label_names). */
  readonly labelNames: readonly string[] | null;
  readonly labeled: ImageDataset;
  /** Evaluated after each epoch (EMA weights when an EMA is kept). */
  readonly val?: ImageDataset | null | undefined;
  readonly unlabeled?: UnlabeledStream | null | undefined;
  /** A built-in set's data-config defaults, and explicit sizes (trainingDataConfig). */
  readonly dataDefaults: DataDefaults | null;
  readonly sizes?: DataConfigOverrides | undefined;
  readonly seed: number;
  readonly workers: number;
  readonly device?: string | undefined;
  /** Run directory: checkpoints/, metrics.jsonl, model/. */
  readonly output: string;
  readonly resume: boolean;
  /** What the run depends on besides the recipe (content keys of its data, its teacher...): resuming a checkpoint made for another key is refused. */
  readonly key: unknown;
  readonly stage?: string;
  readonly signal?: AbortSignal | undefined;
  readonly onEvent?: ProgressListener | undefined;
  readonly log?: ((line: string) => void) | undefined;
  /**
   * Each image that could not be read (its batch goes on one image shorter; the same file fails in
   * every epoch, so a resumed run stays exact). May throw to stop the run (--max-skipped).
   */
  readonly onSampleError?: ((e: SampleError, set: 'train' | 'unlabeled' | 'val') => void) | undefined;
  /** Data-parallel training (data_parallel.ts): recipe.batchSize per rank, rank 0 writes. Default: the launcher's group if any; null: none. */
  readonly dataParallel?: DataParallel | null | undefined;
}

export interface TrainResult {
  readonly fit: FitResult;
  readonly final: EvalResult | null;
  readonly modelDir: string;
  /** Fingerprint of the saved weights (model/model.safetensors). */
  readonly weights: string;
  readonly dataConfig: DataConfig;
  readonly seconds: number;
}

export function makeOptimizer(model: EfficientNet, r: Pick<Recipe, 'opt' | 'lr' | 'weightDecay' | 'momentum'>) {
  const groups = paramGroupsWeightDecay(model.namedParameters(), { weightDecay: r.weightDecay });
  switch (r.opt) {
    case 'sgd':
      return new SGD(groups, { lr: r.lr, momentum: r.momentum, nesterov: true, weightDecay: r.weightDecay });
    case 'rmsproptf':
      return new RMSpropTF(groups, { lr: r.lr, momentum: r.momentum, weightDecay: r.weightDecay });
    case 'adamw':
      return new AdamW(groups, { lr: r.lr, weightDecay: r.weightDecay });
  }
}

/** Freeze the stem and the first `n` stages (fine-tuning with frozen layers). */
export function freezeStages(model: EfficientNet, n: number): void {
  if (n <= 0) return;
  for (const [name, p] of model.namedParameters()) {
    const m = /^blocks\.(\d+)\./.exec(name);
    if (/^(conv_stem|bn1)\./.test(name) || (m && Number(m[1]) < n)) p.requiresGrad = false;
  }
}

/** Start a new classifier at zero weights (trains better than a random head at tiny input sizes). */
export function zeroClassifier(model: EfficientNet): void {
  const w = model.stateDict().get('classifier.weight');
  if (w) noGrad(() => w.zero_());
}

/** Whether the starting weights bring a classifier of this size (else the model gets a new head). */
function initHasHead(model: string, init: TrainJob['init'], numClasses: number): boolean {
  if (init?.checkpoint) {
    const w = readSafetensorsHeader(checkpointFiles(init.checkpoint).weights).entries.get('classifier.weight');
    return w?.shape[0] === numClasses;
  }
  if (init?.pretrained) return resolveModelName(model).pretrainedCfg.numClasses === numClasses;
  return false;
}

/** The device a step context names for autocast (none for the CPU: the context's default). */
function deviceContext(device: string | undefined): { device?: string } {
  return device && device !== 'cpu' ? { device } : {};
}

/** The batches of one epoch: the labeled loader's shuffled order, or the ratio sampler's mixed batches. */
interface BatchPlan {
  readonly stepsPerEpoch: number;
  at(epoch: number, step: number): { labeled: ArrayLike<number>; unlabeled: ArrayLike<number> | null };
}

function labeledPlan(loader: DataLoader): BatchPlan {
  let cached: { epoch: number; batches: Int32Array[] } | null = null;
  return {
    stepsPerEpoch: loader.length,
    at(epoch, step) {
      if (cached?.epoch !== epoch) cached = { epoch, batches: loader.batchIndices(epoch) };
      return { labeled: cached.batches[step]!, unlabeled: null };
    },
  };
}

function ratioPlan(sampler: RatioSampler): BatchPlan {
  return {
    stepsPerEpoch: sampler.stepsPerEpoch,
    at(epoch, step) {
      const b = sampler.batchAt(epoch, step);
      return { labeled: b.labeled, unlabeled: b.unlabeled };
    },
  };
}

/** Train (or fine-tune, or train a student) as configured; resumable: run it again with resume after a kill. */
export async function trainModel(job: TrainJob): Promise<TrainResult> {
  const t0 = Date.now();
  mkdirSync(job.output, { recursive: true });
  const r = job.recipe;
  const stage = job.stage ?? 'train';
  const g = new Generator(job.seed);
  const init = job.init;
  // Data parallel: the plan is one process's with the global batch B·W, each rank trains its slice.
  // Default: the launcher's group (the student stage and `run` get it this way), or none.
  const dp = job.dataParallel === undefined ? await dataParallelFromEnv() : job.dataParallel;
  const globalBatch = r.batchSize * (dp?.worldSize ?? 1);
  const headLoaded = initHasHead(job.model, init, job.numClasses);
  const inChans = job.sizes?.inChans ?? job.dataDefaults?.inChans;
  const model = await createModel(job.model, {
    numClasses: job.numClasses,
    ...(inChans !== undefined ? { inChans } : {}),
    dropRate: r.dropRate,
    dropPathRate: r.dropPathRate,
    generator: g,
    ...(init?.checkpoint ? { checkpointPath: init.checkpoint } : init?.pretrained ? { pretrained: true } : {}),
    ...(job.device && job.device !== 'cpu' ? { device: job.device } : {}),
    onWarning: job.log ?? (() => {}),
  } as Parameters<typeof createModel>[1]);
  const loaders: DataLoader[] = [];
  try {
    if (r.zeroHead && !headLoaded) zeroClassifier(model);
    freezeStages(model, r.freezeStages);
    if (dp && r.syncBn) dp.convertSyncBatchNorm(model);
    dp?.broadcastModel(model);
    const dc = trainingDataConfig(model, job.dataDefaults, job.sizes ?? {});
    const transform = {
      config: dc,
      isTraining: true,
      train: { scale: r.scale, hflip: r.hflip, ...(r.aug ? { autoAugment: r.aug } : {}) },
    };
    const lab = new DataLoader(job.labeled, {
      batchSize: globalBatch,
      shuffle: true,
      seed: job.seed,
      dropLast: job.labeled.length > globalBatch,
      numWorkers: job.workers,
      transform,
    });
    loaders.push(lab);
    const u = job.unlabeled && job.unlabeled.ids.length > 0 ? job.unlabeled : null;
    const unl = u ? new DataLoader(u.images, { batchSize: r.batchSize, seed: job.seed + 1, numWorkers: job.workers, transform }) : null;
    if (unl) loaders.push(unl);
    const globalPlan = u
      ? ratioPlan(
          new RatioSampler({
            labeled: Int32Array.from({ length: job.labeled.length }, (_, i) => i),
            unlabeled: u.ids,
            batchSize: globalBatch,
            ratio: u.ratio,
            seed: job.seed,
          }),
        )
      : labeledPlan(lab);
    const plan: BatchPlan = dp
      ? { stepsPerEpoch: globalPlan.stepsPerEpoch, at: (epoch, step) => dp.shardStep(globalPlan.at(epoch, step)) }
      : globalPlan;
    const onValError = job.onSampleError;
    const val = job.val
      ? new DataLoader(dp ? dp.shardDataset(job.val) : job.val, {
          batchSize: 256,
          numWorkers: job.workers,
          transform: { config: dc },
          ...(onValError ? { onSampleError: (e: SampleError) => onValError(e, 'val') } : {}),
        })
      : null;
    if (val) loaders.push(val);

    const C = job.numClasses;
    const load = async (epoch: number, step: number): Promise<TrainBatch> => {
      const b = plan.at(epoch, step);
      const [rl, ru] = await Promise.all([
        lab.fetch(epoch, step, b.labeled),
        u && b.unlabeled ? unl!.fetch(epoch, step, b.unlabeled) : Promise.resolve(null),
      ]);
      for (const e of rl.errors) job.onSampleError?.(e, 'train');
      for (const e of ru?.errors ?? []) job.onSampleError?.(e, 'unlabeled');
      // A step on no labeled image would average over nothing: a NaN loss that poisons the weights.
      if (rl.indices.length === 0)
        throw new Error(
          `no image of training batch ${step + 1} of epoch ${epoch + 1} could be read (${rl.errors.length} skipped, e.g. ` +
            `${rl.errors[0]?.path ?? 'an in-memory image'}): fix or remove the unreadable files, or train with a larger --batch-size`,
        );
      const labels = BigInt64Array.from(rl.labels, (l) => BigInt(l));
      // Dropout and drop-path are keyed per sample like the augmentation, by the rows actually read.
      const labKeys = sampleNoiseKeys(job.seed, epoch, 'labeled', rl.indices);
      if (!ru || !u) return { x: fromTypedArray(rl.data, rl.shape), target: fromTypedArray(labels, [labels.length]), sampleKeys: labKeys };
      const sampleKeys = new Uint32Array(labKeys.length + ru.indices.length);
      sampleKeys.set(labKeys);
      sampleKeys.set(sampleNoiseKeys(job.seed, epoch, 'unlabeled', ru.indices), labKeys.length);
      // The pseudo-targets are looked up before any tensor exists: an image without one throws
      // with nothing to free.
      const n = ru.indices.length;
      const hard = u.kind === 'hard' ? BigInt64Array.from(ru.indices, (id) => BigInt(u.targets.label(id))) : null;
      const soft = hard ? null : new Float32Array(n * C);
      if (soft) ru.indices.forEach((id, i) => u.targets.row(id, soft.subarray(i * C, (i + 1) * C)));
      return scope(() => {
        // Only the batch leaves this scope; the halves, or everything if cat throws, are freed.
        const x = cat([fromTypedArray(rl.data, rl.shape), fromTypedArray(ru.data, ru.shape)]);
        const target = fromTypedArray(labels, [labels.length]);
        const pseudo = hard ? fromTypedArray(hard, [n]) : fromTypedArray(soft!, [n, C]);
        return { x, target, extra: { unlabeled: pseudo }, sampleKeys };
      });
    };
    // Decode and augment ahead while the model trains: one step per loader worker (at least one).
    const ahead = Math.max(1, job.workers);
    const trainBatches = async function* (epoch: number, startStep: number): AsyncGenerator<TrainBatch> {
      const queue: Promise<TrainBatch>[] = [];
      let next = startStep;
      const fill = (): void => {
        while (queue.length < ahead && next < plan.stepsPerEpoch) {
          const p = load(epoch, next++);
          p.catch(() => undefined); // awaited below; no unhandled rejection while queued
          queue.push(p);
        }
      };
      try {
        for (fill(); queue.length > 0; fill()) {
          throwIfAborted(job.signal, stage);
          yield await queue.shift()!;
        }
      } finally {
        // Release what was decoded but not trained on (an abort or an error mid-epoch).
        for (const p of queue) await p.then((b) => releaseBatch(b)).catch(() => undefined);
      }
    };

    const optimizer = makeOptimizer(model, r);
    const updatesPerEpoch = Math.ceil(plan.stepsPerEpoch / r.gradAccum);
    const sched =
      r.sched === 'none'
        ? null
        : createSchedule({
            sched: r.sched,
            epochs: r.epochs,
            warmupEpochs: r.warmupEpochs,
            minLr: r.minLr,
            warmupLr: r.warmupLr ?? r.lr / 100,
            onUpdates: true,
            updatesPerEpoch,
          });
    const scheduler = sched ? new Scheduler(optimizer, sched.fn, sched.tInEpochs) : undefined;
    const ema = r.emaDecay > 0 ? new ModelEma(model.stateDict(), { decay: r.emaDecay, mode: r.emaMode }) : undefined;
    const lossFn = (logits: Tensor, b: TrainBatch): Tensor => {
      const pseudo = b.extra?.['unlabeled'] as Tensor | undefined;
      if (!pseudo) return labelSmoothingCrossEntropy(logits, b.target, r.labelSmoothing);
      return mixedBatchLoss(
        logits,
        { labeled: b.target, unlabeled: pseudo },
        { smoothing: r.labelSmoothing, temperature: u!.temperature, reduction: 'mean' },
      ).loss;
    };
    try {
      const result = await fit({
        model,
        epochs: r.epochs,
        batchesPerEpoch: plan.stepsPerEpoch,
        trainBatches,
        optimizer,
        lossFn,
        generator: g,
        generators: { model: g },
        // bf16: forward + loss under autocast on the training device; evaluation stays float32.
        ...(precisionAutocast(r.precision) ? { context: { autocast: precisionAutocast(r.precision), ...deviceContext(job.device) } } : {}),
        channelsLast: r.channelsLast,
        gradAccum: r.gradAccum,
        output: job.output,
        resume: job.resume,
        configHash: contentHash({
          model: job.model,
          recipe: r,
          numClasses: C,
          dataConfig: dc,
          key: job.key,
          seed: job.seed,
          ...(dp ? { worldSize: dp.worldSize } : {}),
        }),
        ...(dp ? { afterBackward: dp.afterBackward, reduceLoss: dp.meanAcrossRanks, writeOutputs: dp.isWriter } : {}),
        ...(scheduler ? { scheduler } : {}),
        ...(ema ? { ema } : {}),
        ...(r.clipGrad ? { clipGrad: r.clipGrad } : {}),
        ...(r.checkpointEvery ? { checkpointEvery: r.checkpointEvery } : {}),
        ...(val
          ? {
              validate: async (m: unknown) => {
                const e = await evaluate(m as EfficientNet, loaderBatches(val)(0, 0));
                return dp ? dp.reduceEval(e) : e;
              },
            }
          : {}),
        onStep: (p) => job.onEvent?.({ type: 'step', stage, epochs: r.epochs, ...p }),
        onEpoch: (e) => job.onEvent?.({ type: 'epoch', stage, epochs: r.epochs, ...e }),
      } as Parameters<typeof fit>[0]);
      // The final model (EMA weights when an EMA is kept), in the hub layout timm loads; its
      // config.json records the preprocessing it trained with and its class names.
      const modelDir = join(job.output, 'model');
      if (model.pretrainedCfg) {
        model.pretrainedCfg = {
          ...model.pretrainedCfg,
          inputSize: dc.inputSize,
          mean: dc.mean,
          std: dc.std,
          cropPct: dc.cropPct,
          interpolation: dc.interpolation,
          numClasses: C,
        };
      }
      if (!dp || dp.isWriter) await withEmaWeights(model, ema, async () => saveModel(model, modelDir, { labelNames: job.labelNames }));
      await dp?.barrier(); // the other ranks read the model folder rank 0 just wrote
      const last = result.history[result.history.length - 1];
      return {
        fit: result,
        final: last?.eval ?? null,
        modelDir,
        weights: fileHash(join(modelDir, 'model.safetensors')),
        dataConfig: dc,
        seconds: (Date.now() - t0) / 1000,
      };
    } finally {
      ema?.dispose();
      optimizer.dispose();
    }
  } finally {
    for (const l of loaders) await l.close();
    model.dispose();
    g.dispose();
  }
}
