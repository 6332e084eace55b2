// `noisy-student train`: timm's train.py for our models (also fine-tuning with a new classifier).
// Every flag comes from the training config's schema (train/config.ts): parse -> call -> print.
import { Command } from 'commander';
import { TrainConfigSchema, readConfigFile, resolveTrainConfig, runTrainJob } from '../../train/index.js';
import { globalOptions } from '../options.js';
import { addSchemaOptions, readSchemaOptions } from '../schema_options.js';
import { progressPrinter } from '../progress_events.js';

export default function trainCommand(): Command {
  const cmd = new Command('train')
    .summary('train or fine-tune a model')
    .description(
      "Train a model from the zoo on a folder of class folders, a .csv/.jsonl list, or 'fashion-mnist'. With --pretrained or " +
        '--checkpoint and --num-classes it fine-tunes with a new classifier. Writes config.json, metrics.jsonl, checkpoints/ and ' +
        'model/ (model.safetensors + config.json, loadable by timm) to --output; --resume continues a killed run exactly.',
    );
  addSchemaOptions(cmd, TrainConfigSchema, { names: { model: '-m, --model', batchSize: '-b, --batch-size', output: '-o, --output' } });
  cmd.option('--config <file.json>', 'config file (flags win; unknown keys are errors)');
  return cmd.action(async (o: Record<string, unknown>) => {
    const g = globalOptions(cmd);
    const fileValues = typeof o['config'] === 'string' ? readConfigFile(o['config']) : {};
    const cfg = resolveTrainConfig(fileValues, readSchemaOptions(o, TrainConfigSchema));
    const progress = progressPrinter({ quiet: g.quiet });
    try {
      const r = await runTrainJob(cfg, { onEvent: progress.onEvent, log: (m) => process.stderr.write(`${m}\n`) });
      const f = r.final;
      process.stdout.write(
        `done in ${r.seconds.toFixed(1)} s` +
          (f ? `: top1 ${(f.top1 * 100).toFixed(2)}% top5 ${(f.top5 * 100).toFixed(2)}%` : '') +
          `; model in ${r.modelDir}\n`,
      );
    } finally {
      progress.stop();
    }
  });
}
