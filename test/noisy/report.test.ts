// report.html: written atomically, self-contained (no network references), with the SVG charts,
// one data-URI <img> per sample and the values it was given.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { confidenceHistogram } from '../../src/noisy/filter.js';
import { renderReport, writeReport, type ReportData, type ReportSample } from '../../src/noisy/report.js';
import { niceTicks } from '../../src/noisy/report_charts.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-report-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function gradient(w: number, h: number, channels: 1 | 3, k: number): ReportSample['image'] {
  const data = new Uint8Array(w * h * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * k) & 255;
  return { width: w, height: h, channels, data };
}

const classNames = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle <boot>'];

function data(nSamples: number): ReportData {
  const samples: ReportSample[] = [];
  for (let i = 0; i < nSamples; i++) {
    samples.push({
      image: i === 0 ? gradient(300, 200, 3, 7) : gradient(28, 28, 1, i + 1),
      pseudoLabel: i % 10,
      confidence: 0.3 + i / 40,
      trueLabel: i % 4 === 0 ? (i + 1) % 10 : i % 10,
    });
  }
  const confidences = Array.from({ length: 500 }, (_, i) => (i % 100) / 100);
  return {
    title: 'Test run',
    createdAt: '2025-01-02T03:04:05.000Z',
    classNames,
    generations: [
      {
        teacher: { model: 'tinynet_e', top1: 0.7901, top5: 0.9851 },
        student: { model: 'tinynet_e', top1: 0.8081, top5: 0.9877 },
        noNoise: { model: 'tinynet_e', top1: 0.7983 },
        pseudoLabels: {
          images: 59000,
          kept: 40012,
          uniqueKept: 39488,
          threshold: 0.3,
          perClass: 4000,
          accuracy: 0.8003,
          balancedAccuracy: 0.8804,
        },
        histogram: confidenceHistogram(confidences, { bins: 20 }),
        classCounts: {
          before: [5291, 6210, 4657, 5355, 4549, 5941, 3470, 5776, 6044, 6050],
          after: [3996, 4007, 4000, 4001, 4002, 4005, 4053, 4003, 3998, 4000],
        },
      },
      {
        teacher: { model: 'tinynet_e', top1: 0.8081, top5: 0.9877 },
        student: { model: 'tinynet_d', top1: 0.8312, top5: 0.9902 },
      },
    ],
    curves: [
      {
        name: 'teacher',
        model: 'tinynet_e',
        metrics: Array.from({ length: 5 }, (_, e) => ({ epoch: e + 1, loss: 2 - e * 0.3, top1: 0.5 + e * 0.07 })),
      },
      { name: 'student 1', metrics: [{ epoch: 1, loss: 1.9, evalLoss: 1.7, top1: 0.6 }] },
    ],
    samples,
    timings: [{ stage: 'teacher', seconds: 125 }],
    config: { preset: 'fashion-mnist', hub: 'https://huggingface.co' },
  };
}

describe('writeReport', () => {
  it('writes a self-contained report.html with charts, images and values', async () => {
    const path = join(dir, 'run', 'report.html');
    await writeReport(path, data(10));
    const html = readFileSync(path, 'utf8');
    assert.ok(html.startsWith('<!doctype html>'));
    // No temp file left behind (atomic write).
    assert.deepEqual(readdirSync(join(dir, 'run')), ['report.html']);
    // Self-contained: no src/href to the network, no external stylesheets or scripts.
    assert.doesNotMatch(html, /(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
    assert.doesNotMatch(html, /<link\b|<script\b|@import|url\(/i);
    // Charts: accuracy, loss, top-1, histogram, class counts.
    const svgs = html.match(/<svg\b/g) ?? [];
    assert.equal(svgs.length, 5);
    assert.match(html, /aria-label="Accuracy per generation"/);
    assert.match(html, /aria-label="Confidence histogram, generation 1"/);
    assert.match(html, /aria-label="Per-class counts before and after balancing"/);
    // One data-URI PNG per sample, each a decodable PNG.
    const imgs = [...html.matchAll(/<img\b[^>]*src="data:image\/png;base64,([A-Za-z0-9+/=]+)"/g)];
    assert.equal(imgs.length, 10);
    assert.equal((html.match(/<img\b/g) ?? []).length, 10);
    const meta0 = await sharp(Buffer.from(imgs[0]![1]!, 'base64')).metadata();
    assert.equal(meta0.format, 'png');
    assert.deepEqual([meta0.width, meta0.height], [128, 85]); // 300x200 downscaled to fit 128
    const meta1 = await sharp(Buffer.from(imgs[1]![1]!, 'base64')).metadata();
    assert.deepEqual([meta1.width, meta1.height, meta1.channels], [28, 28, 1]); // small images stay native
    // Values: accuracies, deltas, pseudo-label stats, class names (escaped), sample confidences.
    for (const s of ['79.0%', '80.8%', '83.1%', '98.5%', '79.01%', '80.81%', '+1.8 pt', '+4.1 pt', '40.0k', '39.5k', '80.0%', '88.0%']) {
      assert.ok(html.includes(s), `missing ${s}`);
    }
    assert.ok(html.includes('threshold 0.30'));
    assert.ok(html.includes('K = 4,000'));
    assert.ok(html.includes('Ankle &lt;boot&gt;'));
    assert.ok(!html.includes('Ankle <boot>'));
    assert.ok(html.includes('✗ true: Trouser')); // sample 0: pseudo T-shirt/top, true Trouser
    assert.match(html, /7 of 10 shown with a known true label are correct/);
    assert.ok(html.includes('2.1 min'));
    assert.ok(html.includes('tinynet_d'));
  });

  it('renders partial data (no curves, histograms or samples) and escapes everything', async () => {
    const html = await renderReport({
      classNames: ['a'],
      generations: [{ teacher: { model: '<b>t</b>', top1: 0.5 }, student: { model: 's', top1: 0.25 } }],
    });
    assert.ok(html.includes('&lt;b&gt;t&lt;/b&gt;'));
    assert.ok(html.includes('−25.0 pt'));
    assert.equal((html.match(/<svg\b/g) ?? []).length, 1);
    assert.equal((html.match(/<img\b/g) ?? []).length, 0);
    const empty = await renderReport({ classNames: [], generations: [] });
    assert.match(empty, /<\/html>\n$/);
  });

  it('many classes switch the class-count chart to sorted lines', async () => {
    const n = 200;
    const before = Array.from({ length: n }, (_, i) => 1000 - i * 3);
    const html = await renderReport({
      classNames: [],
      generations: [
        {
          teacher: { model: 't', top1: 0.7 },
          student: { model: 's', top1: 0.72 },
          pseudoLabels: { kept: 100, threshold: 0.3, perClass: 500 },
          classCounts: { before, after: before.map(() => 500) },
        },
      ],
    });
    assert.match(html, /classes, sorted by count before balancing/);
  });

  it('nice ticks', () => {
    assert.deepEqual(niceTicks(0, 100, 5), [0, 20, 40, 60, 80, 100]);
    assert.deepEqual(niceTicks(0, 6800, 4), [0, 2000, 4000, 6000, 8000]);
    assert.deepEqual(niceTicks(0.37, 0.83, 5), [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]);
  });
});
