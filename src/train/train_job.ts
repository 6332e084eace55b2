// The `train` job (timm's train.py for our models) as a library call: a validated TrainConfig, its
// data resolved by the one data resolver, and the one trainer. The run directory gets config.json,
// metrics.jsonl, checkpoints/ and model/ (timm-loadable, with the classes' names).
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseDevice } from '../torch/index.js';
import { atomicWriteJson } from '../util/atomic_write.js';
import { acquireJobLock, JOB_LOCK_FILE } from '../util/lock.js';
import { removeJobLeftovers } from './checkpoint.js';
import { recipeOf, type TrainConfig } from './config.js';
import { mapSelectedClasses, selectData } from './data_spec.js';
import { SkipReport } from '../data/index.js';
import { trainModel, type TrainResult } from './trainer.js';
import type { ProgressListener } from './events.js';
import { dataParallelFromEnv, type DataParallel } from './data_parallel.js';

export interface TrainJobHooks {
  readonly onEvent?: ProgressListener;
  readonly log?: (line: string) => void;
  readonly signal?: AbortSignal;
  /** Data-parallel group; default: the launcher's (torchrun, `noisy-student launch`, Slurm, an indexed Job), or none. null: none. */
  readonly dataParallel?: DataParallel | null;
}

export async function runTrainJob(cfg: TrainConfig, hooks: TrainJobHooks = {}): Promise<TrainResult> {
  const dp = hooks.dataParallel === undefined ? await dataParallelFromEnv() : hooks.dataParallel;
  // One job per output folder: a second one would interleave metrics.jsonl and prune our checkpoints.
  // Data parallel: rank 0 holds it and writes; the other ranks only read (the checkpoint to resume).
  const lock = !dp || dp.isWriter ? acquireJobLock(cfg.output, `train --output ${cfg.output}`) : null;
  try {
    return await trainJob(cfg, hooks, dp);
  } finally {
    lock?.release();
  }
}

async function trainJob(cfg: TrainConfig, hooks: TrainJobHooks, dp: DataParallel | null): Promise<TrainResult> {
  parseDevice(cfg.device); // a device this libtorch lacks fails before anything is written
  if (!dp || dp.isWriter) {
    claimOutput(cfg);
    // A killed run's temporary files and checkpoint folders go before anything else is written.
    removeJobLeftovers(cfg.output);
    mkdirSync(cfg.output, { recursive: true });
    atomicWriteJson(join(cfg.output, 'config.json'), cfg);
  }
  await dp?.barrier(); // the other ranks start once rank 0 has cleaned and claimed the folder
  const labeled = selectData({
    spec: cfg.data,
    labelsPerClass: cfg.labelsPerClass,
    part: cfg.labelsPerClass ? 'labeled' : 'all',
    seed: cfg.seed,
  });
  const classes = labeled.classes;
  const numClasses = cfg.numClasses ?? classes?.length;
  if (!numClasses) throw new Error('numClasses is needed (the data spec has no class list)');
  const valSpec = cfg.valData ?? labeled.resolved?.defaultValSpec ?? null;
  // The validation set is scored in the training classes' indices, matched by name.
  const val = valSpec
    ? mapSelectedClasses(selectData({ spec: valSpec, limit: cfg.valLimit }), classes, `validation data ${valSpec}`)
    : null;
  const log = hooks.log ?? (() => {});
  for (const note of [...labeled.notes, ...(val?.notes ?? [])]) log(`warning: ${note}`);
  // Unreadable images: listed once each in OUTPUT/skipped.jsonl (a resumed run keeps the earlier list), bounded by maxSkipped.
  const skips = new SkipReport({
    total: labeled.dataset.length + (val?.dataset.length ?? 0),
    maxSkipped: cfg.maxSkipped,
    dir: !dp || dp.isWriter ? cfg.output : null,
    resume: cfg.resume,
  });
  const onEvent = hooks.onEvent;
  const result = await trainModel({
    model: cfg.model,
    recipe: recipeOf(cfg),
    ...(cfg.checkpoint ? { init: { checkpoint: cfg.checkpoint } } : cfg.pretrained ? { init: { pretrained: true } } : {}),
    numClasses,
    labelNames: classes && classes.length === numClasses ? classes : null,
    labeled: labeled.dataset,
    val: val?.dataset ?? null,
    dataDefaults: labeled.defaults,
    sizes: { inChans: cfg.inChans, imgSize: cfg.imgSize },
    seed: cfg.seed,
    workers: cfg.workers,
    device: cfg.device,
    output: cfg.output,
    resume: cfg.resume,
    key: { labeled: labeled.key, val: val?.key ?? null, inChans: cfg.inChans ?? null, imgSize: cfg.imgSize ?? null },
    stage: 'train',
    dataParallel: dp,
    // The list is brought up to date at each epoch's end, so a killed run leaves it behind too.
    onEvent: (e) => {
      if (e.type === 'epoch') skips.write();
      if (!dp || dp.isWriter) onEvent?.(e); // one progress display for the job: rank 0's
    },
    onSampleError: (e, set) => skips.add(e, set),
    ...(hooks.log ? { log: hooks.log } : {}),
    ...(hooks.signal ? { signal: hooks.signal } : {}),
  }).finally(() => skips.write());
  const summary = skips.finish();
  if (summary) log(`${summary}; each made its batch one image shorter, the same in every epoch (so --resume stays exact)`);
  return result;
}

/** What a train run writes in its output folder (and all that --overwrite removes). */
const RUN_FILES = ['checkpoints', 'metrics.jsonl', 'model', 'config.json', 'skipped.jsonl'];

/**
 * A second run into a folder that holds one would restart its metrics and prune its checkpoints:
 * refuse a non-empty folder unless the run resumes it or is told to replace it.
 */
function claimOutput(cfg: TrainConfig): void {
  if (cfg.resume || !existsSync(cfg.output) || readdirSync(cfg.output).every((f) => f === JOB_LOCK_FILE)) return;
  if (!cfg.overwrite)
    throw new Error(
      `${cfg.output} is not empty (a previous run?): give --resume to continue it, another --output, or --overwrite to replace its files`,
    );
  for (const f of RUN_FILES) rmSync(join(cfg.output, f), { recursive: true, force: true });
}
