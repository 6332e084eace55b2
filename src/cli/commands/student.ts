// `noisy-student student`: train a noised student on labeled + pseudo-labeled images (the output of
// pseudo-label and filter), resumable like every training run.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { labeledSplit, subset } from '../../data/index.js';
import { resolveNoisyStudentConfig } from '../../noisy/config.js';
import { evaluateModelDir, readPseudoLabels, trainStudent } from '../../noisy/stages.js';
import { resolveDataSpec, specDataConfig } from '../../train/data_spec.js';
import { atomicWriteJson } from '../../util/atomic_write.js';
import { unlabeledFrom } from './pseudo_label.js';

interface Options {
  model: string;
  labeled: string;
  labelsPerClass?: number;
  unlabeled: string;
  unlabeledLimit?: number;
  pseudo: string;
  selection: string;
  test?: string;
  epochs: number;
  batchSize: number;
  lr: number;
  ratio: number;
  aug: string;
  dropRate: number;
  dropPathRate: number;
  noise: boolean;
  warmStart?: string;
  hard?: boolean;
  temperature: number;
  seed: number;
  workers: number;
  output: string;
}

export default function studentCommand(): Command {
  const cmd = new Command('student')
    .summary('train a noised student on labeled + pseudo-labeled data')
    .description(
      'Trains a student (from scratch, or --warm-start from its teacher) on batches of labeled images and --ratio times as many pseudo-labeled ones (the ids of a ' +
        'filter selection, with their teacher probabilities), with noise: RandAugment, dropout, stochastic depth. Soft targets ' +
        'by default (cross-entropy with the teacher probabilities); --hard uses the argmax with label smoothing.',
    )
    .requiredOption('-m, --model <name>', 'student model')
    .requiredOption('--labeled <spec>', "labeled data: folder, list, or 'fashion-mnist'")
    .option('--labels-per-class <n>', 'keep N labeled images per class (the same seed as pseudo-label)', (v) => Number(v))
    .requiredOption('--unlabeled <spec>', 'the unlabeled data given to pseudo-label')
    .option('--unlabeled-limit <n>', 'the --limit given to pseudo-label', (v) => Number(v))
    .requiredOption('--pseudo <dir>', 'pseudo-label output folder')
    .requiredOption('--selection <dir>', 'filter output folder')
    .option('--test <spec>', 'labeled test data for the final evaluation (default: the held-out split of a built-in set)')
    .option('--epochs <n>', 'passes over the selected pseudo-labeled set', (v) => Number(v), 3)
    .option('-b, --batch-size <n>', 'labeled images per batch', (v) => Number(v), 32)
    .option('--lr <lr>', 'learning rate (AdamW, cosine)', (v) => Number(v), 2e-3)
    .option('--ratio <r>', 'unlabeled : labeled images per batch', (v) => Number(v), 3)
    .option('--aug <config>', 'RandAugment', 'rand-m9-n2-mstd0.5')
    .option('--drop-rate <p>', 'dropout', (v) => Number(v), 0.2)
    .option('--drop-path-rate <p>', 'stochastic depth', (v) => Number(v), 0.2)
    .option('--no-noise', 'no RandAugment, dropout or stochastic depth (the ablation)')
    .option('--warm-start <dir>', 'start from this checkpoint (the teacher’s, same architecture) instead of from scratch')
    .option('--hard', 'hard pseudo-labels (argmax, label smoothing) instead of soft ones')
    .option('--temperature <t>', 'soft-label temperature', (v) => Number(v), 1)
    .option('--seed <n>', 'seed', (v) => Number(v), 0)
    .option('--workers <n>', 'loader worker threads', (v) => Number(v), 1)
    .requiredOption('-o, --output <dir>', 'run directory');
  return cmd.action(async (o: Options) => {
    const lab = resolveDataSpec(o.labeled);
    if (!lab.classes) throw new Error(`--labeled ${o.labeled} has no classes`);
    const labeled = o.labelsPerClass ? subset(lab.dataset, labeledSplit(lab.dataset, o.labelsPerClass, o.seed).labeled) : lab.dataset;
    const { dataset: unlabeled } = unlabeledFrom(o.unlabeled, o.labelsPerClass, o.seed, o.unlabeledLimit);
    const index = JSON.parse(readFileSync(join(o.pseudo, 'index.json'), 'utf8')) as {
      images: number;
      numClasses: number;
      shardSize: number;
    };
    if (index.images !== unlabeled.length)
      throw new Error(
        `the pseudo-labels in ${o.pseudo} cover ${index.images} images but --unlabeled ${o.unlabeled} resolves to ${unlabeled.length}: ` +
          'give the --labels-per-class, --seed and --unlabeled-limit (pseudo-label’s --limit) given to pseudo-label',
      );
    const selection = JSON.parse(readFileSync(join(o.selection, 'selection.json'), 'utf8')) as { ids: number[] };
    const pseudo = readPseudoLabels(o.pseudo, index);
    const cfg = resolveNoisyStudentConfig({
      seed: o.seed,
      labeled: { data: o.labeled },
      teacher: { model: o.model },
      students: [o.model],
      pseudoLabel: { perClass: 1, kind: o.hard ? 'hard' : 'soft', temperature: o.temperature },
      student: {
        train: { epochs: o.epochs, batchSize: o.batchSize, lr: o.lr },
        ratio: o.ratio,
        randAugment: o.aug,
        dropRate: o.dropRate,
        dropPathRate: o.dropPathRate,
        noise: o.noise,
        warmStart: o.warmStart !== undefined,
      },
      workers: o.workers,
    });
    const dataConfig = specDataConfig(lab.defaults);
    const r = await trainStudent(o.model, {
      dir: o.output,
      cfg,
      labeled,
      unlabeled,
      pseudo,
      selectionIds: selection.ids,
      dataConfig,
      inChans: dataConfig.inputSize[0],
      numClasses: lab.classes.length,
      ...(o.warmStart ? { warmStartFrom: o.warmStart } : {}),
      onEpoch: (e) =>
        process.stdout.write(`epoch ${e.epoch + 1}/${o.epochs}: train loss ${e.trainLoss.toFixed(4)} (${e.seconds.toFixed(1)} s)\n`),
    });
    const testSet = o.test ? resolveDataSpec(o.test).dataset : (lab.defaultVal?.() ?? null);
    if (testSet) {
      const ev = await evaluateModelDir(o.model, r.modelDir, testSet, dataConfig, o.workers);
      atomicWriteJson(join(o.output, 'eval.json'), ev);
      process.stdout.write(
        `student ${o.model}: top1 ${(ev.top1 * 100).toFixed(2)}% top5 ${(ev.top5 * 100).toFixed(2)}%; model in ${r.modelDir}\n`,
      );
    } else process.stdout.write(`model in ${r.modelDir}\n`);
  });
}
