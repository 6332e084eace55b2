// `noisy-student run`: the whole Noisy Student loop from one config file (or a preset), resumable:
// run the same command again after a kill and finished stages, shards and epochs are not redone.
import { Command } from 'commander';
import { PRESETS, resolveNoisyStudentConfig, type NoisyStudentConfigInput } from '../../noisy/config.js';
import { runNoisyStudent } from '../../noisy/pipeline.js';
import { readConfigFile } from '../../jobs/train_classifier.js';
import { createProgress } from '../progress.js';
import { globalOptions } from '../options.js';

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object' && !Array.isArray(prev)
        ? deepMerge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
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
    .option('--seed <n>', 'seed', (v) => Number(v))
    .requiredOption('-o, --output <dir>', 'run directory');
  return cmd.action(async (o: { config?: string; preset?: string; noise: boolean; seed?: number; output: string }) => {
    const g = globalOptions(cmd);
    if (!o.config && !o.preset) throw new Error('give --preset (e.g. fashion-mnist) or --config file.json');
    let input: Record<string, unknown> = {};
    if (o.preset) {
      const p = PRESETS[o.preset];
      if (!p) throw new Error(`unknown preset "${o.preset}"; known: ${Object.keys(PRESETS).join(', ')}`);
      input = structuredClone(p) as Record<string, unknown>;
    }
    if (o.config) input = deepMerge(input, readConfigFile(o.config));
    if (o.noise === false) input = deepMerge(input, { student: { noise: false } });
    if (o.seed !== undefined) input['seed'] = o.seed;
    const cfg = resolveNoisyStudentConfig(input as NoisyStudentConfigInput);
    const t0 = Date.now();
    let bar: ReturnType<typeof createProgress> | null = null;
    const summary = await runNoisyStudent(cfg, o.output, {
      log: (line) => (bar ? bar.log(line) : process.stdout.write(`${line}\n`)),
      onStep: (p) => {
        bar ??= createProgress({ total: p.batches, label: `${p.stage} epoch ${p.epoch + 1}/${p.epochs}`, unit: 'batch', quiet: g.quiet });
        bar.tick(1, { loss: p.loss.toFixed(3), ips: (p.samples / p.seconds).toFixed(0) });
      },
      onEpochEnd: () => {
        bar?.stop();
        bar = null;
      },
    });
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
