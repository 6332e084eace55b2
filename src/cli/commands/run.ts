// `noisy-student run`: the whole Noisy Student loop from one config file (or a preset), resumable:
// run the same command again after a kill and finished stages, shards and epochs are not redone.
import { Command } from 'commander';
import { PRESETS, runConfig, runNoisyStudent } from '../../noisy/index.js';
import { readConfigFile } from '../../train/index.js';
import { deviceOption, globalOptions } from '../options.js';
import { intArg } from '../args.js';
import { CliError } from '../errors.js';
import { progressPrinter } from '../progress_events.js';

export default function runCommand(): Command {
  const cmd = new Command('run')
    .summary('run Noisy Student Training end to end')
    .description(
      'Teacher on labeled data -> pseudo-labels by the un-noised teacher -> filter and balance -> noised student on labeled + ' +
        'pseudo-labeled data -> the student becomes the teacher, for as many generations as the config lists students. ' +
        'Writes summary.json and report.html to --output. Run it again to resume after an interruption.',
    )
    .option('--config <file.json>', 'run configuration (JSON); merged over --preset when both are given')
    .option('--preset <name>', `a built-in configuration: ${Object.keys(PRESETS).join(', ')}`)
    .option('--no-noise', 'train the students without noise (the paper’s ablation)')
    .option('--seed <n>', 'seed', intArg({ min: 0 }))
    .addOption(deviceOption())
    .requiredOption('-o, --output <dir>', 'run directory');
  return cmd.action(async (o: { config?: string; preset?: string; noise: boolean; seed?: number; device?: string; output: string }) => {
    const g = globalOptions(cmd);
    if (!o.config && !o.preset) throw new CliError('give --preset (e.g. fashion-mnist) or --config file.json', 2);
    if (o.preset && !PRESETS[o.preset]) throw new CliError(`unknown preset "${o.preset}"; known: ${Object.keys(PRESETS).join(', ')}`, 2);
    const cfg = runConfig({
      ...(o.preset ? { preset: o.preset } : {}),
      ...(o.config ? { file: readConfigFile(o.config) } : {}),
      ...(o.noise === false ? { noise: false } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    });
    const t0 = Date.now();
    const progress = progressPrinter({ quiet: g.quiet, epochLines: 'off-terminal' });
    let summary;
    try {
      summary = await runNoisyStudent(cfg, o.output, {
        log: progress.log,
        onEvent: progress.onEvent,
        ...(o.device ? { device: o.device } : {}),
      });
    } finally {
      progress.stop();
    }
    const pc = (v: number): string => `${(v * 100).toFixed(2)}%`;
    process.stdout.write(
      `\nteacher  ${summary.teacher.model.padEnd(12)} top1 ${pc(summary.teacher.top1)}  top5 ${pc(summary.teacher.top5)}\n`,
    );
    summary.generations.forEach((gen, i) => {
      const d = (gen.student.top1 - (i === 0 ? summary.teacher.top1 : summary.generations[i - 1]!.student.top1)) * 100;
      process.stdout.write(
        `student ${i + 1} ${gen.student.model.padEnd(12)} top1 ${pc(gen.student.top1)}  top5 ${pc(gen.student.top5)}  (${d >= 0 ? '+' : ''}${d.toFixed(2)} pt vs its teacher; ` +
          `${gen.pseudoLabels.kept} pseudo-labels${gen.pseudoLabels.accuracy !== null ? `, ${pc(gen.pseudoLabels.accuracy)} correct` : ''})\n`,
      );
    });
    process.stdout.write(`\n${((Date.now() - t0) / 1000).toFixed(0)} s; summary.json and report.html in ${o.output}\n`);
  });
}
