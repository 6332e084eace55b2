// The one training config. `RecipeSchema` holds every knob of the EfficientNet training recipe
// (optimizer, schedule, regularisation, augmentation, EMA, checkpointing); `TrainConfigSchema` adds
// what a `train` job trains on and where it writes. The `train` command's flags and the Noisy
// Student config's `teacher.train` / `student.train` are all this schema, so a default cannot differ
// between them and a flag cannot drift from the config (cli/schema_options.ts builds the flags).
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_MAX_SKIPPED, parseRandAugment } from '../data/index.js';
import { threadPlan } from '../util/cpu_budget.js';

/** Training precisions: fp32, or bf16 mixed precision (autocast; the weights and optimizer stay float32). */
export const TRAIN_PRECISIONS = ['fp32', 'bf16'] as const;
export type TrainPrecision = (typeof TRAIN_PRECISIONS)[number];

/** The autocast dtype a precision trains under (null: none, plain float32). */
export function precisionAutocast(p: TrainPrecision | undefined): 'bfloat16' | null {
  return p === 'bf16' ? 'bfloat16' : null;
}

export const RecipeSchema = z
  .object({
    epochs: z.number().int().positive().default(10).describe('epochs'),
    batchSize: z.number().int().positive().default(64).describe('labeled images per batch'),
    lr: z.number().positive().default(2e-3).describe('peak learning rate'),
    opt: z.enum(['sgd', 'rmsproptf', 'adamw']).default('adamw').describe('optimizer'),
    momentum: z.number().min(0).max(1).default(0.9).describe('momentum (sgd, rmsproptf)'),
    weightDecay: z.number().min(0).default(0.05).describe('weight decay (not on biases and norms)'),
    sched: z.enum(['cosine', 'step', 'exp', 'none']).default('cosine').describe('learning-rate schedule, per update'),
    warmupEpochs: z.number().min(0).default(1).describe('linear warmup epochs'),
    warmupLr: z.number().positive().optional().describe('warmup start lr (default lr/100)'),
    minLr: z.number().min(0).default(1e-5).describe('cosine floor'),
    dropRate: z.number().min(0).max(1).default(0).describe('dropout before the classifier'),
    dropPathRate: z.number().min(0).max(1).default(0).describe('stochastic depth rate (last block)'),
    aug: z.string().default('').describe("RandAugment config, e.g. 'rand-m9-mstd0.5' ('' = none)"),
    scale: z
      .tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)])
      .default([0.6, 1])
      .describe('random-resized-crop area range'),
    hflip: z.number().min(0).max(1).default(0.5).describe('horizontal flip probability'),
    labelSmoothing: z.number().min(0).lt(1).default(0.1).describe('label smoothing of hard targets'),
    emaDecay: z.number().min(0).lt(1).default(0).describe('EMA of the weights (0 = off)'),
    emaMode: z.enum(['tf', 'timm', 'constant']).default('tf').describe('EMA decay warmup: tf (min(d, (1+t)/(10+t))), timm, constant'),
    clipGrad: z.number().positive().optional().describe('clip the global gradient norm'),
    gradAccum: z.number().int().positive().default(1).describe('micro-batches per update'),
    channelsLast: z.boolean().default(false).describe('channels_last memory format'),
    // Optional, not defaulted: a recipe without it is fp32 and hashes as it did before the field
    // existed, so earlier runs' checkpoints and stage folders stay valid.
    precision: z
      .enum(TRAIN_PRECISIONS)
      .optional()
      .describe('fp32, or bf16: forward and loss under bfloat16 autocast, float32 weights and optimizer state (default fp32)'),
    // Optional like precision: recipes without it hash as before.
    syncBn: z.boolean().optional().describe("data parallel: BatchNorm statistics over all ranks' batches (SyncBatchNorm)"),
    freezeStages: z.number().int().min(0).default(0).describe('freeze the stem and the first N stages (fine-tuning)'),
    zeroHead: z.boolean().default(false).describe('start a new classifier at zero (trains better at tiny input sizes)'),
    checkpointEvery: z.number().int().positive().optional().describe('also checkpoint every N updates (resume points)'),
  })
  .strict();

export type Recipe = z.output<typeof RecipeSchema>;
export type RecipeInput = z.input<typeof RecipeSchema>;

/** The noise a Noisy Student student gets from its own settings, not from its recipe. */
export const NOISE_RECIPE_KEYS = ['aug', 'dropRate', 'dropPathRate'] as const;

export const TrainConfigSchema = RecipeSchema.extend({
  model: z.string().describe('timm model name, e.g. tf_efficientnet_b0 or tinynet_e'),
  pretrained: z.boolean().default(false).describe("start from timm's pretrained weights"),
  checkpoint: z.string().optional().describe('start from local weights (a model folder or .safetensors)'),
  numClasses: z.number().int().positive().optional().describe('classifier size (default: the data set’s classes)'),
  inChans: z.number().int().positive().optional().describe('input channels'),
  imgSize: z.number().int().positive().optional().describe('input size'),
  data: z.string().describe("training data: a folder of class folders, a .csv/.jsonl list, or 'fashion-mnist'"),
  valData: z.string().optional().describe('validation data (default: the held-out split of a built-in set)'),
  labelsPerClass: z.number().int().positive().optional().describe('keep N labeled images per class (chosen by seed)'),
  valLimit: z.number().int().positive().optional().describe('validate on the first N validation images'),
  workers: z
    .number()
    .int()
    .min(0)
    .default(() => threadPlan('train').loaderWorkers)
    .describe('data loader worker threads (default: the thread plan of the cores this process may use)'),
  maxSkipped: z
    .number()
    .min(0)
    .max(1)
    .default(DEFAULT_MAX_SKIPPED)
    .describe(
      'stop when more than this fraction of the images cannot be read (each skipped image is listed in OUTPUT/skipped.jsonl; ' +
        'its batch is one image shorter, the same in every epoch, so --resume stays exact)',
    ),
  seed: z.number().int().min(0).default(0).describe('seed'),
  device: z.string().default('cpu').describe('cpu or cuda[:N]'),
  output: z.string().describe('run directory'),
  resume: z.boolean().default(false).describe('continue from the latest checkpoint in --output'),
  overwrite: z.boolean().default(false).describe("replace a previous run's files in --output (checkpoints, metrics, model)"),
}).strict();

export type TrainConfig = z.output<typeof TrainConfigSchema>;
export type TrainConfigInput = z.input<typeof TrainConfigSchema>;

/** Zod issues as one line: `path: message; ...`. */
export function formatIssues(e: z.ZodError): string {
  return e.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/** Reject what zod cannot see: a RandAugment string that does not parse (the message names the token). */
export function checkRecipe(r: Pick<Recipe, 'aug'>): void {
  if (r.aug) parseRandAugment(r.aug);
}

/** Merge a config file's values with flags (flags win) and validate; unknown keys are errors. */
export function resolveTrainConfig(fileValues: Record<string, unknown>, flags: Record<string, unknown> = {}): TrainConfig {
  const merged: Record<string, unknown> = { ...fileValues };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined) merged[k] = v;
  const r = TrainConfigSchema.safeParse(merged);
  if (!r.success) throw new Error(`invalid training config: ${formatIssues(r.error)}`);
  checkRecipe(r.data);
  return r.data;
}

/** The recipe part of a training config (what the trainer runs), without the job's data and paths. */
export function recipeOf(cfg: Recipe): Recipe {
  const keys = Object.keys(RecipeSchema.shape) as (keyof Recipe)[];
  return Object.fromEntries(keys.filter((k) => cfg[k] !== undefined).map((k) => [k, cfg[k]])) as Recipe;
}

export function readConfigFile(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (e) {
    throw new Error(`${path}: not a readable JSON config file (${(e as Error).message})`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`${path}: a config file must hold a JSON object`);
  return v as Record<string, unknown>;
}
