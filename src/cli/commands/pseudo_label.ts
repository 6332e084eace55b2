// `noisy-student pseudo-label`: the teacher, without noise, over a folder of unlabeled images (or the
// unlabeled rest of a built-in set), in shards that a rerun does not redo: the same files a run
// writes in its gen-N/pseudo/<key>/ folders.
import { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { InferenceModel } from '../../models/index.js';
import { inferenceDataConfig, selectData } from '../../train/index.js';
import { DEFAULT_MAX_SKIPPED, SkipReport } from '../../data/index.js';
import { openPseudoLabelTeacher, pseudoLabel, weightsFingerprint } from '../../noisy/index.js';
import {
  addBackendOptions,
  addModelOptions,
  calibrationFromOptions,
  checkBackendOptions,
  defaultWorkers,
  globalOptions,
  loadModelFromOptions,
  reportBackendChoice,
  type ModelCliOptions,
} from '../options.js';
import { intArg, numberArg } from '../args.js';
import { acquireRankJobLock } from '../../distributed/job_lock.js';
import { warn } from '../errors.js';
import { progressPrinter } from '../progress_events.js';

interface Options extends ModelCliOptions {
  data: string;
  labelsPerClass?: number;
  seed: number;
  limit?: number;
  shardSize: number;
  topk?: number;
  batchSize: number;
  workers: number;
  maxSkipped: number;
  output: string;
}

export default function pseudoLabelCommand(): Command {
  const cmd = new Command('pseudo-label')
    .summary('label unlabeled images with a teacher (no noise)')
    .description(
      'Run the teacher in eval mode (its saved EMA weights, the clean eval transform of its config.json) over unlabeled images ' +
        'and store, in shards, each image’s class probabilities (argmax and confidence follow), then index.json. Shards already ' +
        'written are kept, so a rerun after a kill continues; unreadable images are reported and skipped.',
    )
    .requiredOption('--data <spec>', "a folder of images, or 'fashion-mnist' (with --labels-per-class: the unlabeled rest)")
    .option('--labels-per-class <n>', 'with a labeled set: leave out the N labeled images per class', intArg({ min: 1 }))
    .option('--seed <n>', 'seed of the labeled split', intArg({ min: 0 }), 0)
    .option('--limit <n>', 'only the first N unlabeled images (give the same to student and evaluate)', intArg({ min: 1 }))
    .option('--shard-size <n>', 'images per shard', intArg({ min: 1 }), 5000)
    .option('--topk <k>', 'keep each image’s k largest probabilities, renormalised (for many classes)', intArg({ min: 1 }))
    .option('-b, --batch-size <n>', 'batch size', intArg({ min: 1 }), 256)
    .option(
      '--workers <n>',
      'loader worker threads (default: the thread plan of the cores this process may use)',
      intArg({ min: 0 }),
      defaultWorkers('pseudo-label'),
    )
    .option(
      '--max-skipped <fraction>',
      'stop when more than this fraction of the images cannot be read (the list: OUTPUT/skipped.jsonl)',
      numberArg({ min: 0, max: 1 }),
      DEFAULT_MAX_SKIPPED,
    )
    .requiredOption('-o, --output <dir>', 'output folder (shards + index.json)');
  addModelOptions(cmd);
  addBackendOptions(cmd);
  return cmd.action(async (o: Options) => {
    const g = globalOptions(cmd);
    checkBackendOptions(o);
    // One job per output folder (released at the end, or at exit when it throws before the try);
    // under a launcher rank 0 holds it, the ranks split the shards (pseudoLabel) once it has it.
    const lock = await acquireRankJobLock(o.output, `pseudo-label --output ${o.output}`);
    await lock.ready();
    const data = selectData({ spec: o.data, labelsPerClass: o.labelsPerClass, part: 'unlabeled', seed: o.seed, limit: o.limit });
    for (const note of data.notes) warn(note);
    // Shards of an earlier attempt hold their own errors (pl.failed): the list is rebuilt from them at the end.
    const skips = new SkipReport({ total: data.dataset.length, maxSkipped: o.maxSkipped, dir: lock.isWriter ? o.output : null });
    const pathOf = (id: number): string | null => {
      const s = data.dataset.source(id);
      return s.kind === 'file' ? s.path : null;
    };
    const calibration = calibrationFromOptions(o, {
      dataset: data.dataset,
      what: 'the unlabeled images',
      config: (m) => inferenceDataConfig(m),
    });
    const model = await loadModelFromOptions(o, { command: 'pseudo-label', requireWeights: true });
    const progress = progressPrinter({ quiet: g.quiet || !lock.isWriter }); // rank 0 alone shows progress
    let teacher: InferenceModel | null = null;
    try {
      mkdirSync(o.output, { recursive: true });
      teacher = await openPseudoLabelTeacher(model, o.output, {
        backend: o.backend ?? 'torch',
        precision: o.precision ?? 'fp32',
        batchSize: o.batchSize,
        onChoice: (c) => reportBackendChoice(c, g.quiet),
        calibration,
      });
      const pl = await pseudoLabel(teacher, data.dataset, inferenceDataConfig(model), {
        teacherFingerprint: weightsFingerprint(model),
        dir: o.output,
        shardSize: o.shardSize,
        batchSize: o.batchSize,
        workers: o.workers,
        topk: o.topk,
        inputs: data.key,
        onEvent: progress.onEvent,
        onSampleError: (e) => skips.add(e, 'unlabeled'),
      });
      progress.stop();
      for (const f of pl.failed) skips.add({ index: f.id, path: pathOf(f.id), message: f.message }, 'unlabeled');
      const summary = skips.finish();
      if (summary && lock.isWriter) warn(summary);
      if (lock.isWriter)
        process.stdout.write(`${pl.records.length} images labeled (${pl.failed.length} skipped); ${join(o.output, 'index.json')}\n`);
    } finally {
      progress.stop();
      await teacher?.dispose();
      model.dispose();
      lock.release();
    }
  });
}
