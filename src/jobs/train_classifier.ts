// timm's train.py for our models, as a library call: a validated config (defaults < config file <
// flags; unknown keys are errors), a model from the zoo (pretrained, a checkpoint, or from scratch,
// with a new classifier), the EfficientNet recipe's parts, and a run directory that resumes.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { Generator, noGrad, type Tensor } from '../torch/index.js';
import { createModel, saveModel, type EfficientNet } from '../models/index.js';
import {
  DataLoader,
  labeledSplit,
  parseRandAugment,
  resolveDataConfig,
  subset,
  type DataConfig,
  type ImageDataset,
} from '../data/index.js';
import {
  AdamW,
  RMSpropTF,
  SGD,
  ModelEma,
  Scheduler,
  createSchedule,
  evaluate,
  fit,
  labelSmoothingCrossEntropy,
  loaderBatches,
  paramGroupsWeightDecay,
  withEmaWeights,
  type EvalResult,
  type FitResult,
  type LossFn,
  type TrainBatch,
} from '../train/index.js';
import { resolveDataSpec } from '../train/data_spec.js';
import { atomicWriteJson } from '../util/atomic_write.js';

export const TrainConfigSchema = z
  .object({
    model: z.string(),
    pretrained: z.boolean().default(false),
    checkpoint: z.string().optional(),
    numClasses: z.number().int().positive().optional(),
    inChans: z.number().int().positive().optional(),
    imgSize: z.number().int().positive().optional(),
    data: z.string(),
    valData: z.string().optional(),
    /** Keep N labeled images per class (chosen by seed): the low-label regime of the demos. */
    labelsPerClass: z.number().int().positive().optional(),
    /** Evaluate on at most this many validation images (first N), for quick runs. */
    valLimit: z.number().int().positive().optional(),
    epochs: z.number().int().positive().default(10),
    batchSize: z.number().int().positive().default(64),
    lr: z.number().positive().default(2e-3),
    opt: z.enum(['sgd', 'rmsproptf', 'adamw']).default('adamw'),
    momentum: z.number().min(0).max(1).default(0.9),
    weightDecay: z.number().min(0).default(0.05),
    sched: z.enum(['cosine', 'step', 'exp', 'none']).default('cosine'),
    warmupEpochs: z.number().min(0).default(1),
    minLr: z.number().min(0).default(1e-5),
    dropRate: z.number().min(0).max(1).default(0),
    dropPathRate: z.number().min(0).max(1).default(0),
    /** RandAugment config ('rand-m9-mstd0.5', 'nsrand-m27-n2') or '' for none. */
    aug: z.string().default(''),
    scale: z.tuple([z.number(), z.number()]).default([0.6, 1]),
    hflip: z.number().min(0).max(1).default(0.5),
    labelSmoothing: z.number().min(0).max(1).default(0.1),
    emaDecay: z.number().min(0).max(1).default(0),
    clipGrad: z.number().positive().optional(),
    gradAccum: z.number().int().positive().default(1),
    channelsLast: z.boolean().default(false),
    /** Freeze the first N stages of blocks (and the stem) when fine-tuning. */
    freezeStages: z.number().int().min(0).default(0),
    /** Zero the new classifier's weights (helps small-image training from scratch). */
    zeroHead: z.boolean().default(false),
    workers: z.number().int().min(0).default(0),
    seed: z.number().int().default(0),
    checkpointEvery: z.number().int().positive().optional(),
    output: z.string(),
    resume: z.boolean().default(false),
  })
  .strict();

export type TrainConfig = z.output<typeof TrainConfigSchema>;
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;

/** Merge a config file's values with flags (flags win) and validate; unknown keys are errors. */
export function resolveTrainConfig(fileValues: Record<string, unknown>, flags: Record<string, unknown>): TrainConfig {
  const merged: Record<string, unknown> = { ...fileValues };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
  const r = TrainConfigSchema.safeParse(merged);
  if (!r.success) {
    throw new Error(`invalid training config: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  }
  if (r.data.aug) parseRandAugment(r.data.aug); // throws naming the bad token
  return r.data;
}

export function readConfigFile(path: string): Record<string, unknown> {
  const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${path}: a config file must hold a JSON object`);
  return v as Record<string, unknown>;
}

export function configHash(cfg: unknown): string {
  return createHash('sha256').update(JSON.stringify(cfg)).digest('hex').slice(0, 16);
}

export interface TrainRunResult {
  fit: FitResult;
  final: EvalResult | null;
  modelDir: string;
  seconds: number;
}

export interface TrainHooks {
  onStep?: Parameters<typeof fit>[0]['onStep'];
  onEpoch?: Parameters<typeof fit>[0]['onEpoch'];
  log?: (line: string) => void;
}

export function makeOptimizer(model: EfficientNet, cfg: Pick<TrainConfig, 'opt' | 'lr' | 'weightDecay' | 'momentum'>) {
  const groups = paramGroupsWeightDecay(model.namedParameters(), { weightDecay: cfg.weightDecay });
  switch (cfg.opt) {
    case 'sgd':
      return new SGD(groups, { lr: cfg.lr, momentum: cfg.momentum, nesterov: true, weightDecay: cfg.weightDecay });
    case 'rmsproptf':
      return new RMSpropTF(groups, { lr: cfg.lr, momentum: cfg.momentum, weightDecay: cfg.weightDecay });
    case 'adamw':
      return new AdamW(groups, { lr: cfg.lr, weightDecay: cfg.weightDecay });
  }
}

/** Data config for training and eval: the model's pretrained cfg, overridden by built-in set defaults and flags. */
export function trainDataConfig(
  model: EfficientNet,
  cfg: Pick<TrainConfig, 'inChans' | 'imgSize'>,
  defaults: ReturnType<typeof resolveDataSpec>['defaults'],
): DataConfig {
  const inChans = cfg.inChans ?? defaults?.inChans ?? 3;
  const imgSize = cfg.imgSize ?? defaults?.imgSize;
  return resolveDataConfig(
    {
      ...(imgSize ? { inputSize: [inChans, imgSize, imgSize] } : { inChans }),
      ...(defaults ? { mean: defaults.mean, std: defaults.std, cropPct: 1 } : {}),
    },
    model,
  );
}

/** Freeze the stem and the first `n` stages (fine-tuning with frozen layers). */
export function freezeStages(model: EfficientNet, n: number): void {
  if (n <= 0) return;
  for (const [name, p] of model.namedParameters()) {
    const m = /^blocks\.(\d+)\./.exec(name);
    if (/^(conv_stem|bn1)\./.test(name) || (m && Number(m[1]) < n)) p.requiresGrad = false;
  }
}

/** Train (or fine-tune) a classifier as configured. Resumable: rerun with resume: true after a kill. */
export async function trainClassifier(cfg: TrainConfig, hooks: TrainHooks = {}): Promise<TrainRunResult> {
  const t0 = Date.now();
  const log = hooks.log ?? (() => {});
  mkdirSync(cfg.output, { recursive: true });
  const hash = configHash({ ...cfg, resume: undefined, output: undefined });
  atomicWriteJson(join(cfg.output, 'config.json'), cfg);
  const data = resolveDataSpec(cfg.data);
  const numClasses = cfg.numClasses ?? data.classes?.length;
  if (!numClasses) throw new Error('numClasses is needed (the data spec has no class list)');
  const g = new Generator(cfg.seed);
  const inChans = cfg.inChans ?? data.defaults?.inChans;
  const model = await createModel(cfg.model, {
    numClasses,
    ...(inChans !== undefined ? { inChans } : {}),
    dropRate: cfg.dropRate,
    dropPathRate: cfg.dropPathRate,
    generator: g,
    ...(cfg.checkpoint ? { checkpointPath: cfg.checkpoint } : cfg.pretrained ? { pretrained: true } : {}),
    onWarning: log,
  });
  const loaders: DataLoader[] = [];
  try {
    if (cfg.zeroHead) zeroClassifier(model);
    freezeStages(model, cfg.freezeStages);
    const dc = trainDataConfig(model, cfg, data.defaults);
    let trainSet: ImageDataset = data.dataset;
    if (cfg.labelsPerClass) trainSet = subset(trainSet, labeledSplit(trainSet, cfg.labelsPerClass, cfg.seed).labeled);
    const valSet = cfg.valData ? resolveDataSpec(cfg.valData).dataset : (data.defaultVal?.() ?? null);
    const val =
      valSet && cfg.valLimit
        ? subset(
            valSet,
            Array.from({ length: Math.min(cfg.valLimit, valSet.length) }, (_, i) => i),
          )
        : valSet;
    const train = new DataLoader(trainSet, {
      batchSize: cfg.batchSize,
      shuffle: true,
      seed: cfg.seed,
      dropLast: trainSet.length > cfg.batchSize,
      numWorkers: cfg.workers,
      transform: {
        config: dc,
        isTraining: true,
        train: { scale: cfg.scale, hflip: cfg.hflip, ...(cfg.aug ? { autoAugment: cfg.aug } : {}) },
      },
    });
    loaders.push(train);
    const valLoader = val ? new DataLoader(val, { batchSize: 256, numWorkers: cfg.workers, transform: { config: dc } }) : null;
    if (valLoader) loaders.push(valLoader);
    const optimizer = makeOptimizer(model, cfg);
    const stepsPerEpoch = Math.ceil(train.length / cfg.gradAccum);
    const sched =
      cfg.sched === 'none'
        ? null
        : createSchedule({
            sched: cfg.sched,
            epochs: cfg.epochs,
            warmupEpochs: cfg.warmupEpochs,
            minLr: cfg.minLr,
            warmupLr: cfg.lr / 100,
            onUpdates: true,
            updatesPerEpoch: stepsPerEpoch,
          });
    const scheduler = sched ? new Scheduler(optimizer, sched.fn, sched.tInEpochs) : undefined;
    const ema = cfg.emaDecay > 0 ? new ModelEma(model.stateDict(), { decay: cfg.emaDecay, mode: 'tf' }) : undefined;
    const lossFn: LossFn = (logits: Tensor, b: TrainBatch) => labelSmoothingCrossEntropy(logits, b.target, cfg.labelSmoothing);
    const validate = valLoader ? (m: EfficientNet) => evaluate(m, loaderBatches(valLoader)(0, 0)) : undefined;
    const result = await fit({
      model,
      epochs: cfg.epochs,
      batchesPerEpoch: train.length,
      trainBatches: loaderBatches(train),
      optimizer,
      lossFn,
      generator: g,
      generators: { model: g },
      channelsLast: cfg.channelsLast,
      gradAccum: cfg.gradAccum,
      output: cfg.output,
      resume: cfg.resume,
      configHash: hash,
      ...(scheduler ? { scheduler } : {}),
      ...(ema ? { ema } : {}),
      ...(cfg.clipGrad ? { clipGrad: cfg.clipGrad } : {}),
      ...(cfg.checkpointEvery ? { checkpointEvery: cfg.checkpointEvery } : {}),
      ...(validate ? { validate: validate as (m: unknown) => Promise<EvalResult> } : {}),
      ...(hooks.onStep ? { onStep: hooks.onStep } : {}),
      ...(hooks.onEpoch ? { onEpoch: hooks.onEpoch } : {}),
    } as Parameters<typeof fit>[0]);
    // The final model (EMA weights when an EMA is kept), in the hub layout timm loads.
    const modelDir = join(cfg.output, 'model');
    // The saved config describes the trained model's own preprocessing, so predict/validate use it.
    if (model.pretrainedCfg) {
      model.pretrainedCfg = {
        ...model.pretrainedCfg,
        inputSize: dc.inputSize,
        mean: dc.mean,
        std: dc.std,
        cropPct: dc.cropPct,
        interpolation: dc.interpolation,
        numClasses,
      };
    }
    await withEmaWeights(model, ema, async () => saveModel(model, modelDir));
    const last = result.history[result.history.length - 1];
    ema?.dispose();
    optimizer.dispose();
    return { fit: result, final: last?.eval ?? null, modelDir, seconds: (Date.now() - t0) / 1000 };
  } finally {
    for (const l of loaders) await l.close();
    model.dispose();
    g.dispose();
  }
}

/** Start a new classifier at zero weights (trains better than a random head at tiny input sizes). */
export function zeroClassifier(model: EfficientNet): void {
  const w = model.stateDict().get('classifier.weight');
  if (w) noGrad(() => w.zero_());
}
