// `noisy-student evaluate`: the evaluate stage. Scores the teacher and every finished student of a
// run directory on its test set, with the accuracy of each generation's pseudo-labels where the
// true labels are known; or the accuracy of a standalone pseudo-label (+ filter) output.
import type { BackendOption, Precision } from '../../backends/index.js';
import { Command } from 'commander';
import { join } from 'node:path';
import { selectData } from '../../train/index.js';
import { DEFAULT_MAX_SKIPPED, SkipReport } from '../../data/index.js';
import { evaluateRun, openRun, pseudoLabelAccuracy, readFilterResult, readPseudoLabelIndex, type FilterResult } from '../../noisy/index.js';
import { addBackendOptions, addJsonOption, checkBackendOptions, deviceOption, printJson, refuseCalibrationFlags } from '../options.js';
import { intArg, numberArg } from '../args.js';
import { CliError, warn } from '../errors.js';

interface Options {
  run?: string;
  pseudo?: string;
  selection?: string;
  data?: string;
  labelsPerClass?: number;
  seed: number;
  limit?: number;
  workers?: number;
  device?: string;
  backend?: BackendOption;
  precision?: Precision;
  calibration?: string;
  calibrationImages?: number;
  calibrationMethod?: 'minmax' | 'percentile';
  maxSkipped: number;
  json?: boolean;
}

const pc = (v: number | null | undefined): string => (v == null ? 'n/a' : `${(v * 100).toFixed(2)}%`);

export default function evaluateCommand(): Command {
  const cmd = new Command('evaluate')
    .summary('score a run: teacher and students on the test set, pseudo-label accuracy')
    .description(
      'With --run DIR (a `run` output): top-1/top-5 of the teacher and of each finished student on the run’s test set, and ' +
        'for each generation the accuracy of its pseudo-labels (all, and after filtering and balancing) when the unlabeled ' +
        'images are the rest of a labeled set; writes DIR/evaluation.json. With --pseudo DIR (a `pseudo-label` output, plus ' +
        '--selection from `filter`): the pseudo-labels’ accuracy against the true labels of --data.',
    )
    .option('--run <dir>', 'a run directory written by `noisy-student run`')
    .option('--limit <n>', 'with --run: only the first N test images; with --pseudo: the --limit given to pseudo-label', intArg({ min: 1 }))
    .option('--workers <n>', 'with --run: loader worker threads (default: the run’s)', intArg({ min: 0 }))
    .option('--pseudo <dir>', 'a pseudo-label output folder')
    .option('--selection <dir>', 'with --pseudo: the filter output folder, for the accuracy after balancing')
    .option('--data <spec>', "with --pseudo: the data given to pseudo-label (e.g. 'fashion-mnist')")
    .option('--labels-per-class <n>', 'with --pseudo: as given to pseudo-label', intArg({ min: 1 }))
    .option('--seed <n>', 'with --pseudo: seed of the labeled split, as given to pseudo-label', intArg({ min: 0 }), 0)
    .option(
      '--max-skipped <fraction>',
      'with --run: stop when more than this fraction of the test images cannot be read',
      numberArg({ min: 0, max: 1 }),
      DEFAULT_MAX_SKIPPED,
    );
  cmd.addOption(deviceOption());
  addBackendOptions(cmd);
  addJsonOption(cmd);
  return cmd.action(async (o: Options) => {
    if (!o.run === !o.pseudo) throw new CliError('give either --run DIR or --pseudo DIR', 2);
    checkBackendOptions({ model: '', ...o });
    refuseCalibrationFlags(o);
    if (o.run) {
      // Every model reads the same test images: a broken one is reported once (on stderr; the run's
      // own skipped.jsonl is the run's record and is left as it is).
      const tests = openRun(o.run).data.test.dataset.length;
      const skips = new SkipReport({ total: Math.min(tests, o.limit ?? tests), maxSkipped: o.maxSkipped, dir: null });
      const r = await evaluateRun(o.run, {
        onSampleError: (e) => skips.add(e, 'test'),
        ...(o.limit !== undefined ? { limit: o.limit } : {}),
        ...(o.workers !== undefined ? { workers: o.workers } : {}),
        ...(o.device ? { device: o.device } : {}),
        ...(o.backend ? { backend: o.backend } : {}),
        ...(o.precision ? { precision: o.precision } : {}),
        ...(o.precision === 'int8'
          ? {
              calibration: {
                ...(o.calibration ? { dataset: selectData({ spec: o.calibration }).dataset, what: o.calibration } : {}),
                ...(o.calibrationImages ? { images: o.calibrationImages } : {}),
                ...(o.calibrationMethod ? { method: o.calibrationMethod } : {}),
              },
            }
          : {}),
      });
      const skipped = skips.finish();
      if (skipped) warn(skipped);
      if (o.json) return printJson(r);
      const lines = [
        `teacher   ${r.teacher.model.padEnd(12)} top1 ${pc(r.teacher.top1)}  top5 ${pc(r.teacher.top5)}  (${r.teacher.images} images)`,
      ];
      r.generations.forEach((g, i) => {
        const p = g.pseudoLabels;
        lines.push(
          `student ${i + 1} ${g.student.model.padEnd(12)} top1 ${pc(g.student.top1)}  top5 ${pc(g.student.top5)}` +
            (p
              ? `; its pseudo-labels ${pc(p.overall.accuracy)} correct, ${pc(p.balanced?.accuracy)} after balancing (${p.kept} kept)`
              : ''),
        );
      });
      if (r.unfinished) lines.push(`${r.unfinished} generation(s) not finished yet`);
      process.stdout.write(`${lines.join('\n')}\n${join(o.run, 'evaluation.json')}\n`);
      return;
    }
    const pseudo = o.pseudo!;
    if (!o.data) throw new CliError('--pseudo needs --data: the data set whose true labels score the pseudo-labels', 2);
    const index = readPseudoLabelIndex(pseudo);
    const data = selectData({ spec: o.data, labelsPerClass: o.labelsPerClass, part: 'unlabeled', seed: o.seed, limit: o.limit });
    if (index.images !== data.dataset.length)
      throw new CliError(
        `the pseudo-labels in ${pseudo} cover ${index.images} images but --data ${o.data} resolves to ${data.dataset.length}: ` +
          'give the --labels-per-class, --seed and --limit given to pseudo-label',
      );
    if (!data.trueLabel) throw new CliError(`--data ${o.data} has no labels to compare with`);
    let selection: FilterResult | undefined;
    if (o.selection) {
      const read = readFilterResult(o.selection);
      selection = read;
      if (read.selection.pseudoLabels !== index.fingerprint)
        throw new CliError(`${o.selection} is a selection of other pseudo-labels than ${pseudo}`);
    }
    const acc = pseudoLabelAccuracy(index.records, data.trueLabel, selection);
    if (o.json) return printJson(acc);
    process.stdout.write(
      `pseudo-labels ${pc(acc.overall.accuracy)} correct (${acc.overall.total} images)` +
        (acc.balanced ? `; ${pc(acc.passed?.accuracy)} above the threshold; ${pc(acc.balanced.accuracy)} after balancing` : '') +
        '\n',
    );
  });
}
