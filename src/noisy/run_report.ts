// report.html of a run directory, built from what the run left on disk (so `noisy-student report`
// can redo it any time, and put a no-noise ablation run beside the noised one).
import { join } from 'node:path';
import { loadSample, type ImageU8 } from '../data/index.js';
import { studentTrainingKey, studentsWithoutNoise, type NoisyStudentConfig } from './config.js';
import { confidenceHistogram } from './filter.js';
import { writeReport, type ReportCurve, type ReportGeneration, type ReportSample } from './report.js';
import { readPseudoLabelIndex } from './artifacts/pseudo_labels.js';
import { openRun, type OpenedRun } from './run_dir.js';
import { pseudoLabelAccuracy } from './filter.js';
import type { StageRecord } from './artifacts/stage_record.js';

export interface RunReportOptions {
  /** A run of the same config with `student.noise: false`: its students are shown as "no noise". */
  ablation?: string;
  /** Where to write (default: RUN/report.html). */
  output?: string;
  /** Sample pseudo-labeled images shown (at most 3 per class). */
  samples?: number;
}

function toCurve(r: StageRecord): ReportCurve['metrics'] {
  return r.history.map((e) => ({
    epoch: e.epoch + 1,
    ...(Number.isFinite(e.trainLoss) ? { loss: e.trainLoss } : {}),
    ...(e.eval ? { top1: e.eval.top1, top5: e.eval.top5, evalLoss: e.eval.loss } : {}),
  }));
}

const score = (model: string, r: StageRecord): { model: string; top1: number; top5: number } => ({
  model,
  top1: r.eval.top1,
  top5: r.eval.top5,
});

/** Write the report of `runDir`; returns its path. */
export async function writeRunReport(runDir: string, o: RunReportOptions = {}): Promise<string> {
  const run = openRun(runDir);
  const ablation: OpenedRun | null = o.ablation ? openRun(o.ablation) : null;
  if (ablation && ablation.cfg.student.noise)
    throw new Error(`${o.ablation} trained its students with noise: the ablation is a run with --no-noise`);
  if (ablation) {
    // Noise strengths may differ: a run without noise does not use them.
    const comparable = (c: NoisyStudentConfig): Record<string, unknown> => ({
      ...c,
      students: studentsWithoutNoise(c),
      student: studentTrainingKey({ ...c.student, noise: false }),
    });
    const [a, b] = [comparable(ablation.cfg), comparable(run.cfg)];
    const keys = ['seed', 'labeled', 'unlabeled', 'test', 'teacher', 'students', 'student', 'pseudoLabel'] as const;
    const differs = keys.filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    if (differs.length) throw new Error(`${o.ablation} is not the same run without noise: its ${differs.join(', ')} differ`);
  }
  const { cfg, data } = run;
  const curves: ReportCurve[] = [{ name: 'teacher', model: cfg.teacher.model, metrics: toCurve(run.teacher.record) }];
  const generations: ReportGeneration[] = [];
  let teacherScore = score(cfg.teacher.model, run.teacher.record);
  let last: { ids: readonly number[]; entries: readonly { id: number; label: number; confidence: number }[] } | null = null;
  for (const g of run.generations) {
    // The index's records are all this needs: the probabilities are not read.
    const pl = readPseudoLabelIndex(g.pseudoDir);
    const sel = g.filtered();
    const accuracy = data.unlabeled.trueLabel ? pseudoLabelAccuracy(pl.records, data.unlabeled.trueLabel, sel) : null;
    const studentScore = score(g.model, g.student.record);
    const twin = ablation?.generations[g.index - 1];
    generations.push({
      teacher: teacherScore,
      student: studentScore,
      ...(twin ? { noNoise: score(twin.model, twin.student.record) } : {}),
      pseudoLabels: {
        images: sel.stats.images,
        kept: sel.stats.kept,
        uniqueKept: sel.stats.uniqueKept,
        threshold: cfg.pseudoLabel.threshold,
        perClass: cfg.pseudoLabel.perClass,
        ...(accuracy?.overall.accuracy != null ? { accuracy: accuracy.overall.accuracy } : {}),
        ...(accuracy?.balanced?.accuracy != null ? { balancedAccuracy: accuracy.balanced.accuracy } : {}),
      },
      histogram: confidenceHistogram(pl.records, { bins: 20 }),
      classCounts: { before: [...sel.stats.before], after: [...sel.stats.after] },
    });
    curves.push({ name: `student ${g.index}`, model: g.model, metrics: toCurve(g.student.record) });
    if (twin) curves.push({ name: `student ${g.index} (no noise)`, model: twin.model, metrics: toCurve(twin.student.record) });
    teacherScore = studentScore;
    last = sel;
  }

  // A few of the last generation's pseudo-labeled images per class, with the true label when known.
  const samples: ReportSample[] = [];
  const perClass = new Map<number, number>();
  const byId = new Map((last?.entries ?? []).map((e) => [e.id, e]));
  const shown = new Set<number>();
  // The balanced set's shuffled order: a fair sample, mistakes included, not the most confident.
  for (const id of last?.ids ?? []) {
    const e = byId.get(id);
    if (!e || shown.has(id) || (perClass.get(e.label) ?? 0) >= 3 || samples.length >= (o.samples ?? 30)) continue;
    shown.add(id);
    let image: ImageU8;
    try {
      image = await loadSample(data.unlabeled.dataset.source(e.id));
    } catch {
      continue; // an unreadable image was reported by pseudo-labelling already
    }
    perClass.set(e.label, (perClass.get(e.label) ?? 0) + 1);
    const tl = data.unlabeled.trueLabel?.(e.id);
    samples.push({ image, pseudoLabel: e.label, confidence: e.confidence, ...(tl !== undefined ? { trueLabel: tl } : {}) });
  }

  const seconds =
    run.seconds ??
    Object.fromEntries([
      ['teacher', run.teacher.record.seconds],
      ...run.generations.map((g) => [`gen${g.index}.student`, g.student.record.seconds] as const),
    ]);
  const confusions: { model: string; counts: number[][] }[] = [];
  const addConfusion = (model: string, r: StageRecord): void => {
    if (r.eval.confusion) confusions.push({ model, counts: r.eval.confusion });
  };
  addConfusion('teacher', run.teacher.record);
  for (const g of run.generations) addConfusion(`student ${g.index}`, g.student.record);
  if (run.oracle) addConfusion('oracle', run.oracle.record);
  const path = o.output ?? join(runDir, 'report.html');
  await writeReport(path, {
    title: 'Noisy Student Training',
    subtitle:
      `${cfg.labeled.data}: ${data.labeled.dataset.length} labeled, ${data.unlabeled.dataset.length} unlabeled images` +
      (run.unfinished ? ` (${run.unfinished} generation(s) not finished)` : '') +
      (ablation ? `; no-noise ablation from ${o.ablation}` : ''),
    classNames: data.classes,
    generations,
    curves,
    samples,
    timings: Object.entries(seconds).map(([stage, s]) => ({ stage, seconds: s })),
    config: cfg,
    ...(run.oracle ? { oracle: score(run.oracle.record.model, run.oracle.record) } : {}),
    ablations: run.ablations.map((a) => ({ name: a.ablation ?? '?', student: a.generations[a.generations.length - 1]!.student })),
    confusions,
  });
  return path;
}
