// report.html of a Noisy Student run: one self-contained file (inline CSS, inline SVG charts, images
// as data: URIs; nothing is fetched when it is opened) with the accuracy of every model per
// generation, the training curves, the teacher's confidence histogram, the per-class counts before
// and after balancing, and a grid of sample pseudo-labeled images.
import sharp from 'sharp';
import type { ImageU8 } from '../data/image.js';
import { atomicWriteFile } from '../util/atomic_write.js';
import { confusionChart, perClassChart, VEGA_CSS } from './report_vega.js';
import { perClassAccuracy } from './confusion.js';
import { gapClosed } from './stats.js';
import { PALETTE, barChart, esc, formatCompact, formatCount, histogramChart, lineChart, type LineSeries } from './report_charts.js';

/** A model's test accuracy; top1/top5 are fractions in [0, 1] (as in summary.json). */
export interface ModelScore {
  readonly model: string;
  readonly top1: number;
  readonly top5?: number;
}

/** What the filter stage produced in one generation (fractions in [0, 1] for accuracies). */
export interface ReportPseudoLabels {
  /** Images the teacher labelled. */
  readonly images?: number;
  /** Balanced set size, copies included. */
  readonly kept: number;
  readonly uniqueKept?: number;
  readonly threshold: number;
  /** The per-class target K. */
  readonly perClass?: number;
  /** Pseudo-label accuracy over all labelled images (when true labels are known). */
  readonly accuracy?: number | null;
  /** Pseudo-label accuracy over the balanced set, copies counted. */
  readonly balancedAccuracy?: number | null;
}

export interface ReportGeneration {
  readonly teacher: ModelScore;
  readonly student: ModelScore;
  /** The same student trained without noise (the ablation), when run. */
  readonly noNoise?: ModelScore;
  readonly pseudoLabels?: ReportPseudoLabels;
  /** Histogram of the teacher's top-1 confidence over the unlabeled images (`confidenceHistogram`). */
  readonly histogram?: { readonly edges: readonly number[]; readonly counts: readonly number[] };
  /** Per-class counts before (passed the threshold) and after balancing (copies counted). */
  readonly classCounts?: { readonly before: readonly number[]; readonly after: readonly number[] };
}

/** One epoch of a model's training metrics; top1/top5 are fractions in [0, 1]. */
export interface CurvePoint {
  readonly epoch: number;
  /** Training loss. */
  readonly loss?: number;
  readonly evalLoss?: number;
  readonly top1?: number;
  readonly top5?: number;
}

export interface ReportCurve {
  /** Legend name, e.g. "teacher", "student 1", "student 1 (no noise)". */
  readonly name: string;
  readonly model?: string;
  readonly metrics: readonly CurvePoint[];
}

export interface ReportSample {
  readonly image: ImageU8;
  readonly pseudoLabel: number;
  readonly confidence: number;
  readonly trueLabel?: number;
  /** Generation whose teacher produced this pseudo-label (1-based), if several are shown. */
  readonly generation?: number;
}

export interface ReportData {
  readonly title?: string;
  readonly subtitle?: string;
  /** ISO timestamp shown in the header (default: now). */
  readonly createdAt?: string;
  readonly classNames: readonly string[];
  /** Generation g (1-based) = teacher g → student g; student g is teacher g + 1. */
  readonly generations: readonly ReportGeneration[];
  readonly curves?: readonly ReportCurve[];
  readonly samples?: readonly ReportSample[];
  /** Wall time per stage. */
  readonly timings?: readonly { readonly stage: string; readonly seconds: number }[];
  /** The resolved run configuration, shown collapsed. */
  readonly config?: unknown;
  /** The ceiling: the final student's architecture and budget on all true labels (config `oracle`). */
  readonly oracle?: ModelScore;
  /** Ablation variants of the run (`run --ablate`): each one's final student. */
  readonly ablations?: readonly { readonly name: string; readonly student: ModelScore }[];
  /** Test-set confusion matrices (counts[true][predicted]) of the models, for per-class accuracy. */
  readonly confusions?: readonly { readonly model: string; readonly counts: readonly (readonly number[])[] }[];
}

export interface ReportOptions {
  /** Longest side of the sample thumbnails, in px (larger images are downscaled). Default 128. */
  readonly thumbnailSize?: number;
}

const pct = (v: number | null | undefined, digits = 1): string => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(digits)}%`);

function className(names: readonly string[], i: number | undefined): string {
  if (i === undefined) return '';
  return names[i] ?? `class ${i}`;
}

/** PNG data URI of an image, downscaled to fit `size` when larger. */
async function thumbnail(img: ImageU8, size: number): Promise<{ uri: string; width: number; height: number }> {
  const buf = Buffer.from(img.data.buffer, img.data.byteOffset, img.width * img.height * img.channels);
  let s = sharp(buf, { raw: { width: img.width, height: img.height, channels: img.channels } });
  let width = img.width;
  let height = img.height;
  if (Math.max(width, height) > size) {
    const scale = size / Math.max(width, height);
    width = Math.max(1, Math.round(width * scale));
    height = Math.max(1, Math.round(height * scale));
    s = s.resize(width, height, { fit: 'fill', kernel: 'lanczos3' });
  }
  if (img.channels === 1) s = s.toColourspace('b-w');
  const png = await s.png({ compressionLevel: 9 }).toBuffer();
  return { uri: `data:image/png;base64,${png.toString('base64')}`, width, height };
}

const THUMB_BOX = 96;

export const REPORT_CSS = `
:root{--bg:#f4f5f8;--card:#fff;--ink:#1d2433;--muted:#5d6678;--line:#e3e6ec;--accent:#4269d0;--good:#2f9e55;--bad:#d9485f}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1160px;margin:0 auto;padding:28px 24px 48px}
header h1{margin:0;font-size:26px;font-weight:650;letter-spacing:-.01em}
header .sub{color:var(--muted);margin-top:4px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:12px;margin:20px 0 8px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
.kpi .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.kpi .value{font-size:26px;font-weight:650;margin-top:2px;font-variant-numeric:tabular-nums}
.kpi .note{color:var(--muted);font-size:12.5px}
.delta-pos{color:var(--good);font-weight:600}.delta-neg{color:var(--bad);font-weight:600}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:18px 20px 20px;margin-top:18px}
section h2{margin:0 0 4px;font-size:18px;font-weight:650}
section h3{margin:18px 0 6px;font-size:15px;font-weight:600}
section .desc{color:var(--muted);margin:0 0 10px;font-size:13px}
.row{display:grid;grid-template-columns:1fr 1fr;gap:20px}
@media (max-width:900px){.row{grid-template-columns:1fr}}
.chart{width:100%;height:auto;display:block;font-family:inherit}
.chart .grid{stroke:#e9ecf1;stroke-width:1}
.chart .axis{stroke:#9aa3b2;stroke-width:1}
.chart .tick{fill:#6b7385;font-size:11px}
.chart .cat{fill:#384152;font-size:12px}
.chart .legend{fill:#384152;font-size:12px}
.chart .value{fill:#1d2433;font-size:11px;font-weight:600}
.chart .axis-title{fill:#6b7385;font-size:11px}
.chart .chart-title{fill:#1d2433;font-size:13px;font-weight:600}
.chart .ref,.chart .threshold{stroke:#d9485f;stroke-width:1.5;stroke-dasharray:5 4}
.chart .ref-label,.chart .threshold-label{fill:#d9485f;font-size:11px;font-weight:600}
.chart .empty{fill:#9aa3b2;font-size:13px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;margin-top:12px}
th,td{text-align:left;padding:7px 10px;border-bottom:1px solid var(--line)}
th{color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.03em}
td.num,th.num{text-align:right}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;background:#f1f3f7;padding:1px 5px;border-radius:4px}
.chips{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0 4px}
.chip{background:#f1f3f7;border-radius:999px;padding:3px 11px;font-size:12.5px;color:#384152}
.chip b{color:var(--ink)}
.samples{display:grid;grid-template-columns:repeat(auto-fill,minmax(132px,1fr));gap:12px;margin-top:8px}
.sample{margin:0;border:1px solid var(--line);border-radius:10px;padding:10px;text-align:center;background:#fbfbfd}
.sample .thumb{height:${THUMB_BOX}px;display:flex;align-items:center;justify-content:center;margin-bottom:8px}
.sample.ok{border-color:#9bd3ad;background:#f5fbf7}.sample.wrong{border-color:#f0a9b4;background:#fdf6f7}
.sample img{display:block;border-radius:4px;background:#000}
.sample img.px{image-rendering:pixelated}
.sample .pl{font-weight:600;font-size:13px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sample .conf{display:flex;align-items:center;gap:6px;font-size:12px;color:var(--muted);margin-top:3px}
.sample .bar{flex:1;height:5px;background:#e6e9ef;border-radius:3px;overflow:hidden}
.sample .bar i{display:block;height:100%;background:var(--accent)}
.sample .truth{font-size:12px;margin-top:4px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sample.ok .truth{color:var(--good)}.sample.wrong .truth{color:var(--bad)}
details{margin-top:18px}summary{cursor:pointer;color:var(--muted)}
pre{background:#f6f7f9;border:1px solid var(--line);border-radius:8px;padding:12px;overflow:auto;font-size:12px;max-height:420px}
footer{color:var(--muted);font-size:12px;margin-top:22px;text-align:center}
`;

interface ChainEntry {
  label: string;
  score: ModelScore;
  generation: number;
  kind: 'teacher' | 'student' | 'no-noise';
}

/** The models in order: the first teacher, then each generation's student (and its no-noise twin). */
function modelChain(gens: readonly ReportGeneration[]): ChainEntry[] {
  const out: ChainEntry[] = [];
  if (gens.length === 0) return out;
  out.push({ label: 'Teacher', score: gens[0]!.teacher, generation: 0, kind: 'teacher' });
  gens.forEach((g, i) => {
    out.push({ label: `Student ${i + 1}`, score: g.student, generation: i + 1, kind: 'student' });
    if (g.noNoise) out.push({ label: `Student ${i + 1} (no noise)`, score: g.noNoise, generation: i + 1, kind: 'no-noise' });
  });
  return out;
}

function delta(v: number, base: number): string {
  const d = (v - base) * 100;
  const cls = d > 0.005 ? 'delta-pos' : d < -0.005 ? 'delta-neg' : '';
  return `<span class="${cls}">${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} pt</span>`;
}

function kpis(data: ReportData): string {
  const gens = data.generations;
  if (gens.length === 0) return '';
  const teacher = gens[0]!.teacher;
  const last = gens[gens.length - 1]!;
  const cards: string[] = [];
  cards.push(
    `<div class="kpi"><div class="label">Teacher top-1</div><div class="value">${pct(teacher.top1)}</div><div class="note"><code>${esc(teacher.model)}</code></div></div>`,
  );
  cards.push(
    `<div class="kpi"><div class="label">Final student top-1</div><div class="value">${pct(last.student.top1)}</div><div class="note">${delta(last.student.top1, teacher.top1)} vs teacher · <code>${esc(last.student.model)}</code></div></div>`,
  );
  const pl = last.pseudoLabels;
  if (pl) {
    const uniq = pl.uniqueKept !== undefined ? ` (${formatCount(pl.uniqueKept)} unique)` : '';
    cards.push(
      `<div class="kpi"><div class="label">Pseudo-labels kept</div><div class="value">${formatCount(pl.kept)}</div><div class="note">${uniq ? uniq.trim() + ' · ' : ''}threshold ${pl.threshold.toFixed(2)}${pl.perClass ? ` · K = ${formatCount(pl.perClass)}` : ''}</div></div>`,
    );
    if (pl.accuracy !== undefined && pl.accuracy !== null) {
      cards.push(
        `<div class="kpi"><div class="label">Pseudo-label accuracy</div><div class="value">${pct(pl.accuracy)}</div><div class="note">${pct(pl.balancedAccuracy)} after balancing (last generation)</div></div>`,
      );
    }
  }
  if (data.oracle) {
    const g = gapClosed(last.student.top1, teacher.top1, data.oracle.top1);
    cards.push(
      `<div class="kpi"><div class="label">Labeled-data gap closed</div><div class="value">${g === null ? 'undefined' : `${(g * 100).toFixed(1)}%`}</div><div class="note">oracle ${pct(data.oracle.top1)}${g === null ? ' does not beat the teacher' : ''} · one seed: no spread (run --seeds for mean ± sd)</div></div>`,
    );
  }
  if (last.noNoise) {
    cards.push(
      `<div class="kpi"><div class="label">Noise ablation</div><div class="value">${delta(last.student.top1, last.noNoise.top1)}</div><div class="note">noised ${pct(last.student.top1)} vs no noise ${pct(last.noNoise.top1)}</div></div>`,
    );
  }
  return `<div class="cards">${cards.join('')}</div>`;
}

function accuracySection(data: ReportData): string {
  const chain = modelChain(data.generations);
  if (chain.length === 0) return '';
  const hasTop5 = chain.some((c) => c.score.top5 !== undefined);
  const series = [{ name: 'top-1', color: PALETTE[0]!, values: chain.map((c) => c.score.top1 * 100) }];
  if (hasTop5)
    series.push({ name: 'top-5', color: '#a9c0f0', values: chain.map((c) => (c.score.top5 === undefined ? NaN : c.score.top5 * 100)) });
  const chart = barChart({
    categories: chain.map((c) => c.label),
    series: series.map((s) => ({ ...s, values: s.values.map((v) => (Number.isNaN(v) ? null : v)) })),
    yMax: 100,
    yTitle: 'test accuracy (%)',
    tickFormat: (v) => `${v}%`,
    valueFormat: (v) => `${v.toFixed(1)}%`,
    width: 1080,
    height: 300,
    ariaLabel: 'Accuracy per generation',
  });
  const base = chain[0]!.score.top1;
  const rows = chain
    .map(
      (c) =>
        `<tr><td>${esc(c.label)}</td><td><code>${esc(c.score.model)}</code></td><td class="num">${c.generation}</td><td class="num">${pct(c.score.top1, 2)}</td><td class="num">${pct(c.score.top5, 2)}</td><td class="num">${c.kind === 'teacher' ? '' : delta(c.score.top1, base)}</td></tr>`,
    )
    .join('');
  const extra = [
    ...(data.ablations ?? []).map((a) => ({ label: `${a.name} variant`, score: a.student })),
    ...(data.oracle ? [{ label: 'Oracle (all true labels)', score: data.oracle }] : []),
  ]
    .map(
      (c) =>
        `<tr><td>${esc(c.label)}</td><td><code>${esc(c.score.model)}</code></td><td class="num"></td><td class="num">${pct(c.score.top1, 2)}</td><td class="num">${pct(c.score.top5, 2)}</td><td class="num">${delta(c.score.top1, base)}</td></tr>`,
    )
    .join('');
  return `<section id="accuracy"><h2>Accuracy per generation</h2>
<p class="desc">Test-set top-1 and top-5 of the first teacher and of each generation's student (each student is the next generation's teacher).</p>
${chart}
<table><thead><tr><th>model</th><th>architecture</th><th class="num">generation</th><th class="num">top-1</th><th class="num">top-5</th><th class="num">Δ top-1 vs teacher</th></tr></thead><tbody>${rows}${extra}</tbody></table>
<p class="desc">One seed: each Δ is a single run's difference, without its spread; <code>run --seeds 0,1,2</code> reports mean ± sd of paired differences.</p></section>`;
}

function curvesSection(data: ReportData): string {
  const curves = (data.curves ?? []).filter((c) => c.metrics.length > 0);
  if (curves.length === 0) return '';
  const lossSeries: LineSeries[] = [];
  const accSeries: LineSeries[] = [];
  curves.forEach((c, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const name = c.model ? `${c.name} (${c.model})` : c.name;
    const loss = c.metrics.filter((m) => m.loss !== undefined && Number.isFinite(m.loss)).map((m) => [m.epoch, m.loss!] as const);
    const evalLoss = c.metrics
      .filter((m) => m.evalLoss !== undefined && Number.isFinite(m.evalLoss))
      .map((m) => [m.epoch, m.evalLoss!] as const);
    const top1 = c.metrics.filter((m) => m.top1 !== undefined && Number.isFinite(m.top1)).map((m) => [m.epoch, m.top1! * 100] as const);
    if (loss.length) lossSeries.push({ name: `${name} train`, color, points: loss });
    if (evalLoss.length) lossSeries.push({ name: `${name} eval`, color, dashed: true, points: evalLoss });
    if (top1.length) accSeries.push({ name, color, points: top1 });
  });
  const loss = lineChart({
    series: lossSeries,
    title: 'Loss',
    xTitle: 'epoch',
    yTitle: 'loss',
    yFormat: (v) => (Math.abs(v) >= 10 ? v.toFixed(0) : v.toFixed(2)),
    ariaLabel: 'Training loss per epoch',
    width: 540,
    height: 320,
    labelLast: true,
  });
  const acc = lineChart({
    series: accSeries,
    title: 'Test top-1',
    xTitle: 'epoch',
    yTitle: 'top-1 (%)',
    yFormat: (v) => `${v.toFixed(1)}%`,
    ariaLabel: 'Top-1 per epoch',
    width: 540,
    height: 320,
    labelLast: true,
  });
  return `<section id="curves"><h2>Training curves</h2>
<p class="desc">Per epoch: training loss (solid; dashed where an eval loss was logged) and test top-1, for every model trained in this run. The value at the last epoch is written at the end of each line.</p>
<div class="row"><div>${loss}</div><div>${acc}</div></div></section>`;
}

function classCountChart(names: readonly string[], before: readonly number[], after: readonly number[], perClass?: number): string {
  const n = Math.max(before.length, after.length);
  if (n <= 40) {
    return barChart({
      categories: Array.from({ length: n }, (_, i) => className(names, i)),
      series: [
        { name: 'before balancing (≥ threshold)', color: '#b7c0cf', values: before },
        { name: 'after balancing (with copies)', color: PALETTE[1]!, values: after },
      ],
      reference: perClass ? { value: perClass, label: `K = ${formatCount(perClass)}` } : undefined,
      valueFormat: n <= 16 ? formatCompact : null,
      yTitle: 'images',
      width: 540,
      height: 320,
      ariaLabel: 'Per-class counts before and after balancing',
    });
  }
  // Many classes: counts sorted by the before-balancing count, one line each.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (before[b] ?? 0) - (before[a] ?? 0));
  const series: LineSeries[] = [
    { name: 'before balancing', color: '#8d99ae', points: order.map((c, r) => [r + 1, before[c] ?? 0] as const) },
    { name: 'after balancing', color: PALETTE[1]!, points: order.map((c, r) => [r + 1, after[c] ?? 0] as const) },
  ];
  if (perClass) {
    series.push({
      name: `K = ${formatCount(perClass)}`,
      color: '#d9485f',
      dashed: true,
      points: [
        [1, perClass],
        [n, perClass],
      ],
    });
  }
  return lineChart({
    series,
    xTitle: 'classes, sorted by count before balancing',
    yTitle: 'images',
    yFormat: formatCount,
    yMin: 0,
    markersUpTo: 0,
    width: 540,
    height: 320,
    ariaLabel: 'Per-class counts before and after balancing',
  });
}

function pseudoLabelSection(data: ReportData): string {
  const blocks: string[] = [];
  data.generations.forEach((g, i) => {
    if (!g.histogram && !g.classCounts && !g.pseudoLabels) return;
    const pl = g.pseudoLabels;
    const chips: string[] = [];
    if (pl) {
      if (pl.images !== undefined) chips.push(`<span class="chip"><b>${formatCount(pl.images)}</b> images labelled</span>`);
      chips.push(
        `<span class="chip"><b>${formatCount(pl.kept)}</b> kept${pl.uniqueKept !== undefined ? ` (${formatCount(pl.uniqueKept)} unique)` : ''}</span>`,
      );
      chips.push(`<span class="chip">threshold <b>${pl.threshold.toFixed(2)}</b></span>`);
      if (pl.perClass !== undefined) chips.push(`<span class="chip">K = <b>${formatCount(pl.perClass)}</b> per class</span>`);
      if (pl.accuracy !== undefined && pl.accuracy !== null)
        chips.push(`<span class="chip">accuracy <b>${pct(pl.accuracy)}</b> overall</span>`);
      if (pl.balancedAccuracy !== undefined && pl.balancedAccuracy !== null) {
        chips.push(`<span class="chip"><b>${pct(pl.balancedAccuracy)}</b> after balancing</span>`);
      }
    }
    const hist = g.histogram
      ? histogramChart({
          edges: g.histogram.edges,
          counts: g.histogram.counts,
          threshold: pl?.threshold,
          width: 540,
          height: 320,
          ariaLabel: `Confidence histogram, generation ${i + 1}`,
        })
      : '';
    const counts = g.classCounts ? classCountChart(data.classNames, g.classCounts.before, g.classCounts.after, pl?.perClass) : '';
    blocks.push(`<h3>Generation ${i + 1}: teacher <code>${esc(g.teacher.model)}</code> → student <code>${esc(g.student.model)}</code></h3>
<div class="chips">${chips.join('')}</div>
<div class="row"><div>${hist}</div><div>${counts}</div></div>`);
  });
  if (blocks.length === 0) return '';
  return `<section id="pseudo-labels"><h2>Pseudo-labels</h2>
<p class="desc">The teacher (not noised) labels the unlabeled images; images whose top-1 confidence is at least the threshold are kept, assigned to their argmax class, and balanced to K per class: the most confident images of over-full classes, duplicates for under-full ones.</p>
${blocks.join('\n')}</section>`;
}

async function samplesSection(data: ReportData, size: number): Promise<string> {
  const samples = data.samples ?? [];
  if (samples.length === 0) return '';
  const cards: string[] = [];
  let known = 0;
  let right = 0;
  for (const s of samples) {
    const t = await thumbnail(s.image, size);
    // Shown in a 96 px box: small images (28x28, 32x32) upscaled by a whole factor with crisp pixels.
    const longest = Math.max(t.width, t.height);
    const small = longest <= 48;
    const scale = small ? Math.max(1, Math.floor(THUMB_BOX / longest)) : THUMB_BOX / longest;
    const w = Math.max(1, Math.round(t.width * scale));
    const h = Math.max(1, Math.round(t.height * scale));
    const name = className(data.classNames, s.pseudoLabel);
    let cls = '';
    let truth = '';
    if (s.trueLabel !== undefined) {
      known++;
      const ok = s.trueLabel === s.pseudoLabel;
      if (ok) right++;
      cls = ok ? ' ok' : ' wrong';
      truth = ok
        ? `<div class="truth">✓ correct</div>`
        : `<div class="truth" title="${esc(className(data.classNames, s.trueLabel))}">✗ true: ${esc(className(data.classNames, s.trueLabel))}</div>`;
    }
    const conf = Math.max(0, Math.min(1, s.confidence));
    cards.push(
      `<figure class="sample${cls}"><div class="thumb"><img${small ? ' class="px"' : ''} src="${t.uri}" width="${w}" height="${h}" alt="${esc(`pseudo-label ${name}, confidence ${pct(s.confidence)}`)}"></div>` +
        `<div class="pl" title="${esc(name)}">${esc(name)}</div>` +
        `<div class="conf"><span class="bar"><i style="width:${(conf * 100).toFixed(1)}%"></i></span><span>${pct(s.confidence)}</span></div>${truth}` +
        `${s.generation !== undefined ? `<div class="conf">generation ${s.generation}</div>` : ''}</figure>`,
    );
  }
  const summary = known > 0 ? ` ${right} of ${known} shown with a known true label are correct.` : '';
  return `<section id="samples"><h2>Sample pseudo-labeled images</h2>
<p class="desc">Each image with the teacher's pseudo-label and confidence${known > 0 ? '; green when it matches the true label, red when not' : ''}.${summary}</p>
<div class="samples">${cards.join('')}</div></section>`;
}

async function perClassSection(data: ReportData): Promise<string> {
  const cs = data.confusions ?? [];
  if (cs.length === 0) return '';
  const series = cs.map((c) => ({ model: c.model, accuracy: perClassAccuracy(c) }));
  const chart = await perClassChart(data.classNames, series);
  const rows = data.classNames
    .map(
      (n, k) =>
        `<tr><td>${esc(n)}</td>${series.map((s) => `<td class="num">${pct(s.accuracy[k] ?? null)}</td>`).join('')}<td class="num">${formatCount(cs[0]!.counts[k]?.reduce((a, v) => a + v, 0) ?? 0)}</td></tr>`,
    )
    .join('');
  const first = cs[0]!;
  const lastStudent = [...cs].reverse().find((c) => c.model.startsWith('student')) ?? cs[cs.length - 1]!;
  const cmA = await confusionChart(data.classNames, first.counts, `${first.model}: confusion matrix`);
  const cmB =
    lastStudent !== first ? await confusionChart(data.classNames, lastStudent.counts, `${lastStudent.model}: confusion matrix`) : '';
  return `<section id="per-class"><h2>Per-class accuracy</h2>
<p class="desc">Accuracy on each true class of the test set, from the evaluation's counts (rows of the confusion matrix: true class; columns: predicted).</p>
${chart}
<table><thead><tr><th>class</th>${series.map((s) => `<th class="num">${esc(s.model)}</th>`).join('')}<th class="num">test images</th></tr></thead><tbody>${rows}</tbody></table>
<div class="row"><div>${cmA}</div><div>${cmB}</div></div></section>`;
}

function timingsSection(data: ReportData): string {
  const t = data.timings ?? [];
  if (t.length === 0) return '';
  const total = t.reduce((a, x) => a + x.seconds, 0);
  const fmt = (s: number): string =>
    s >= 3600 ? `${(s / 3600).toFixed(2)} h` : s >= 60 ? `${(s / 60).toFixed(1)} min` : `${s.toFixed(1)} s`;
  const rows = t.map((x) => `<tr><td>${esc(x.stage)}</td><td class="num">${fmt(x.seconds)}</td></tr>`).join('');
  return `<section id="timings"><h2>Wall time</h2><table><thead><tr><th>stage</th><th class="num">time</th></tr></thead><tbody>${rows}<tr><td><b>total</b></td><td class="num"><b>${fmt(total)}</b></td></tr></tbody></table></section>`;
}

/** The report as one HTML string. */
export async function renderReport(data: ReportData, opts: ReportOptions = {}): Promise<string> {
  const size = opts.thumbnailSize ?? 128;
  const title = data.title ?? 'Noisy Student Training report';
  const created = data.createdAt ?? new Date().toISOString();
  const gens = data.generations.length;
  const sub =
    data.subtitle ??
    `${gens} generation${gens === 1 ? '' : 's'} · ${data.classNames.length} classes · generated ${created
      .replace('T', ' ')
      .replace(/\.\d+Z$/, ' UTC')
      .replace(/Z$/, ' UTC')}`;
  const config =
    data.config !== undefined
      ? `<details><summary>Resolved configuration</summary><pre>${esc(JSON.stringify(data.config, null, 2) ?? '')}</pre></details>`
      : '';
  const body = [
    `<header><h1>${esc(title)}</h1><div class="sub">${esc(sub)}</div></header>`,
    kpis(data),
    accuracySection(data),
    await perClassSection(data),
    curvesSection(data),
    pseudoLabelSection(data),
    await samplesSection(data, size),
    timingsSection(data),
    config,
    `<footer>noisy-student · self-contained report: no network access is needed to view it</footer>`,
  ]
    .filter((s) => s.length > 0)
    .join('\n');
  return reportDocument(title, body);
}

/** One self-contained page: the reports' CSS inline, no script, nothing fetched. */
export function reportDocument(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${REPORT_CSS}${VEGA_CSS}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>
`;
}

/** Render the report and write it atomically (temp file + rename) to `path`. */
export async function writeReport(path: string, data: ReportData, opts: ReportOptions = {}): Promise<void> {
  atomicWriteFile(path, await renderReport(data, opts));
}
