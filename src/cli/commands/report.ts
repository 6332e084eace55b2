// `noisy-student report`: (re)write report.html of a run from what it left on disk, optionally
// beside a no-noise ablation run of the same config.
import { Command } from 'commander';
import { writeRunReport } from '../../noisy/run_report.js';
import { isSeedsDir, rebuildSeeds } from '../../noisy/experiment.js';
import { CliError } from '../errors.js';

export default function reportCommand(): Command {
  const cmd = new Command('report')
    .summary('write the HTML report of a run')
    .description(
      'Builds the self-contained report.html of a run directory (accuracy per generation, training curves, confidence ' +
        'histograms, class counts before and after balancing, sample pseudo-labeled images) from its files. With --ablation, ' +
        'the students of a --no-noise run of the same config appear beside the noised ones. On the folder of `run --seeds`, ' +
        'it writes seeds.json and the report over the seeds again from the seed folders (the seeds finished so far).',
    )
    .requiredOption('--run <dir>', 'a run directory written by `noisy-student run` (or the folder of `run --seeds`)')
    .option('--ablation <dir>', 'a run of the same config made with --no-noise')
    .option('-o, --output <file>', 'where to write (default: RUN/report.html)');
  return cmd.action(async (o: { run: string; ablation?: string; output?: string }) => {
    if (isSeedsDir(o.run)) {
      if (o.ablation || o.output)
        throw new CliError('report on a seeds folder: --ablation and --output do not apply (its ablations are in its seed folders)');
      const { report } = await rebuildSeeds(o.run, { log: (l) => process.stderr.write(`${l}\n`) });
      process.stdout.write(`${report}\n`);
      return;
    }
    const path = await writeRunReport(o.run, {
      ...(o.ablation ? { ablation: o.ablation } : {}),
      ...(o.output ? { output: o.output } : {}),
    });
    process.stdout.write(`${path}\n`);
  });
}
