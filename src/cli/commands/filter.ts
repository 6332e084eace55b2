// `noisy-student filter`: keep confident pseudo-labels and balance the classes, as filter_unlabel.py.
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { filterAndBalance, type PseudoLabelRecord } from '../../noisy/filter.js';
import { atomicWriteJson } from '../../util/atomic_write.js';

export default function filterCommand(): Command {
  const cmd = new Command('filter')
    .summary('filter pseudo-labels by confidence and balance the classes')
    .description(
      'Reads a pseudo-label index (from pseudo-label), keeps images whose confidence is at least --threshold, assigns each to its ' +
        'argmax class and balances every class to --per-class images: the most confident when a class has too many, duplicates ' +
        'when it has too few (the original filter_unlabel.py). Writes selection.json (ids with repeats) and stats.json.',
    )
    .requiredOption('--pseudo <dir>', 'the pseudo-label output folder')
    .requiredOption('--per-class <k>', 'images per class after balancing', (v) => Number(v))
    .option('--threshold <t>', 'minimum confidence (0.01 grid)', (v) => Number(v), 0.3)
    .option('--no-upsample', 'do not duplicate images of under-full classes')
    .option('--exact-topk', 'keep exactly the K most confident per over-full class (the original keeps about K at random)')
    .option('--seed <n>', 'seed', (v) => Number(v), 0)
    .requiredOption('-o, --output <dir>', 'output folder');
  return cmd.action(
    (o: { pseudo: string; perClass: number; threshold: number; upsample: boolean; exactTopk?: boolean; seed: number; output: string }) => {
      const index = JSON.parse(readFileSync(join(o.pseudo, 'index.json'), 'utf8')) as { numClasses: number; records: PseudoLabelRecord[] };
      const r = filterAndBalance(index.records, {
        numClasses: index.numClasses,
        perClass: o.perClass,
        threshold: o.threshold,
        upsample: o.upsample,
        downsample: o.exactTopk ? 'exact-topk' : 'original',
        seed: o.seed,
      });
      atomicWriteJson(join(o.output, 'selection.json'), { ids: r.ids, entries: r.entries });
      atomicWriteJson(join(o.output, 'stats.json'), r.stats);
      process.stdout.write(
        `kept ${r.stats.kept} (${r.stats.uniqueKept} unique) of ${r.stats.images}; per class before ${r.stats.before.join(' ')}; after ${r.stats.after.join(' ')}\n`,
      );
    },
  );
}
