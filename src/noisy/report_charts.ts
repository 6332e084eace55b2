// Hand-written inline SVG charts for report.html: grouped bars with value labels, line charts,
// a confidence histogram with its threshold, and a sorted-counts chart for many classes. Pure
// string builders (no DOM, no network); every chart scales with its container through its viewBox.

export const PALETTE = ['#4269d0', '#ef8a17', '#3ca951', '#e4475b', '#8e6bd8', '#1f9ea8', '#b8860b', '#d45fa0', '#6b7b8c', '#97bbf5'];

const REF_COLOR = '#d9485f';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Round to 2 decimals for SVG coordinates. */
function r2(x: number): string {
  return (Math.round(x * 100) / 100).toString();
}

/** "Nice" tick values covering [lo, hi] (1, 2, 2.5, 5 x 10^k steps). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  // Ticks are k * step; toFixed removes the binary noise of the product (3 * 0.1 = 0.30000000000000004).
  const decimals = Math.min(20, Math.max(0, 1 - Math.floor(Math.log10(step))));
  const tick = (k: number): number => Number((k * step).toFixed(decimals));
  const k0 = Math.floor(lo / step + 1e-9);
  const ticks: number[] = [];
  let k = k0;
  for (; k * step <= hi + step * 1e-6; k++) ticks.push(tick(k));
  if (ticks.length === 0 || ticks[ticks.length - 1]! < hi - step * 1e-6) ticks.push(tick(k));
  return ticks;
}

/** Approximate rendered width of a label in px (system sans fonts average ~0.58 em per character). */
function textWidth(s: string, fontSize: number): number {
  return s.length * fontSize * 0.58;
}

export function formatCount(n: number): string {
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(n >= 1e7 ? 0 : 1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(n >= 1e5 ? 0 : 1)}k`;
  return Math.round(n).toLocaleString('en-US');
}

/** Short count for labels on narrow bars: 4.0k, 12k, 1.3M. */
export function formatCompact(n: number): string {
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(a >= 1e7 ? 0 : 1)}M`;
  if (a >= 1e3) return `${(n / 1e3).toFixed(a >= 1e4 ? 0 : 1)}k`;
  return String(Math.round(n));
}

/** Axis tick label for counts: 500, 2.5k, 10k, 1M (no trailing ".0"). */
export function formatTick(n: number): string {
  return formatCompact(n).replace(/\.0(?=[kM]$)/, '');
}

interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

function svgOpen(f: Frame, label: string): string {
  return `<svg class="chart" viewBox="0 0 ${f.width} ${f.height}" role="img" aria-label="${esc(label)}">`;
}

function yAxis(f: Frame, ticks: number[], y: (v: number) => number, fmt: (v: number) => string, title?: string): string {
  const out: string[] = [];
  for (const t of ticks) {
    const yy = r2(y(t));
    out.push(`<line class="grid" x1="${f.left}" x2="${f.width - f.right}" y1="${yy}" y2="${yy}"/>`);
    out.push(`<text class="tick" x="${f.left - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${esc(fmt(t))}</text>`);
  }
  if (title) {
    const cy = (f.top + f.height - f.bottom) / 2;
    out.push(`<text class="axis-title" transform="translate(12 ${r2(cy)}) rotate(-90)" text-anchor="middle">${esc(title)}</text>`);
  }
  return out.join('');
}

interface LegendItem {
  readonly name: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly shape?: 'bar' | 'line';
}

const LEGEND_ROW = 18;

/** Lay legend items out left to right, wrapping at `maxWidth`; returns the SVG and the number of rows. */
function legend(items: readonly LegendItem[], x: number, y: number, maxWidth: number): { svg: string; rows: number } {
  const out: string[] = [];
  let cx = x;
  let row = 0;
  for (const it of items) {
    const w = (it.shape === 'line' ? 24 : 17) + textWidth(it.name, 12) + 18;
    if (cx > x && cx - x + w - 18 > maxWidth) {
      row++;
      cx = x;
    }
    const yy = y + row * LEGEND_ROW;
    if (it.shape === 'line') {
      out.push(
        `<line x1="${r2(cx)}" x2="${r2(cx + 18)}" y1="${yy}" y2="${yy}" stroke="${it.color}" stroke-width="2.5"${it.dashed ? ' stroke-dasharray="5 3"' : ''}/>`,
      );
      cx += 24;
    } else {
      out.push(`<rect x="${r2(cx)}" y="${yy - 6}" width="12" height="12" rx="2" fill="${it.color}"/>`);
      cx += 17;
    }
    out.push(`<text class="legend" x="${r2(cx)}" y="${yy}" dominant-baseline="middle">${esc(it.name)}</text>`);
    cx += textWidth(it.name, 12) + 18;
  }
  return { svg: out.join(''), rows: row + 1 };
}

// ---------------------------------------------------------------------------------------------

export interface BarSeries {
  readonly name: string;
  readonly color: string;
  readonly values: readonly (number | null | undefined)[];
}

export interface BarChartOptions {
  readonly categories: readonly string[];
  readonly series: readonly BarSeries[];
  readonly width?: number;
  readonly height?: number;
  /** Axis upper bound (default: from the data). */
  readonly yMax?: number;
  readonly yTitle?: string;
  readonly tickFormat?: (v: number) => string;
  /** Label printed above each bar; null for none. */
  readonly valueFormat?: ((v: number) => string) | null;
  /** Horizontal reference line (e.g. the per-class target K). */
  readonly reference?: { readonly value: number; readonly label: string };
  readonly ariaLabel: string;
}

/** Grouped vertical bars, one group per category, one bar per series, values written above the bars. */
export function barChart(o: BarChartOptions): string {
  const width = o.width ?? 720;
  const height = o.height ?? 300;
  const fmt = o.tickFormat ?? formatTick;
  const valueFmt = o.valueFormat === undefined ? fmt : o.valueFormat;
  const nCat = o.categories.length;
  const nSer = o.series.length;
  const maxLabel = Math.max(0, ...o.categories.map((c) => textWidth(c, 12)));
  const left = 56;
  const right = 12;
  const plotW = width - left - right;
  const groupW = plotW / Math.max(1, nCat);
  const rotate = maxLabel > groupW - 6;
  const bottom = rotate ? Math.min(110, 24 + maxLabel * 0.72) : 30;
  const legendItems: LegendItem[] = o.series.map((s) => ({ name: s.name, color: s.color }));
  if (o.reference) legendItems.push({ name: o.reference.label, color: REF_COLOR, dashed: true, shape: 'line' });
  const lg = legend(legendItems, left, 14, width - left - right);
  const top = 34 + (lg.rows - 1) * LEGEND_ROW;
  const f: Frame = { width, height, left, right, top, bottom };
  let dataMax = 0;
  for (const s of o.series) for (const v of s.values) if (v !== null && v !== undefined && v > dataMax) dataMax = v;
  if (o.reference) dataMax = Math.max(dataMax, o.reference.value);
  const ticks = niceTicks(0, o.yMax ?? (dataMax > 0 ? dataMax * 1.08 : 1), 5);
  const yMax = o.yMax ?? ticks[ticks.length - 1]!;
  const plotH = height - top - bottom;
  const y = (v: number): number => top + plotH * (1 - v / yMax);
  const parts: string[] = [svgOpen(f, o.ariaLabel)];
  parts.push(yAxis(f, ticks, y, fmt, o.yTitle));
  const barW = Math.min(84, (groupW * 0.78) / Math.max(1, nSer));
  const inner = barW * nSer;
  const valueFont = barW < 22 ? 9 : barW < 34 ? 10 : 11;
  for (let c = 0; c < nCat; c++) {
    const gx = left + c * groupW + (groupW - inner) / 2;
    for (let s = 0; s < nSer; s++) {
      const v = o.series[s]!.values[c];
      if (v === null || v === undefined) continue;
      const x = gx + s * barW;
      const yy = y(Math.max(0, v));
      parts.push(
        `<rect x="${r2(x + 1)}" y="${r2(yy)}" width="${r2(Math.max(1, barW - 2))}" height="${r2(y(0) - yy)}" rx="2" fill="${o.series[s]!.color}"><title>${esc(`${o.series[s]!.name} · ${o.categories[c]}: ${fmt(v)}`)}</title></rect>`,
      );
      if (valueFmt) {
        parts.push(
          `<text class="value" style="font-size:${valueFont}px" x="${r2(x + barW / 2)}" y="${r2(yy - 4)}" text-anchor="middle">${esc(valueFmt(v))}</text>`,
        );
      }
    }
    const lx = left + (c + 0.5) * groupW;
    if (rotate) {
      parts.push(
        `<text class="cat" transform="translate(${r2(lx + 4)} ${r2(height - bottom + 14)}) rotate(-35)" text-anchor="end">${esc(o.categories[c]!)}</text>`,
      );
    } else {
      parts.push(`<text class="cat" x="${r2(lx)}" y="${r2(height - bottom + 18)}" text-anchor="middle">${esc(o.categories[c]!)}</text>`);
    }
  }
  parts.push(`<line class="axis" x1="${left}" x2="${width - right}" y1="${r2(y(0))}" y2="${r2(y(0))}"/>`);
  if (o.reference) {
    const ry = r2(y(o.reference.value));
    parts.push(`<line class="ref" x1="${left}" x2="${width - right}" y1="${ry}" y2="${ry}"/>`);
  }
  parts.push(lg.svg);
  parts.push('</svg>');
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------

export interface LineSeries {
  readonly name: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly points: readonly (readonly [number, number])[];
}

export interface LineChartOptions {
  readonly series: readonly LineSeries[];
  readonly width?: number;
  readonly height?: number;
  readonly xTitle?: string;
  readonly yTitle?: string;
  readonly yFormat?: (v: number) => string;
  readonly xFormat?: (v: number) => string;
  /** Label the last point of each series with its value. */
  readonly labelLast?: boolean;
  /** Draw point markers when a series has at most this many points (default 40). */
  readonly markersUpTo?: number;
  readonly yMin?: number;
  readonly ariaLabel: string;
  readonly title?: string;
}

export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 540;
  const height = o.height ?? 280;
  const yFmt = o.yFormat ?? ((v: number) => String(Math.round(v * 1000) / 1000));
  const xFmt = o.xFormat ?? ((v: number) => String(v));
  const pts = o.series.flatMap((s) => s.points);
  const right = o.labelLast ? 54 : 14;
  const lg = legend(
    o.series.map((s) => ({ name: s.name, color: s.color, dashed: s.dashed, shape: 'line' as const })),
    52,
    o.title ? 36 : 14,
    width - 52 - right,
  );
  const f: Frame = { width, height, left: 52, right, top: (o.title ? 52 : 34) + (lg.rows - 1) * LEGEND_ROW, bottom: 40 };
  const parts: string[] = [svgOpen(f, o.ariaLabel)];
  if (o.title) parts.push(`<text class="chart-title" x="${f.left}" y="16">${esc(o.title)}</text>`);
  if (pts.length === 0) {
    parts.push(`<text class="empty" x="${width / 2}" y="${height / 2}" text-anchor="middle">no data</text></svg>`);
    return parts.join('');
  }
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  let xLo = Math.min(...xs);
  let xHi = Math.max(...xs);
  if (xHi === xLo) {
    xLo -= 1;
    xHi += 1;
  }
  const yLoData = o.yMin ?? Math.min(...ys);
  const yHiData = Math.max(...ys);
  const pad = (yHiData - yLoData) * 0.08 || Math.abs(yHiData) * 0.1 || 1;
  const yTicks = niceTicks(o.yMin ?? yLoData - pad, yHiData + pad, 5);
  const yLo = yTicks[0]!;
  const yHi = yTicks[yTicks.length - 1]!;
  const plotW = width - f.left - f.right;
  const plotH = height - f.top - f.bottom;
  const x = (v: number): number => f.left + (plotW * (v - xLo)) / (xHi - xLo);
  const y = (v: number): number => f.top + plotH * (1 - (v - yLo) / (yHi - yLo));
  parts.push(yAxis(f, yTicks, y, yFmt, o.yTitle));
  const xTicks = niceTicks(xLo, xHi, Math.min(8, Math.max(2, Math.round(xHi - xLo)))).filter((t) => t >= xLo - 1e-9 && t <= xHi + 1e-9);
  for (const t of xTicks) {
    parts.push(`<text class="tick" x="${r2(x(t))}" y="${height - f.bottom + 16}" text-anchor="middle">${esc(xFmt(t))}</text>`);
  }
  parts.push(`<line class="axis" x1="${f.left}" x2="${width - f.right}" y1="${height - f.bottom}" y2="${height - f.bottom}"/>`);
  if (o.xTitle)
    parts.push(`<text class="axis-title" x="${r2(f.left + plotW / 2)}" y="${height - 4}" text-anchor="middle">${esc(o.xTitle)}</text>`);
  const markersUpTo = o.markersUpTo ?? 40;
  for (const s of o.series) {
    if (s.points.length === 0) continue;
    const d = s.points.map((p, i) => `${i ? 'L' : 'M'}${r2(x(p[0]))} ${r2(y(p[1]))}`).join('');
    parts.push(
      `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.2" stroke-linejoin="round" stroke-linecap="round"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    if (s.points.length <= markersUpTo) {
      for (const p of s.points) {
        parts.push(
          `<circle cx="${r2(x(p[0]))}" cy="${r2(y(p[1]))}" r="2.6" fill="${s.color}"><title>${esc(`${s.name}, ${xFmt(p[0])}: ${yFmt(p[1])}`)}</title></circle>`,
        );
      }
    }
  }
  if (o.labelLast) {
    // Last-value labels, nudged apart vertically so they do not overlap.
    const labels = o.series
      .filter((s) => s.points.length > 0)
      .map((s) => {
        const p = s.points[s.points.length - 1]!;
        return { s, x: x(p[0]), y: y(p[1]), text: yFmt(p[1]) };
      })
      .sort((a, b) => a.y - b.y);
    for (let i = 1; i < labels.length; i++) if (labels[i]!.y - labels[i - 1]!.y < 13) labels[i]!.y = labels[i - 1]!.y + 13;
    for (const l of labels) {
      parts.push(
        `<text class="value" x="${r2(l.x + 6)}" y="${r2(l.y)}" dominant-baseline="middle" fill="${l.s.color}">${esc(l.text)}</text>`,
      );
    }
  }
  parts.push(lg.svg);
  parts.push('</svg>');
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------

export interface HistogramChartOptions {
  readonly edges: readonly number[];
  readonly counts: readonly number[];
  /** Bins starting at or above the threshold are drawn as kept; a marker line shows the threshold. */
  readonly threshold?: number;
  readonly width?: number;
  readonly height?: number;
  readonly ariaLabel: string;
}

export function histogramChart(o: HistogramChartOptions): string {
  const width = o.width ?? 540;
  const height = o.height ?? 280;
  const f: Frame = { width, height, left: 56, right: 14, top: 34, bottom: 40 };
  const n = o.counts.length;
  const lo = o.edges[0] ?? 0;
  const hi = o.edges[n] ?? 1;
  const maxCount = Math.max(1, ...o.counts);
  const ticks = niceTicks(0, maxCount * 1.1, 4);
  const yMax = ticks[ticks.length - 1]!;
  const plotW = width - f.left - f.right;
  const plotH = height - f.top - f.bottom;
  const x = (v: number): number => f.left + (plotW * (v - lo)) / (hi - lo);
  const y = (v: number): number => f.top + plotH * (1 - v / yMax);
  const parts: string[] = [svgOpen(f, o.ariaLabel)];
  parts.push(yAxis(f, ticks, y, formatTick, 'images'));
  const total = o.counts.reduce((a, b) => a + b, 0);
  for (let i = 0; i < n; i++) {
    const c = o.counts[i]!;
    const x0 = x(o.edges[i]!);
    const x1 = x(o.edges[i + 1]!);
    const kept = o.threshold === undefined || o.edges[i]! >= o.threshold - 1e-12;
    const yy = y(c);
    parts.push(
      `<rect x="${r2(x0 + 0.5)}" y="${r2(yy)}" width="${r2(Math.max(0.5, x1 - x0 - 1))}" height="${r2(y(0) - yy)}" fill="${kept ? PALETTE[0] : '#c3c9d3'}"><title>${esc(
        `[${o.edges[i]!.toFixed(2)}, ${o.edges[i + 1]!.toFixed(2)}): ${c.toLocaleString('en-US')} images (${total ? ((100 * c) / total).toFixed(1) : '0'}%)`,
      )}</title></rect>`,
    );
  }
  const xt = niceTicks(lo, hi, 5);
  for (const t of xt) {
    if (t < lo - 1e-9 || t > hi + 1e-9) continue;
    parts.push(`<text class="tick" x="${r2(x(t))}" y="${height - f.bottom + 16}" text-anchor="middle">${t.toFixed(1)}</text>`);
  }
  parts.push(`<line class="axis" x1="${f.left}" x2="${width - f.right}" y1="${r2(y(0))}" y2="${r2(y(0))}"/>`);
  parts.push(
    `<text class="axis-title" x="${r2(f.left + plotW / 2)}" y="${height - 4}" text-anchor="middle">teacher confidence (top-1 probability)</text>`,
  );
  if (o.threshold !== undefined) {
    const tx = r2(x(o.threshold));
    parts.push(`<line class="threshold" x1="${tx}" x2="${tx}" y1="${f.top - 4}" y2="${r2(y(0))}"/>`);
    parts.push(`<text class="threshold-label" x="${r2(x(o.threshold) + 5)}" y="${f.top + 6}">threshold ${o.threshold.toFixed(2)}</text>`);
  }
  parts.push(
    legend(
      [
        { name: 'kept (≥ threshold)', color: PALETTE[0]! },
        { name: 'dropped (below)', color: '#c3c9d3' },
      ],
      f.left,
      14,
      width - f.left - f.right,
    ).svg,
  );
  parts.push('</svg>');
  return parts.join('');
}
