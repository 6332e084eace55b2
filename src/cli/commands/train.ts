// `noisy-student train`: timm's train.py for our models (also fine-tuning with a new classifier).
import { Command, Option } from 'commander';
import { join } from 'node:path';
import { readConfigFile, resolveTrainConfig, trainClassifier } from '../../jobs/train_classifier.js';
import { createProgress } from '../progress.js';
import { globalOptions } from '../options.js';

const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`not a number: ${v}`);
  return n;
};
const int = (v: string): number => {
  const n = num(v);
  if (!Number.isInteger(n)) throw new Error(`not an integer: ${v}`);
  return n;
};

export default function trainCommand(): Command {
  const cmd = new Command('train')
    .summary('train or fine-tune a model')
    .description(
      "Train a model from the zoo on a folder of class folders, a .csv/.jsonl list, or 'fashion-mnist'. With --pretrained or " +
        '--checkpoint and --num-classes it fine-tunes with a new classifier. Writes config.json, metrics.jsonl, checkpoints/ and ' +
        'model/ (model.safetensors + config.json, loadable by timm) to --output; --resume continues a killed run exactly.',
    )
    .requiredOption('-m, --model <name>', 'model name, e.g. tf_efficientnet_b0 or tinynet_e')
    .option('--data <spec>', "training data: folder, list file, or 'fashion-mnist'")
    .option('--val-data <spec>', 'validation data (default: the test split of a built-in set)')
    .option('--num-classes <n>', 'classifier size (default: the data set’s classes)', int)
    .option('--pretrained', 'start from the pretrained weights')
    .option('--checkpoint <path>', 'start from a local checkpoint')
    .option('--in-chans <n>', 'input channels', int)
    .option('--img-size <n>', 'input size', int)
    .option('--labels-per-class <n>', 'keep N labeled images per class (by seed)', int)
    .option('--val-limit <n>', 'validate on the first N validation images', int)
    .option('--epochs <n>', 'epochs', int)
    .option('-b, --batch-size <n>', 'batch size', int)
    .option('--lr <lr>', 'learning rate', num)
    .addOption(new Option('--opt <name>', 'optimizer').choices(['sgd', 'rmsproptf', 'adamw']))
    .addOption(new Option('--sched <name>', 'lr schedule').choices(['cosine', 'step', 'exp', 'none']))
    .option('--weight-decay <wd>', 'weight decay (not on biases and norms)', num)
    .option('--warmup-epochs <n>', 'warmup epochs', num)
    .option('--drop-rate <p>', 'dropout before the classifier', num)
    .option('--drop-path-rate <p>', 'stochastic depth rate', num)
    .option('--aug <config>', "RandAugment, e.g. 'rand-m9-mstd0.5'")
    .option('--label-smoothing <s>', 'label smoothing', num)
    .option('--ema-decay <d>', 'EMA of weights (0 = off)', num)
    .option('--clip-grad <norm>', 'clip the gradient norm', num)
    .option('--grad-accum <n>', 'micro-batches per update', int)
    .option('--channels-last', 'channels_last memory format')
    .option('--freeze-stages <n>', 'freeze the stem and the first N stages', int)
    .option('--zero-head', 'start the new classifier at zero (trains better at tiny sizes)')
    .option('--workers <n>', 'data loader worker threads', int)
    .option('--seed <n>', 'seed', int)
    .option('--checkpoint-every <steps>', 'also checkpoint every N steps', int)
    .option('--config <file.json>', 'config file (flags win; unknown keys are errors)')
    .requiredOption('-o, --output <dir>', 'run directory')
    .option('--resume', 'continue from the latest checkpoint in --output');
  return cmd.action(async (o: Record<string, unknown>) => {
    const g = globalOptions(cmd);
    const { config, ...flags } = o;
    const fileValues = typeof config === 'string' ? readConfigFile(config) : {};
    const cfg = resolveTrainConfig(fileValues, flags);
    let bar: ReturnType<typeof createProgress> | null = null;
    const result = await trainClassifier(cfg, {
      log: (m) => process.stderr.write(`${m}\n`),
      onStep: (p) => {
        bar ??= createProgress({ total: p.batches, label: `epoch ${p.epoch + 1}/${cfg.epochs}`, unit: 'batch', quiet: g.quiet });
        bar.tick(1, { loss: p.loss.toFixed(3), lr: p.lr.toExponential(2), ips: (p.samples / p.seconds).toFixed(0) });
      },
      onEpoch: (e) => {
        bar?.stop();
        bar = null;
        const ev = e.eval
          ? ` top1 ${(e.eval.top1 * 100).toFixed(2)}% top5 ${(e.eval.top5 * 100).toFixed(2)}% val loss ${e.eval.loss.toFixed(4)}`
          : '';
        process.stdout.write(`epoch ${e.epoch + 1}/${cfg.epochs}: train loss ${e.trainLoss.toFixed(4)}${ev} (${e.seconds.toFixed(1)} s)\n`);
      },
    });
    process.stdout.write(
      `done in ${result.seconds.toFixed(1)} s` +
        (result.final ? `: top1 ${(result.final.top1 * 100).toFixed(2)}% top5 ${(result.final.top5 * 100).toFixed(2)}%` : '') +
        `; model in ${join(result.modelDir)}\n`,
    );
  });
}
