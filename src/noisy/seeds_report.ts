// DIR/report.html of a run over several seeds: every figure as mean ± sample sd with each seed's
// value beside it (spreadChart), the gains and margins as paired same-seed differences, the oracle's
// ceiling and the fraction of the gap closed, the ablations side by side, and per-class accuracy and
// the confusion matrix over all seeds (from each seed's evaluation counts). One self-contained file.
import { join } from 'node:path';
import { atomicWriteFile } from '../util/atomic_write.js';
import { perClassAccuracy, sumConfusions, type Confusion } from './confusion.js';
import type { Aggregate } from './experiment.js';
import { reportDocument } from './report.js';
import { esc } from './report_charts.js';
import { confusionChart, perClassChart, spreadChart, type PerClassSeries, type SpreadPoint } from './report_vega.js';
import { openRun, type FinishedModel } from './run_dir.js';
import { formatSpread, spread, type Spread } from './stats.js';

/** The confusion matrices of one model across the seeds (null where a record predates them). */
export interface SeedConfusions {
  readonly model: string;
  readonly perSeed: readonly (Confusion | null)[];
}

export interface SeedsReportData {
  readonly agg: Aggregate;
  readonly classNames: readonly string[];
  /** Teacher, each generation's student, the oracle: their matrices per seed. */
  readonly confusions: readonly SeedConfusions[];
  readonly title?: string;
}

const pt = (s: Spread): string => formatSpread(s, { unit: ' pt', sign: true });
const pc = (s: Spread): string => formatSpread(s, { unit: '%' });

function point(label: string, s: Spread, perSeed: readonly number[], seeds: readonly number[]): SpreadPoint {
  return {
    label,
    mean: s.mean * 100,
    sd: s.sd === null ? null : s.sd * 100,
    seeds: perSeed.map((v, i) => ({ seed: seeds[i]!, value: v * 100 })),
  };
}

/** Per-class accuracy of each model as mean ± sd over the seeds that kept a matrix. */
export function perClassOverSeeds(c: SeedConfusions): PerClassSeries | null {
  const ms = c.perSeed.filter((m): m is Confusion => m !== null);
  if (ms.length === 0) return null;
  const per = ms.map(perClassAccuracy);
  const C = per[0]!.length;
  const acc: (number | null)[] = [];
  const sd: (number | null)[] = [];
  for (let k = 0; k < C; k++) {
    const v = per.map((p) => p[k]).filter((x): x is number => x !== null && x !== undefined);
    const s = v.length ? spread(v) : null;
    acc.push(s?.mean ?? null);
    sd.push(s?.sd ?? null);
  }
  return { model: c.model, accuracy: acc, sd };
}

export async function renderSeedsReport(d: SeedsReportData): Promise<string> {
  const { agg } = d;
  const m = agg.mean;
  const seeds = agg.seeds;
  const G = m.generations.length;
  const runs = agg.runs;
  const last = m.generations[G - 1]!;
  const cards: string[] = [];
  const card = (label: string, value: string, note: string): void => {
    cards.push(
      `<div class="kpi"><div class="label">${esc(label)}</div><div class="value">${value}</div><div class="note">${note}</div></div>`,
    );
  };
  card('Teacher top-1', pc(m.teacher.top1), `mean ± sd over ${seeds.length} seeds`);
  card(`Final student top-1`, pc(last.student.top1), `generation ${G}`);
  const gainCls = m.gain.mean > 0 ? 'delta-pos' : m.gain.mean < 0 ? 'delta-neg' : '';
  card(
    'Gain over the teacher',
    `<span class="${gainCls}">${pt(m.gain)}</span>`,
    `paired by seed; min ${(m.gain.min * 100).toFixed(2)}, max ${(m.gain.max * 100).toFixed(2)} pt`,
  );
  if (m.oracle) card('Oracle top-1 (ceiling)', pc(m.oracle.top1), `all true labels, the final student's budget`);
  if (m.gapClosed) {
    const g = m.gapClosed;
    const v = g.perSeed ? formatSpread(g.perSeed, { unit: '%', digits: 1 }) : 'undefined';
    const undef = g.undefinedSeeds.length ? `; undefined on seed ${g.undefinedSeeds.join(', ')} (the oracle did not beat the teacher)` : '';
    card(
      'Labeled-data gap closed',
      v,
      `(student − teacher) / (oracle − teacher)${undef}; of the means ${g.ofMeans === null ? 'undefined' : `${(g.ofMeans * 100).toFixed(1)}%`}`,
    );
  }
  for (const a of m.ablations)
    card(
      `main − ${a.name} variant`,
      `<span class="${a.margin.mean > 0 ? 'delta-pos' : a.margin.mean < 0 ? 'delta-neg' : ''}">${pt(a.margin)}</span>`,
      `main − variant; main wins on ${a.mainWins} of ${seeds.length} seeds`,
    );

  // Accuracy of every model, and the differences that matter, with every seed.
  const acc: SpreadPoint[] = [
    point(
      'teacher',
      m.teacher.top1,
      runs.map((r) => r.teacher.top1),
      seeds,
    ),
  ];
  m.generations.forEach((g, i) =>
    acc.push(
      point(
        `student ${i + 1}`,
        g.student.top1,
        runs.map((r) => r.generations[i]!.student.top1),
        seeds,
      ),
    ),
  );
  for (const a of m.ablations)
    acc.push(
      point(
        `${a.name} variant`,
        a.top1,
        runs.map((r) => r.ablations[a.name]!.student.top1),
        seeds,
      ),
    );
  if (m.oracle)
    acc.push(
      point(
        'oracle',
        m.oracle.top1,
        runs.map((r) => r.oracle!.top1),
        seeds,
      ),
    );
  const diffs: SpreadPoint[] = m.generations.map((g, i) =>
    point(
      `student ${i + 1} − teacher`,
      g.gain,
      runs.map((r) => r.generations[i]!.gain),
      seeds,
    ),
  );
  for (const a of m.ablations)
    diffs.push(
      point(
        `main − ${a.name} variant`,
        a.margin,
        runs.map((r) => r.ablations[a.name]!.margin),
        seeds,
      ),
    );
  if (m.oracle)
    diffs.push(
      point(
        'oracle − teacher',
        m.oracle.gap,
        runs.map((r) => r.oracle!.top1 - r.teacher.top1),
        seeds,
      ),
    );
  const accChart = await spreadChart(acc, { title: 'Test top-1 (mean ± sd; hollow: each seed)', axis: 'top-1 (%)', width: 900 });
  const diffChart = await spreadChart(diffs, {
    title: 'Paired differences (mean ± sd of same-seed differences)',
    axis: 'points',
    zero: true,
    width: 900,
  });

  const head = `<tr><th>seed</th><th class="num">teacher</th>${m.generations.map((_, i) => `<th class="num">student ${i + 1}</th>`).join('')}<th class="num">gain</th>${m.oracle ? '<th class="num">oracle</th><th class="num">gap closed</th>' : ''}${m.ablations.map((a) => `<th class="num">${esc(a.name)}</th>`).join('')}<th class="num">pseudo-label acc.</th></tr>`;
  const f = (v: number): string => `${(v * 100).toFixed(2)}`;
  const rows = runs
    .map(
      (r) =>
        `<tr><td>${r.seed} <code>${esc(r.dir)}</code></td><td class="num">${f(r.teacher.top1)}</td>${r.generations.map((g) => `<td class="num">${f(g.student.top1)}</td>`).join('')}<td class="num">${r.gain >= 0 ? '+' : ''}${f(r.gain)}</td>` +
        (m.oracle
          ? `<td class="num">${f(r.oracle!.top1)}</td><td class="num">${r.gapClosed === null ? 'undefined' : `${(r.gapClosed * 100).toFixed(1)}%`}</td>`
          : '') +
        m.ablations.map((a) => `<td class="num">${f(r.ablations[a.name]!.student.top1)}</td>`).join('') +
        `<td class="num">${r.generations[G - 1]!.pseudoLabels.accuracy === null ? '–' : f(r.generations[G - 1]!.pseudoLabels.accuracy!)}</td></tr>`,
    )
    .join('');
  const meanRow = `<tr><td><b>mean ± sd</b></td><td class="num">${pc(m.teacher.top1)}</td>${m.generations.map((g) => `<td class="num">${pc(g.student.top1)}</td>`).join('')}<td class="num">${pt(m.gain)}</td>${m.oracle ? `<td class="num">${pc(m.oracle.top1)}</td><td class="num">${m.gapClosed?.perSeed ? formatSpread(m.gapClosed.perSeed, { unit: '%', digits: 1 }) : 'undefined'}</td>` : ''}${m.ablations.map((a) => `<td class="num">${pc(a.top1)}</td>`).join('')}<td class="num">${last.pseudoLabels.accuracy ? pc(last.pseudoLabels.accuracy) : '–'}</td></tr>`;

  const abl = m.ablations.length
    ? `<section id="ablations"><h2>Ablations</h2><p class="desc">Each variant trains its students from the same teacher and pseudo-labels as the main run, per seed. Margin: main final student − variant, paired by seed.</p>
<table><thead><tr><th>variant</th><th class="num">top-1</th><th class="num">top-5</th><th class="num">gain over teacher</th><th class="num">margin (main − variant)</th><th class="num">main wins</th></tr></thead><tbody>
<tr><td><b>main</b></td><td class="num">${pc(last.student.top1)}</td><td class="num">${pc(last.student.top5)}</td><td class="num">${pt(m.gain)}</td><td class="num"></td><td class="num"></td></tr>
${m.ablations.map((a) => `<tr><td>${esc(a.name)}</td><td class="num">${pc(a.top1)}</td><td class="num">${pc(a.top5)}</td><td class="num">${pt(a.gain)}</td><td class="num">${pt(a.margin)}</td><td class="num">${a.mainWins} / ${seeds.length}</td></tr>`).join('')}
</tbody></table></section>`
    : '';

  const pcs = d.confusions.map(perClassOverSeeds).filter((s): s is PerClassSeries => s !== null);
  let perClass = '';
  if (pcs.length) {
    const chart = await perClassChart(d.classNames, pcs);
    const finalC = d.confusions.find((c) => c.model === `student ${G}`);
    const ms = finalC?.perSeed.filter((x): x is Confusion => x !== null) ?? [];
    const cm = ms.length
      ? await confusionChart(d.classNames, sumConfusions(ms), `Final student: confusion matrix, ${ms.length} seed(s) summed`)
      : '';
    const teacherC = d.confusions.find((c) => c.model === 'teacher')?.perSeed.filter((x): x is Confusion => x !== null) ?? [];
    const cmT = teacherC.length
      ? await confusionChart(d.classNames, sumConfusions(teacherC), `Teacher: confusion matrix, ${teacherC.length} seed(s) summed`)
      : '';
    const table = `<table><thead><tr><th>class</th>${pcs.map((s) => `<th class="num">${esc(s.model)}</th>`).join('')}</tr></thead><tbody>${d.classNames
      .map(
        (n, k) =>
          `<tr><td>${esc(n)}</td>${pcs.map((s) => `<td class="num">${s.accuracy[k] == null ? '–' : `${(s.accuracy[k]! * 100).toFixed(1)}${s.sd?.[k] != null ? ` ± ${(s.sd[k]! * 100).toFixed(1)}` : ''}`}</td>`).join('')}</tr>`,
      )
      .join('')}</tbody></table>`;
    perClass = `<section id="per-class"><h2>Per-class accuracy</h2><p class="desc">Accuracy on each true class (mean ± sd over seeds; the bar's line is ± sd), from the test evaluation's counts.</p>${chart}${table}
<div class="row"><div>${cmT}</div><div>${cm}</div></div></section>`;
  }
  const title = d.title ?? `Noisy Student Training over ${seeds.length} seeds`;
  return reportDocument(
    title,
    `<header><h1>${esc(title)}</h1><div class="sub">seeds ${seeds.join(', ')} · each seed's run report is in its seed-&lt;n&gt;/report.html · figures: mean ± sample sd; differences paired by seed</div></header>
<div class="cards">${cards.join('')}</div>
<section id="spread"><h2>Accuracy and gains over seeds</h2><p class="desc">A filled dot is the mean, its bar ± one sample standard deviation, the hollow marks each seed.</p>
${accChart}
${diffChart}
<table><thead>${head}</thead><tbody>${rows}${meanRow}</tbody></table></section>
${abl}
${perClass}
<details><summary>Configuration (seed ${seeds[0]})</summary><pre>${esc(JSON.stringify(agg.config, null, 2) ?? '')}</pre></details>
<footer>noisy-student · self-contained report: no network access is needed to view it</footer>`,
  );
}

const confusionOf = (m: FinishedModel | null | undefined): Confusion | null =>
  m?.record.eval.confusion ? { counts: m.record.eval.confusion } : null;

/** Write DIR/report.html of the experiment from seeds.json's figures and each seed folder's records. */
export async function writeSeedsReport(dir: string, agg: Aggregate): Promise<string> {
  const opened = agg.runs.map((r) => openRun(join(dir, r.dir)));
  const G = agg.mean.generations.length;
  const confusions: SeedConfusions[] = [
    { model: 'teacher', perSeed: opened.map((o) => confusionOf(o.teacher)) },
    ...Array.from({ length: G }, (_, g) => ({
      model: `student ${g + 1}`,
      perSeed: opened.map((o) => confusionOf(o.generations[g]?.student)),
    })),
    ...(agg.mean.oracle ? [{ model: 'oracle', perSeed: opened.map((o) => confusionOf(o.oracle)) }] : []),
  ];
  const path = join(dir, 'report.html');
  atomicWriteFile(path, await renderSeedsReport({ agg, classNames: opened[0]!.data.classes, confusions }));
  return path;
}
