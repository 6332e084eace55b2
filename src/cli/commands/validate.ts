// `noisy-student validate`: top-1/top-5 and loss of a model on a labeled data set (timm's validate.py),
// through the InferenceModel seam. The preprocessing is the checkpoint's own (its config.json);
// without one, a built-in set's defaults, as when it was trained. The set's classes are matched to
// the model's class names (label_names) by name, so a folder with fewer classes is still scored in
// the model's indices, and one with a class the model does not know is refused.
import { Command } from 'commander';
import { checkpointFiles } from '../../models/index.js';
import { DEFAULT_MAX_SKIPPED, SkipReport, type DataConfig } from '../../data/index.js';
import { evaluateModel, inferenceDataConfig, mapSelectedClasses, selectData, trainingDataConfig } from '../../train/index.js';
import {
  addBackendOptions,
  addJsonOption,
  addModelOptions,
  calibrationFromOptions,
  defaultWorkers,
  loadInferenceFromOptions,
  printJson,
  type ModelCliOptions,
} from '../options.js';
import { intArg, numberArg } from '../args.js';
import { warn } from '../errors.js';

interface ValidateOptions extends ModelCliOptions {
  data: string;
  batchSize: number;
  limit?: number;
  inChans?: number;
  imgSize?: number;
  workers: number;
  maxSkipped: number;
  json?: boolean;
}

export default function validateCommand(): Command {
  const cmd = new Command('validate')
    .summary('evaluate a model on labeled data')
    .description(
      "Top-1/top-5 accuracy and mean cross-entropy of a model on a labeled data set (folder, list, or 'fashion-mnist:test'). " +
        "The set's classes are matched to the model's (label_names in its config.json) by name: classes the model lacks are an " +
        'error, classes the set lacks a warning. Unreadable images are reported and left out of the score.',
    )
    .requiredOption('--data <spec>', "labeled data: folder, list file, or 'fashion-mnist:test'")
    .option('-b, --batch-size <n>', 'batch size', intArg({ min: 1 }), 256)
    .option('--limit <n>', 'only the first N images', intArg({ min: 1 }))
    .option('--num-classes <n>', "classes of the checkpoint's classifier (default: its config.json, else its shapes)", intArg({ min: 1 }))
    .option('--in-chans <n>', 'input channels', intArg({ min: 1 }))
    .option('--img-size <n>', 'input size', intArg({ min: 1 }))
    .option(
      '--workers <n>',
      'loader worker threads (default: the thread plan of the cores this process may use)',
      intArg({ min: 0 }),
      defaultWorkers('inference'),
    )
    .option(
      '--max-skipped <fraction>',
      'stop when more than this fraction of the images cannot be read',
      numberArg({ min: 0, max: 1 }),
      DEFAULT_MAX_SKIPPED,
    );
  addModelOptions(cmd);
  addBackendOptions(cmd);
  addJsonOption(cmd);
  return cmd.action(async (o: ValidateOptions) => {
    const selected = selectData({ spec: o.data, limit: o.limit });
    const sizes = { inChans: o.inChans, imgSize: o.imgSize };
    const ownConfig = o.pretrained || (o.checkpoint !== undefined && checkpointFiles(o.checkpoint).config !== null);
    const configFor = (m: Parameters<typeof inferenceDataConfig>[0]): DataConfig =>
      ownConfig ? inferenceDataConfig(m, sizes) : trainingDataConfig(m, selected.defaults, sizes);
    // int8 without --calibration calibrates on the data it scores (say so: a held-out set is the fairer choice).
    if (o.precision === 'int8' && o.calibration === undefined)
      warn(`int8 calibrates on --data ${o.data} itself; give --calibration DATA (e.g. the training set) to keep it held out`);
    const calibration = calibrationFromOptions(o, { dataset: selected.dataset, what: `--data ${o.data}`, config: configFor });
    const model = await loadInferenceFromOptions(o, { command: 'validate', requireWeights: true, calibration });
    try {
      const data = mapSelectedClasses(selected, model.labelNames, `data ${o.data}`);
      for (const note of data.notes) warn(note);
      const dataConfig = configFor(model);
      const skips = new SkipReport({ total: data.dataset.length, maxSkipped: o.maxSkipped, dir: null });
      const r = await evaluateModel(model, data.dataset, {
        dataConfig,
        batchSize: o.batchSize,
        workers: o.workers,
        onSampleError: (e) => skips.add(e, 'val'),
      });
      const summary = skips.finish();
      if (summary) warn(summary);
      if (o.json) printJson({ ...r, backend: model.backend, precision: model.precision, skipped: skips.images });
      else
        process.stdout.write(
          `top1 ${(r.top1 * 100).toFixed(2)}%  top5 ${(r.top5 * 100).toFixed(2)}%  loss ${r.loss.toFixed(4)}  (${r.n} images)\n`,
        );
    } finally {
      await model.dispose();
    }
  });
}
