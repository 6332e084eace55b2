// `noisy-student run`: the whole Noisy Student loop from one config file (or a preset), resumable:
// run the same command again after a kill and finished stages, shards and epochs are not redone.
// --seeds runs it once per seed (DIR/seed-<n>/) and aggregates; --ablate trains variants beside it.
import { Command } from 'commander';
import {
  ABLATION_NAMES,
  PRESETS,
  aggregateSeeds,
  formatSpread,
  parseAblations,
  parseSeeds,
  runConfig,
  runExperiment,
  type Ablation,
  type Summary,
} from '../../noisy/index.js';
import { readConfigFile } from '../../train/index.js';
import { deviceOption, globalOptions } from '../options.js';
import { intArg } from '../args.js';
import { CliError } from '../errors.js';
import { progressPrinter } from '../progress_events.js';
import { isWriterRank } from '../../distributed/index.js';

const pc = (v: number): string => `${(v * 100).toFixed(2)}%`;

function printSummary(summary: Summary, ablations: readonly Summary[]): void {
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
  const final = summary.generations[summary.generations.length - 1]!.student.top1;
  for (const a of ablations) {
    const v = a.generations[a.generations.length - 1]!.student.top1;
    process.stdout.write(
      `ablation ${(a.ablation ?? '').padEnd(11)} top1 ${pc(v)}  (main − variant ${((final - v) * 100).toFixed(2)} pt)\n`,
    );
  }
  if (summary.oracle) {
    const gap = summary.oracle.top1 - summary.teacher.top1;
    const closed =
      gap > 0
        ? `${(((final - summary.teacher.top1) / gap) * 100).toFixed(1)}% of the gap closed`
        : 'gap closed: undefined (the oracle does not beat the teacher)';
    process.stdout.write(
      `oracle   ${summary.oracle.model.padEnd(12)} top1 ${pc(summary.oracle.top1)}  top5 ${pc(summary.oracle.top5)}  (${closed})\n`,
    );
  }
}

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
    .option('--seeds <list>', 'run once per seed (e.g. 0,1,2) into OUTPUT/seed-<n>/; writes OUTPUT/seeds.json (mean ± sd) and one report')
    .option('--oracle', "also train the oracle: the final student's architecture and budget on all true labels (config `oracle: true`)")
    .option(
      '--ablate <list>',
      `variants trained beside the main students from the same teacher and pseudo-labels: ${ABLATION_NAMES.join(', ')} (comma-separated)`,
    )
    .addOption(deviceOption())
    .requiredOption('-o, --output <dir>', 'run directory');
  return cmd.action(
    async (o: {
      config?: string;
      preset?: string;
      noise: boolean;
      seed?: number;
      seeds?: string;
      oracle?: boolean;
      ablate?: string;
      device?: string;
      output: string;
    }) => {
      const g = globalOptions(cmd);
      if (!o.config && !o.preset) throw new CliError('give --preset (e.g. fashion-mnist) or --config file.json', 2);
      if (o.preset && !PRESETS[o.preset]) throw new CliError(`unknown preset "${o.preset}"; known: ${Object.keys(PRESETS).join(', ')}`, 2);
      if (o.seeds !== undefined && o.seed !== undefined) throw new CliError('give --seed or --seeds, not both', 2);
      let seeds: number[] | undefined;
      let ablations: Ablation[] = [];
      try {
        if (o.seeds !== undefined) seeds = parseSeeds(o.seeds);
        if (o.ablate !== undefined) ablations = parseAblations(o.ablate);
      } catch (e) {
        throw new CliError((e as Error).message, 2);
      }
      const file = o.config ? readConfigFile(o.config) : undefined;
      const cfg = runConfig({
        ...(o.preset ? { preset: o.preset } : {}),
        ...(file || o.oracle ? { file: { ...(file ?? {}), ...(o.oracle ? { oracle: true } : {}) } } : {}),
        ...(o.noise === false ? { noise: false } : {}),
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
      });
      try {
        for (const a of ablations) a.apply(cfg);
      } catch (e) {
        throw new CliError((e as Error).message, 2);
      }
      const t0 = Date.now();
      // Under a launcher rank 0 alone shows the progress, the log and the summary.
      const rank0 = isWriterRank();
      const progress = progressPrinter({ quiet: g.quiet || !rank0, epochLines: 'off-terminal' });
      let runs;
      try {
        runs = await runExperiment(cfg, o.output, {
          log: rank0 ? progress.log : () => {},
          onEvent: progress.onEvent,
          ...(o.device ? { device: o.device } : {}),
          ...(seeds ? { seeds } : {}),
          ablations,
        });
      } finally {
        progress.stop();
      }
      if (!rank0) return;
      for (const r of runs) {
        if (seeds) process.stdout.write(`\nseed ${r.seed} (${r.dir})`);
        printSummary(r.summary, r.ablations);
      }
      if (seeds && runs.length) {
        const m = aggregateSeeds(runs).mean;
        process.stdout.write(
          `\nover ${runs.length} seeds: teacher ${formatSpread(m.teacher.top1, { unit: '%' })}, final student ` +
            `${formatSpread(m.generations[m.generations.length - 1]!.student.top1, { unit: '%' })}, gain ${formatSpread(m.gain, { unit: ' pt', sign: true })} (paired)` +
            (m.gapClosed?.perSeed ? `, gap closed ${formatSpread(m.gapClosed.perSeed, { unit: '%', digits: 1 })}` : '') +
            '\n',
        );
        for (const a of m.ablations)
          process.stdout.write(
            `  main − ${a.name}: ${formatSpread(a.margin, { unit: ' pt', sign: true })}, main wins on ${a.mainWins} of ${runs.length}\n`,
          );
      }
      const where = seeds ? 'seeds.json and report.html' : 'summary.json and report.html';
      process.stdout.write(`\n${((Date.now() - t0) / 1000).toFixed(0)} s; ${where} in ${o.output}\n`);
    },
  );
}
