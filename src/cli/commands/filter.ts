// `noisy-student filter`: keep confident pseudo-labels and balance the classes, as filter_unlabel.py;
// the same selection.json and stats.json a run writes in its gen-N/filter/<key>/ folders.
import { Command } from 'commander';
import { filterSettings, filterStage, readPseudoLabelIndex } from '../../noisy/index.js';
import { intArg, numberArg } from '../args.js';
import { acquireJobLock } from '../../util/lock.js';

export default function filterCommand(): Command {
  const cmd = new Command('filter')
    .summary('filter pseudo-labels by confidence and balance the classes')
    .description(
      'Reads a pseudo-label folder (from pseudo-label or a run), keeps images whose confidence is at least --threshold, assigns each ' +
        'to its argmax class and balances every class to --per-class images: the most confident when a class has too many, ' +
        'duplicates when it has too few (the original filter_unlabel.py). Writes selection.json (ids with repeats) and stats.json.',
    )
    .requiredOption('--pseudo <dir>', 'the pseudo-label output folder')
    .requiredOption('--per-class <k>', 'images per class after balancing', intArg({ min: 1 }))
    .option('--threshold <t>', 'minimum confidence (0.01 grid)', numberArg({ min: 0, max: 1 }), 0.3)
    .option('--no-upsample', 'do not duplicate images of under-full classes')
    .option('--exact-topk', 'keep exactly the K most confident per over-full class (the original keeps about K at random)')
    .option('--seed <n>', 'seed', intArg({ min: 0 }), 0)
    .requiredOption('-o, --output <dir>', 'output folder');
  return cmd.action(
    (o: { pseudo: string; perClass: number; threshold: number; upsample: boolean; exactTopk?: boolean; seed: number; output: string }) => {
      // One job per output folder (released at the end, or at exit when it throws).
      const lock = acquireJobLock(o.output, `filter --output ${o.output}`);
      const index = readPseudoLabelIndex(o.pseudo);
      const r = filterStage(
        o.output,
        index,
        filterSettings({
          perClass: o.perClass,
          threshold: o.threshold,
          upsample: o.upsample,
          downsample: o.exactTopk ? 'exact-topk' : 'original',
          seed: o.seed,
        }),
      );
      process.stdout.write(
        `kept ${r.stats.kept} (${r.stats.uniqueKept} unique) of ${r.stats.images}; per class before ${r.stats.before.join(' ')}; after ${r.stats.after.join(' ')}\n`,
      );
      lock.release();
    },
  );
}
