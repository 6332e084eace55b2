// `noisy-student student`: train a noised student on labeled + pseudo-labeled images (a pseudo-label
// folder and a filter folder, from the stage commands or a run), into OUTPUT/<key>: the key covers
// every input, so other pseudo-labels train a new student beside the old one. Resumable.
import { Command } from 'commander';
import { mapSelectedClasses, selectData, type Recipe } from '../../train/index.js';
import { DEFAULT_MAX_SKIPPED, SkipReport } from '../../data/index.js';
import { StudentRecipe, StudentSettingsSchema, type GenerationStudent } from '../../noisy/config.js';
import { readPseudoLabels, readSelection, studentStage } from '../../noisy/index.js';
import { defaultWorkers, deviceOption, globalOptions } from '../options.js';
import { intArg, numberArg } from '../args.js';
import { addSchemaOptions, readSchemaOptions } from '../schema_options.js';
import { progressPrinter } from '../progress_events.js';
import { CliError, warn } from '../errors.js';
import { acquireRankJobLock } from '../../distributed/job_lock.js';

interface Options extends Record<string, unknown> {
  model: string;
  labeled: string;
  labelsPerClass?: number;
  unlabeled: string;
  unlabeledLimit?: number;
  pseudo: string;
  selection: string;
  test?: string;
  warmStart?: string;
  hard?: boolean;
  temperature: number;
  seed: number;
  workers: number;
  maxSkipped: number;
  output: string;
}

export default function studentCommand(): Command {
  const cmd = new Command('student')
    .summary('train a noised student on labeled + pseudo-labeled data')
    .description(
      'Trains a student (from scratch, or --warm-start from its teacher) on batches of labeled images and --ratio times as many ' +
        'pseudo-labeled ones (the ids of a filter selection, with their teacher probabilities), with noise: RandAugment, dropout, ' +
        'stochastic depth. Soft targets by default (cross-entropy with the teacher probabilities); --hard uses the argmax with ' +
        'label smoothing. The student goes to OUTPUT/<key>/ (model/, record.json with its test accuracy).',
    )
    .requiredOption('-m, --model <name>', 'student model')
    .requiredOption('--labeled <spec>', "labeled data: folder, list, or 'fashion-mnist'")
    .option('--labels-per-class <n>', 'keep N labeled images per class (the same seed as pseudo-label)', intArg({ min: 1 }))
    .requiredOption('--unlabeled <spec>', 'the unlabeled data given to pseudo-label')
    .option('--unlabeled-limit <n>', 'the --limit given to pseudo-label', intArg({ min: 1 }))
    .requiredOption('--pseudo <dir>', 'pseudo-label output folder')
    .requiredOption('--selection <dir>', 'filter output folder')
    .option('--test <spec>', 'labeled test data for the final evaluation (default: the held-out split of a built-in set)')
    .option('--warm-start <dir>', 'the teacher’s model folder: start from its weights (same architecture) instead of from scratch')
    .option('--hard', 'hard pseudo-labels (argmax, label smoothing) instead of soft ones')
    .option('--temperature <t>', 'soft-label temperature', numberArg({ gt: 0 }), 1)
    .option('--seed <n>', 'seed', intArg({ min: 0 }), 0)
    .option(
      '--workers <n>',
      'loader worker threads (default: the thread plan of the cores this process may use)',
      intArg({ min: 0 }),
      defaultWorkers('student'),
    )
    .option(
      '--max-skipped <fraction>',
      'stop when more than this fraction of the images cannot be read (the list: OUTPUT/skipped.jsonl; a skipped image makes its batch one shorter, the same in every epoch)',
      numberArg({ min: 0, max: 1 }),
      DEFAULT_MAX_SKIPPED,
    )
    .addOption(deviceOption())
    .requiredOption('-o, --output <dir>', 'output folder (the student goes to OUTPUT/<key>/)');
  addSchemaOptions(cmd, StudentRecipe, { names: { batchSize: '-b, --batch-size' } });
  addSchemaOptions(cmd, StudentSettingsSchema, { omit: ['warmStart', 'checkpointEvery'], names: { randAugment: '--aug <config>' } });
  return cmd.action(async (o: Options) => {
    const g = globalOptions(cmd);
    // One job per output folder (released at the end, or at exit when it throws before the try);
    // under a launcher rank 0 holds it and writes, the other ranks start once it has it.
    const lock = await acquireRankJobLock(o.output, `student --output ${o.output}`);
    await lock.ready();
    const labeled = selectData({
      spec: o.labeled,
      labelsPerClass: o.labelsPerClass,
      part: o.labelsPerClass ? 'labeled' : 'all',
      seed: o.seed,
    });
    if (!labeled.classes) throw new CliError(`--labeled ${o.labeled} has no classes`);
    const unlabeled = selectData({
      spec: o.unlabeled,
      labelsPerClass: o.labelsPerClass,
      part: 'unlabeled',
      seed: o.seed,
      limit: o.unlabeledLimit,
    });
    const pseudo = readPseudoLabels(o.pseudo);
    const covered = pseudo.images;
    if (covered !== unlabeled.dataset.length)
      throw new CliError(
        `the pseudo-labels in ${o.pseudo} cover ${covered} images but --unlabeled ${o.unlabeled} resolves to ` +
          `${unlabeled.dataset.length}: give the --labels-per-class, --seed and --unlabeled-limit (pseudo-label’s --limit) given to pseudo-label`,
      );
    const selection = readSelection(o.selection);
    if (selection.pseudoLabels !== pseudo.fingerprint)
      throw new CliError(`${o.selection} is a selection of other pseudo-labels than ${o.pseudo}: run filter on ${o.pseudo}`);
    const testSpec = o.test ?? labeled.resolved?.defaultValSpec;
    if (!testSpec) throw new CliError(`--test is needed: --labeled ${o.labeled} has no held-out split`);
    // --warm-start takes the teacher's folder here; the setting itself is whether one was given.
    const { warmStart: _folder, ...given } = readSchemaOptions(o, StudentSettingsSchema);
    const settings = StudentSettingsSchema.parse(given);
    const recipe = StudentRecipe.parse(readSchemaOptions(o, StudentRecipe)) as Omit<Recipe, 'aug' | 'dropRate' | 'dropPathRate'>;
    const student: GenerationStudent = { ...settings, train: recipe, warmStart: o.warmStart !== undefined, model: o.model };
    // The test set is scored in the labeled classes' indices, matched by name.
    const test = mapSelectedClasses(selectData({ spec: testSpec }), labeled.classes, `test data ${testSpec}`);
    for (const note of [...labeled.notes, ...(o.unlabeled === o.labeled ? [] : unlabeled.notes), ...test.notes]) warn(note);
    const skips = new SkipReport({
      total: labeled.dataset.length + unlabeled.dataset.length + test.dataset.length,
      maxSkipped: o.maxSkipped,
      dir: lock.isWriter ? o.output : null,
      resume: true,
    });
    const progress = progressPrinter({ quiet: g.quiet || !lock.isWriter }); // rank 0 alone shows progress
    try {
      const r = await studentStage({
        parent: o.output,
        student,
        pseudoLabel: { kind: o.hard ? 'hard' : 'soft', temperature: o.temperature },
        classes: labeled.classes,
        labeled,
        unlabeled,
        pseudo,
        selection,
        teacher: { model: o.model, modelDir: o.warmStart ?? '' },
        test,
        curve: null,
        defaults: labeled.defaults,
        sizes: {},
        seed: o.seed,
        workers: o.workers,
        ...(typeof o['device'] === 'string' ? { device: o['device'] } : {}),
        onEvent: progress.onEvent,
        onSampleError: (e, set) => skips.add(e, set),
      }).finally(() => skips.write());
      const skipped = skips.finish();
      if (skipped && lock.isWriter) progress.log(skipped);
      const ev = r.record.eval;
      if (lock.isWriter)
        progress.log(
          `student ${o.model}: top1 ${(ev.top1 * 100).toFixed(2)}% top5 ${(ev.top5 * 100).toFixed(2)}%${r.skipped ? ' (done before)' : ''}; model in ${r.modelDir}`,
        );
    } finally {
      progress.stop();
      lock.release();
    }
  });
}
