// `noisy-student validate`: top-1/top-5 and loss of a model on a labeled data set (timm's validate.py),
// through the InferenceModel seam. The preprocessing is the checkpoint's own (its config.json);
// without one, a built-in set's defaults, as when it was trained.
import { Command } from 'commander';
import { checkpointFiles } from '../../models/index.js';
import { evaluateModel, inferenceDataConfig, selectData, trainingDataConfig } from '../../train/index.js';
import { addJsonOption, addModelOptions, loadInferenceFromOptions, printJson, type ModelCliOptions } from '../options.js';
import { intArg } from '../args.js';

interface ValidateOptions extends ModelCliOptions {
  data: string;
  batchSize: number;
  limit?: number;
  inChans?: number;
  imgSize?: number;
  workers: number;
  json?: boolean;
}

export default function validateCommand(): Command {
  const cmd = new Command('validate')
    .summary('evaluate a model on labeled data')
    .description("Top-1/top-5 accuracy and mean cross-entropy of a model on a labeled data set (folder, list, or 'fashion-mnist:test').")
    .requiredOption('--data <spec>', "labeled data: folder, list file, or 'fashion-mnist:test'")
    .option('-b, --batch-size <n>', 'batch size', intArg({ min: 1 }), 256)
    .option('--limit <n>', 'only the first N images', intArg({ min: 1 }))
    .option('--num-classes <n>', "classes of the checkpoint's classifier (default: its config.json, else its shapes)", intArg({ min: 1 }))
    .option('--in-chans <n>', 'input channels', intArg({ min: 1 }))
    .option('--img-size <n>', 'input size', intArg({ min: 1 }))
    .option('--workers <n>', 'loader worker threads', intArg({ min: 0 }), 0);
  addModelOptions(cmd);
  addJsonOption(cmd);
  return cmd.action(async (o: ValidateOptions) => {
    const data = selectData({ spec: o.data, limit: o.limit });
    const model = await loadInferenceFromOptions(o, { command: 'validate', requireWeights: true });
    try {
      const sizes = { inChans: o.inChans, imgSize: o.imgSize };
      const ownConfig = o.pretrained || (o.checkpoint !== undefined && checkpointFiles(o.checkpoint).config !== null);
      const dataConfig = ownConfig ? inferenceDataConfig(model, sizes) : trainingDataConfig(model, data.defaults, sizes);
      const r = await evaluateModel(model, data.dataset, { dataConfig, batchSize: o.batchSize, workers: o.workers });
      if (o.json) printJson(r);
      else
        process.stdout.write(
          `top1 ${(r.top1 * 100).toFixed(2)}%  top5 ${(r.top5 * 100).toFixed(2)}%  loss ${r.loss.toFixed(4)}  (${r.n} images)\n`,
        );
    } finally {
      await model.dispose();
    }
  });
}
