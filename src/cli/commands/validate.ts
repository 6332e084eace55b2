// `noisy-student validate`: top-1/top-5 and loss of a model on a labeled data set (timm's validate.py).
import { Command } from 'commander';
import { DataLoader, subset } from '../../data/index.js';
import { evaluate, loaderBatches } from '../../train/index.js';
import { resolveDataSpec } from '../../train/data_spec.js';
import { trainDataConfig } from '../../jobs/train_classifier.js';
import { addJsonOption, addModelOptions, loadModelFromOptions, printJson, type ModelCliOptions } from '../options.js';

interface ValidateOptions extends ModelCliOptions {
  data: string;
  batchSize?: number;
  limit?: number;
  inChans?: number;
  imgSize?: number;
  workers?: number;
  json?: boolean;
}

export default function validateCommand(): Command {
  const cmd = new Command('validate')
    .summary('evaluate a model on labeled data')
    .description("Top-1/top-5 accuracy and mean cross-entropy of a model on a labeled data set (folder, list, or 'fashion-mnist:test').")
    .requiredOption('--data <spec>', "labeled data: folder, list file, or 'fashion-mnist:test'")
    .option('-b, --batch-size <n>', 'batch size', (v) => Number(v), 256)
    .option('--limit <n>', 'only the first N images', (v) => Number(v))
    .option('--in-chans <n>', 'input channels', (v) => Number(v))
    .option('--img-size <n>', 'input size', (v) => Number(v))
    .option('--workers <n>', 'loader worker threads', (v) => Number(v), 0);
  addModelOptions(cmd);
  addJsonOption(cmd);
  return cmd.action(async (o: ValidateOptions) => {
    const data = resolveDataSpec(o.data);
    const model = await loadModelFromOptions(o, { command: 'validate', requireWeights: true });
    try {
      const dc = trainDataConfig(model, { inChans: o.inChans, imgSize: o.imgSize }, data.defaults);
      const ds = o.limit
        ? subset(
            data.dataset,
            Array.from({ length: Math.min(o.limit, data.dataset.length) }, (_, i) => i),
          )
        : data.dataset;
      const loader = new DataLoader(ds, { batchSize: o.batchSize ?? 256, numWorkers: o.workers ?? 0, transform: { config: dc } });
      model.eval();
      const r = await evaluate(model, loaderBatches(loader)(0, 0));
      await loader.close();
      if (o.json) printJson(r);
      else
        process.stdout.write(
          `top1 ${(r.top1 * 100).toFixed(2)}%  top5 ${(r.top5 * 100).toFixed(2)}%  loss ${r.loss.toFixed(4)}  (${r.n} images)\n`,
        );
    } finally {
      model.dispose();
    }
  });
}
