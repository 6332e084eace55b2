// `noisy-student report`: (re)write report.html of a run from what it left on disk, optionally
// beside a no-noise ablation run of the same config.
import { Command } from 'commander';
import { writeRunReport } from '../../noisy/run_report.js';

export default function reportCommand(): Command {
  const cmd = new Command('report')
    .summary('write the HTML report of a run')
    .description(
      'Builds the self-contained report.html of a run directory (accuracy per generation, training curves, confidence ' +
        'histograms, class counts before and after balancing, sample pseudo-labeled images) from its files. With --ablation, ' +
        'the students of a --no-noise run of the same config appear beside the noised ones.',
    )
    .requiredOption('--run <dir>', 'a run directory written by `noisy-student run`')
    .option('--ablation <dir>', 'a run of the same config made with --no-noise')
    .option('-o, --output <file>', 'where to write (default: RUN/report.html)');
  return cmd.action(async (o: { run: string; ablation?: string; output?: string }) => {
    const path = await writeRunReport(o.run, {
      ...(o.ablation ? { ablation: o.ablation } : {}),
      ...(o.output ? { output: o.output } : {}),
    });
    process.stdout.write(`${path}\n`);
  });
}
