// The report's newer charts as Vega-Lite specs rendered to SVG in Node (vega-lite compiles, vega's
// View with renderer 'none' writes the SVG: no browser, no canvas), so the report stays one file with
// inline SVG: per-class accuracy, the confusion matrix, and accuracy and gains with their seed
// spread (a point ± sd with every seed's value beside it).
import { compile, type TopLevelSpec } from 'vega-lite';
import { View, parse } from 'vega';
import { esc, PALETTE } from './report_charts.js';

const CONFIG = {
  font: 'system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif',
  axis: { labelColor: '#6b7385', titleColor: '#6b7385', gridColor: '#e9ecf1', domainColor: '#9aa3b2', tickColor: '#9aa3b2' },
  legend: { labelColor: '#384152', titleColor: '#6b7385', orient: 'bottom' },
  view: { stroke: null },
  range: { category: PALETTE },
} as const;

/** SVG of a Vega-Lite spec, wrapped in a figure with an accessible label. */
export async function vegaSvg(spec: TopLevelSpec, label: string): Promise<string> {
  const vg = compile({ ...spec, config: { ...CONFIG, ...(spec.config ?? {}) } } as TopLevelSpec).spec;
  const view = new View(parse(vg), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return `<figure class="vega" role="img" aria-label="${esc(label)}">${svg}</figure>`;
  } finally {
    view.finalize();
  }
}

export const VEGA_CSS = `.vega{margin:0}.vega svg{max-width:100%;height:auto;display:block}`;

/** One model's per-class accuracy (fractions; null for a class without test images), with its spread over seeds when known. */
export interface PerClassSeries {
  readonly model: string;
  readonly accuracy: readonly (number | null)[];
  readonly sd?: readonly (number | null)[];
}

export function perClassChart(classNames: readonly string[], series: readonly PerClassSeries[], width = 1000): Promise<string> {
  const values = series.flatMap((s) =>
    s.accuracy.flatMap((a, c) =>
      a === null
        ? []
        : [
            {
              model: s.model,
              cls: classNames[c] ?? `class ${c}`,
              order: c,
              acc: a * 100,
              // ± sd, cut at 0 and 100 %.
              ...(s.sd?.[c] != null ? { lo: Math.max(0, a - s.sd[c]!) * 100, hi: Math.min(1, a + s.sd[c]!) * 100 } : {}),
            },
          ],
    ),
  );
  const models = series.map((s) => s.model);
  const x = { field: 'cls', type: 'nominal', sort: classNames, title: null, axis: { labelAngle: -30 } } as const;
  const xOffset = { field: 'model', type: 'nominal', sort: models } as const;
  const spec = {
    width,
    height: 260,
    data: { values },
    layer: [
      {
        mark: { type: 'bar' },
        encoding: {
          x,
          xOffset,
          y: { field: 'acc', type: 'quantitative', title: 'test accuracy (%)', scale: { domain: [0, 100] } },
          color: { field: 'model', type: 'nominal', sort: models, title: null },
          tooltip: [{ field: 'model' }, { field: 'cls' }, { field: 'acc', format: '.1f' }],
        },
      },
      {
        mark: { type: 'rule', color: '#1d2433' },
        transform: [{ filter: 'isValid(datum.lo)' }],
        encoding: { x, xOffset, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } },
      },
    ],
  };
  return vegaSvg(spec as unknown as TopLevelSpec, 'Per-class test accuracy');
}

/** counts[true][predicted], shown as the share of each true class (colour) and the count (text). */
export function confusionChart(
  classNames: readonly string[],
  counts: readonly (readonly number[])[],
  title: string,
  size = 420,
): Promise<string> {
  const values = counts.flatMap((row, t) => {
    const n = row.reduce((a, v) => a + v, 0);
    return row.map((v, p) => ({
      truth: classNames[t] ?? `class ${t}`,
      pred: classNames[p] ?? `class ${p}`,
      count: v,
      share: n ? (v / n) * 100 : 0,
    }));
  });
  const spec = {
    width: size,
    height: size,
    title: { text: title, fontSize: 13, color: '#1d2433' },
    data: { values },
    encoding: {
      x: { field: 'pred', type: 'nominal', sort: classNames, title: 'predicted', axis: { labelAngle: -40 } },
      y: { field: 'truth', type: 'nominal', sort: classNames, title: 'true class' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: {
            field: 'share',
            type: 'quantitative',
            title: '% of true class',
            scale: { domain: [0, 100], range: ['#ffffff', '#2a4f9e'] },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: 9 },
        transform: [{ filter: 'datum.count > 0' }],
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.share > 55', value: 'white' }, value: '#1d2433' },
        },
      },
    ],
  };
  return vegaSvg(spec as unknown as TopLevelSpec, title);
}

/** One bar of a spread chart: a figure's mean ± sd over seeds and each seed's value. */
export interface SpreadPoint {
  readonly label: string;
  readonly mean: number;
  readonly sd: number | null;
  readonly seeds: readonly { seed: number; value: number }[];
}

/**
 * Points with error bars: each row's mean (a dot) ± its sd (a bar), every seed's value as a small
 * hollow mark; `zero` draws the no-change line of a difference (gains, margins). Values in points/percent.
 */
export function spreadChart(
  rows: readonly SpreadPoint[],
  o: { title: string; axis: string; zero?: boolean; width?: number },
): Promise<string> {
  const labels = rows.map((r) => r.label);
  const means = rows.map((r) => ({
    label: r.label,
    mean: r.mean,
    text: r.sd === null ? `${r.mean.toFixed(2)} (n = 1)` : `${r.mean.toFixed(2)} ± ${r.sd.toFixed(2)}`,
    ...(r.sd !== null ? { lo: r.mean - r.sd, hi: r.mean + r.sd } : {}),
  }));
  const seeds = rows.flatMap((r) => r.seeds.map((s) => ({ label: r.label, value: s.value, seed: `seed ${s.seed}` })));
  const y = { field: 'label', type: 'nominal', sort: labels, title: null } as const;
  const all = [...rows.flatMap((r) => [r.mean - (r.sd ?? 0), r.mean + (r.sd ?? 0)]), ...seeds.map((s) => s.value), ...(o.zero ? [0] : [])];
  const pad = Math.max(0.5, (Math.max(...all) - Math.min(...all)) * 0.12);
  const domain = [Math.min(...all) - pad, Math.max(...all) + pad];
  const x = { type: 'quantitative', title: o.axis, scale: { domain, nice: false, zero: false } } as const;
  const spec = {
    width: o.width ?? 560,
    height: Math.max(60, rows.length * 34),
    title: { text: o.title, fontSize: 13, color: '#1d2433' },
    layer: [
      ...(o.zero
        ? [
            {
              data: { values: [{ z: 0 }] },
              mark: { type: 'rule', color: '#d9485f', strokeDash: [5, 4] },
              encoding: { x: { field: 'z', ...x } },
            },
          ]
        : []),
      {
        data: { values: means },
        mark: { type: 'rule', strokeWidth: 2, color: '#1d2433' },
        transform: [{ filter: 'isValid(datum.lo)' }],
        encoding: { y, x: { field: 'lo', ...x }, x2: { field: 'hi' } },
      },
      {
        data: { values: seeds },
        mark: { type: 'point', shape: 'circle', size: 40, filled: false, yOffset: 9, color: '#8d99ae' },
        encoding: { y, x: { field: 'value', ...x }, tooltip: [{ field: 'seed' }, { field: 'value', format: '.2f' }] },
      },
      {
        data: { values: means },
        mark: { type: 'point', shape: 'circle', size: 70, filled: true, color: PALETTE[0] },
        encoding: { y, x: { field: 'mean', ...x } },
      },
      {
        data: { values: means },
        mark: { type: 'text', align: 'left', dx: 8, dy: -9, fontSize: 11, color: '#1d2433' },
        encoding: { y, x: { field: 'mean', ...x }, text: { field: 'text' } },
      },
    ],
  };
  return vegaSvg(spec as unknown as TopLevelSpec, o.title);
}
