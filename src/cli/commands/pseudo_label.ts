// `noisy-student pseudo-label`: the teacher, without noise, over a folder of unlabeled images (or the
// unlabeled rest of a built-in set), in shards that a rerun does not redo.
import { Command } from 'commander';
import { join } from 'node:path';
import { flatFolder, labeledSplit, resolveDataConfig, subset, type ImageDataset } from '../../data/index.js';
import { pseudoLabel } from '../../noisy/stages.js';
import { resolveDataSpec } from '../../train/data_spec.js';
import { atomicWriteJson } from '../../util/atomic_write.js';
import { addModelOptions, loadModelFromOptions, type ModelCliOptions } from '../options.js';
import { createProgress } from '../progress.js';
import { globalOptions } from '../options.js';

interface Options extends ModelCliOptions {
  data: string;
  labelsPerClass?: number;
  seed: number;
  limit?: number;
  shardSize: number;
  topk?: number;
  batchSize: number;
  workers: number;
  output: string;
}

/**
 * A folder of images, or `fashion-mnist` with --labels-per-class: the images not picked as labeled;
 * `limit` keeps the first N. pseudo-label, student and evaluate must resolve the same images.
 */
export function unlabeledFrom(
  spec: string,
  labelsPerClass: number | undefined,
  seed: number,
  limit?: number,
): { dataset: ImageDataset; defaults: ReturnType<typeof resolveDataSpec>['defaults'] } {
  const first = (ds: ImageDataset): ImageDataset =>
    limit === undefined || limit >= ds.length
      ? ds
      : subset(
          ds,
          Array.from({ length: limit }, (_, i) => i),
        );
  if (/^fashion-mnist/.test(spec)) {
    const d = resolveDataSpec(spec);
    if (!labelsPerClass) return { dataset: first(d.dataset), defaults: d.defaults };
    return { dataset: first(subset(d.dataset, labeledSplit(d.dataset, labelsPerClass, seed).unlabeled)), defaults: d.defaults };
  }
  return { dataset: first(flatFolder(spec)), defaults: null };
}

export default function pseudoLabelCommand(): Command {
  const cmd = new Command('pseudo-label')
    .summary('label unlabeled images with a teacher (no noise)')
    .description(
      'Run the teacher in eval mode (its saved EMA weights, the clean eval transform at its own resolution) over unlabeled images ' +
        'and store, in shards, each image’s class probabilities (argmax and confidence follow). Shards already written are kept, ' +
        'so a rerun after a kill continues; unreadable images are reported and skipped.',
    )
    .requiredOption('--data <spec>', "a folder of images, or 'fashion-mnist' (with --labels-per-class: the unlabeled rest)")
    .option('--labels-per-class <n>', 'with a built-in set: leave out the N labeled images per class', (v) => Number(v))
    .option('--seed <n>', 'seed of the labeled split', (v) => Number(v), 0)
    .option('--limit <n>', 'only the first N unlabeled images (give the same to student and evaluate)', (v) => Number(v))
    .option('--shard-size <n>', 'images per shard', (v) => Number(v), 5000)
    .option('--topk <k>', 'keep each image’s k largest probabilities, renormalised (for many classes)', (v) => Number(v))
    .option('-b, --batch-size <n>', 'batch size', (v) => Number(v), 256)
    .option('--workers <n>', 'loader worker threads', (v) => Number(v), 1)
    .requiredOption('-o, --output <dir>', 'output folder (shards + index.json)');
  addModelOptions(cmd);
  return cmd.action(async (o: Options) => {
    const g = globalOptions(cmd);
    const { dataset, defaults } = unlabeledFrom(o.data, o.labelsPerClass, o.seed, o.limit);
    const model = await loadModelFromOptions(o, { command: 'pseudo-label', requireWeights: true });
    try {
      const pc = model.pretrainedCfg!;
      const config = resolveDataConfig(
        defaults ? { inputSize: pc.inputSize as [number, number, number], mean: defaults.mean, std: defaults.std, cropPct: 1 } : {},
        model,
      );
      const bar = createProgress({ total: dataset.length, label: 'pseudo-label', unit: 'img', quiet: g.quiet });
      let last = 0;
      const pl = await pseudoLabel(model, dataset, config, {
        dir: o.output,
        shardSize: o.shardSize,
        batchSize: o.batchSize,
        workers: o.workers,
        ...(o.topk !== undefined ? { topk: o.topk } : {}),
        inputsKey: JSON.stringify({ data: o.data, labelsPerClass: o.labelsPerClass ?? null, seed: o.seed, limit: o.limit ?? null }),
        onProgress: (done) => {
          bar.tick(done - last);
          last = done;
        },
      });
      bar.stop();
      atomicWriteJson(join(o.output, 'index.json'), {
        images: dataset.length,
        shardSize: o.shardSize,
        numClasses: pl.numClasses,
        labeled: pl.records.length,
        failed: pl.failed,
        records: pl.records,
      });
      for (const f of pl.failed) process.stderr.write(`skipped unreadable image ${f.id}: ${f.message}\n`);
      process.stdout.write(`${pl.records.length} images labeled (${pl.failed.length} skipped); ${o.output}/index.json\n`);
    } finally {
      model.dispose();
    }
  });
}
