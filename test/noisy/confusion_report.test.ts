// The confusion matrix tallied from logits, per-class accuracy from it (checked against a small
// hand-built matrix), and the report's per-class table and confusion charts from those counts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { addLogits, confusionTop1, emptyConfusion, perClassAccuracy, sumConfusions } from '../../src/noisy/confusion.js';
import { renderReport } from '../../src/noisy/report.js';
import { renderSeedsReport, perClassOverSeeds } from '../../src/noisy/seeds_report.js';
import { aggregateSeeds } from '../../src/noisy/experiment.js';
import type { Summary } from '../../src/noisy/pipeline.js';
import type { NoisyStudentConfig } from '../../src/noisy/config.js';

// 3 classes, 7 images. True labels and the predicted class each row of logits argmaxes to:
//   true 0 -> 0, 0, 1      true 1 -> 1, 1      true 2 -> 0, 2
const labels = [0, 0, 0, 1, 1, 2, 2];
const predicted = [0, 0, 1, 1, 1, 0, 2];
const HAND = [
  [2, 1, 0],
  [0, 2, 0],
  [1, 0, 1],
];
function logitsFor(pred: number[]): Float32Array {
  const out = new Float32Array(pred.length * 3);
  pred.forEach((p, i) => {
    for (let c = 0; c < 3; c++) out[i * 3 + c] = c === p ? 2.5 : -1 + c * 0.1;
  });
  return out;
}

describe('confusion matrix', () => {
  it('tallies counts[true][argmax] from a batch of logits, in two batches as in one', () => {
    const one = emptyConfusion(3);
    addLogits(one, logitsFor(predicted), labels);
    assert.deepEqual(one, HAND);
    const two = emptyConfusion(3);
    addLogits(two, logitsFor(predicted.slice(0, 4)), labels.slice(0, 4));
    addLogits(two, logitsFor(predicted.slice(4)), labels.slice(4));
    assert.deepEqual(two, HAND);
  });

  it('per-class accuracy is the diagonal over the row; top-1 the diagonal over all', () => {
    const acc = perClassAccuracy({ counts: HAND });
    assert.deepEqual(acc, [2 / 3, 1, 1 / 2]);
    assert.equal(confusionTop1({ counts: HAND }), 5 / 7);
    // A class without test images has no accuracy (not 0).
    assert.deepEqual(
      perClassAccuracy({
        counts: [
          [1, 0],
          [0, 0],
        ],
      }),
      [1, null],
    );
  });

  it('sums matrices of the seeds; refuses mismatched shapes and bad labels', () => {
    assert.deepEqual(
      sumConfusions([{ counts: HAND }, { counts: HAND }]),
      HAND.map((r) => r.map((v) => 2 * v)),
    );
    assert.throws(() => sumConfusions([{ counts: HAND }, { counts: [[1]] }]), /1-class matrix beside a 3-class/);
    assert.throws(() => addLogits(emptyConfusion(3), new Float32Array(3), [3]), /label 3 outside/);
    assert.throws(() => addLogits(emptyConfusion(3), new Float32Array(4), [0]), /4 logits for 1 labels/);
  });
});

const names = ['alpha', 'beta', 'gamma'];

describe('report: per-class accuracy and confusion matrix', () => {
  it('shows each class accuracy of each model from its counts, and the matrices as SVG', async () => {
    const html = await renderReport({
      classNames: names,
      createdAt: '2025-01-01T00:00:00Z',
      generations: [{ teacher: { model: 't', top1: 5 / 7, top5: 1 }, student: { model: 's', top1: 6 / 7, top5: 1 } }],
      oracle: { model: 's', top1: 1, top5: 1 },
      confusions: [
        { model: 'teacher', counts: HAND },
        {
          model: 'student 1',
          counts: [
            [3, 0, 0],
            [0, 2, 0],
            [1, 0, 1],
          ],
        },
      ],
    });
    const section = html.slice(
      html.indexOf('<section id="per-class"'),
      html.indexOf('</section>', html.indexOf('<section id="per-class"')),
    );
    // alpha: teacher 2/3, student 3/3; beta 2/2 both; gamma 1/2 both; test images per class 3, 2, 2.
    assert.match(section, /<td>alpha<\/td><td class="num">66\.7%<\/td><td class="num">100\.0%<\/td><td class="num">3<\/td>/);
    assert.match(section, /<td>gamma<\/td><td class="num">50\.0%<\/td><td class="num">50\.0%<\/td><td class="num">2<\/td>/);
    assert.equal((section.match(/<svg/g) ?? []).length, 3, 'per-class chart + two confusion matrices');
    assert.match(section, /teacher: confusion matrix/);
    assert.match(section, /student 1: confusion matrix/);
    // The gap to the oracle: (6/7 − 5/7) / (1 − 5/7) = 50%.
    assert.match(html, /Labeled-data gap closed<\/div><div class="value">50\.0%/);
    assert.ok(!/(src|href)=["']https?:/.test(html));
  });

  it('the gap closed is undefined when the oracle does not beat the teacher', async () => {
    const html = await renderReport({
      classNames: names,
      generations: [{ teacher: { model: 't', top1: 0.8 }, student: { model: 's', top1: 0.82 } }],
      oracle: { model: 's', top1: 0.79 },
    });
    assert.match(html, /Labeled-data gap closed<\/div><div class="value">undefined/);
  });
});

describe('seeds report', () => {
  const sum = (t: number, s: number, o: number, ablation?: string): Summary => ({
    teacher: { model: 't', top1: t, top5: 1 },
    generations: [
      {
        student: { model: 's', top1: s, top5: 1 },
        pseudoLabels: { kept: 10, uniqueKept: 9, accuracy: 0.9, balancedAccuracy: 0.8, threshold: 0.3 },
      },
    ],
    ...(ablation ? { ablation } : {}),
    oracle: {
      model: 's',
      top1: o,
      top5: 1,
      budget: { steps: 1, batchSize: 1, epochs: 1, stepsPerEpoch: 1, viewLength: 1, images: 1, studentUpdates: 1, updates: 1 },
    },
    config: {} as NoisyStudentConfig,
    seconds: {},
  });
  const agg = aggregateSeeds([
    { seed: 0, dir: 'seed-0', summary: sum(0.7, 0.72, 0.8), ablations: [sum(0.7, 0.71, 0.8, 'noise')] },
    { seed: 1, dir: 'seed-1', summary: sum(0.72, 0.75, 0.82), ablations: [sum(0.72, 0.73, 0.82, 'noise')] },
  ]);

  it('per-class accuracy over seeds: mean ± sd of each seed’s per-class accuracy', () => {
    const s = perClassOverSeeds({
      model: 'teacher',
      perSeed: [
        { counts: HAND },
        {
          counts: [
            [3, 0, 0],
            [1, 1, 0],
            [1, 0, 1],
          ],
        },
        null,
      ],
    })!;
    // alpha: 2/3 and 1 -> mean 5/6, sd |1 − 2/3| / sqrt(2); beta: 1 and 1/2; gamma 1/2 twice.
    assert.ok(Math.abs(s.accuracy[0]! - 5 / 6) < 1e-12);
    assert.ok(Math.abs(s.sd![0]! - 1 / 3 / Math.SQRT2) < 1e-12);
    assert.ok(Math.abs(s.accuracy[1]! - 0.75) < 1e-12);
    assert.equal(s.sd![2], 0);
  });

  it('shows the gain as mean ± sd with each seed, the ablations side by side, error bars in SVG', async () => {
    const html = await renderSeedsReport({
      agg,
      classNames: names,
      confusions: [
        { model: 'teacher', perSeed: [{ counts: HAND }, { counts: HAND }] },
        { model: 'student 1', perSeed: [{ counts: HAND }, null] },
      ],
    });
    // Paired gains 2 and 3 pt: +2.50 ± 0.71 pt.
    assert.match(html, /Gain over the teacher<\/div><div class="value"><span class="delta-pos">\+2\.50 ± 0\.71 pt/);
    // Margins main − noise: 1 and 2 pt.
    assert.match(html, /<td>noise<\/td>.*\+1\.50 ± 0\.71 pt.*2 \/ 2/);
    // Gap closed per seed: 0.02 / 0.10 and 0.03 / 0.10.
    assert.match(html, /25\.0 ± 7\.1%/);
    assert.ok((html.match(/<svg/g) ?? []).length >= 5, 'two spread charts, per-class chart, two confusion matrices');
    assert.match(html, /± 1 pt|sample standard deviation/);
    assert.ok(!/(src|href)=["']https?:/.test(html));
  });
});
