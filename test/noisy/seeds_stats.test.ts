// The seed statistics: mean ± sample sd, paired same-seed differences, the fraction of the gap to
// the oracle closed (undefined when the oracle does not beat the teacher), and seeds.json's figures
// built from hand-made per-seed summaries (expected values worked out by hand below).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gapClosed, pairedSpread, spread, formatSpread } from '../../src/noisy/stats.js';
import { aggregateSeeds, parseSeeds, type SeedRun } from '../../src/noisy/experiment.js';
import type { Summary } from '../../src/noisy/pipeline.js';
import type { NoisyStudentConfig } from '../../src/noisy/config.js';

const close = (a: number, b: number, eps = 1e-12): void => assert.ok(Math.abs(a - b) < eps, `${a} vs ${b}`);

describe('seed statistics', () => {
  it('spread: the mean and the sample (n − 1) standard deviation', () => {
    const s = spread([0.7, 0.8, 0.9]);
    close(s.mean, 0.8);
    // Deviations ±0.1 and 0: sum of squares 0.02 over n − 1 = 2 -> sd 0.1 (the population sd would be 0.0816).
    close(s.sd!, 0.1);
    assert.equal(s.n, 3);
    close(s.min, 0.7);
    close(s.max, 0.9);
    assert.equal(spread([0.5]).sd, null);
    assert.throws(() => spread([]), /no values/);
    assert.throws(() => spread([1, NaN]), /finite/);
  });

  it('pairedSpread: the spread of same-seed differences, not of two means', () => {
    // A seed effect shared by both sides (0.70/0.80/0.90) cancels in the pairs: every difference is 0.02.
    const p = pairedSpread([0.72, 0.82, 0.92], [0.7, 0.8, 0.9]);
    close(p.mean, 0.02);
    close(p.sd!, 0);
    assert.throws(() => pairedSpread([1, 2], [1]), /paired/);
  });

  it('gapClosed: (student − teacher) / (oracle − teacher); undefined without a gap', () => {
    close(gapClosed(0.79, 0.77, 0.85)!, 0.25);
    close(gapClosed(0.76, 0.77, 0.85)!, -0.125);
    assert.equal(gapClosed(0.8, 0.77, 0.77), null);
    assert.equal(gapClosed(0.8, 0.77, 0.7), null);
  });

  it('formatSpread: a point ± sd, never a bare number', () => {
    assert.equal(formatSpread(spread([0.01, 0.02, 0.03]), { unit: ' pt', sign: true }), '+2.00 ± 1.00 pt');
    assert.equal(formatSpread(spread([0.5]), { unit: '%' }), '50.00% (n = 1)');
  });

  it('parseSeeds', () => {
    assert.deepEqual(parseSeeds('0,1, 2'), [0, 1, 2]);
    assert.throws(() => parseSeeds('0,x'), /not a non-negative integer/);
    assert.throws(() => parseSeeds('1,1'), /twice/);
    assert.throws(() => parseSeeds('-1'), /not a non-negative integer/);
  });
});

function summary(teacher: number, students: number[], oracle: number | null, ablation?: string): Summary {
  return {
    teacher: { model: 'tinynet_e', top1: teacher, top5: teacher + 0.1 },
    generations: students.map((s, i) => ({
      student: { model: 'tinynet_e', top1: s, top5: s + 0.1 },
      pseudoLabels: { kept: 100 + i, uniqueKept: 90, accuracy: 0.8 + i / 100, balancedAccuracy: 0.7, threshold: 0.3 },
    })),
    ...(oracle !== null
      ? {
          oracle: {
            model: 'tinynet_e',
            top1: oracle,
            top5: oracle + 0.05,
            budget: { steps: 1, batchSize: 1, epochs: 1, stepsPerEpoch: 1, viewLength: 1, images: 1, studentUpdates: 1, updates: 1 },
          },
        }
      : {}),
    ...(ablation ? { ablation } : {}),
    config: {} as NoisyStudentConfig,
    seconds: {},
  };
}

describe('aggregateSeeds (seeds.json)', () => {
  // Three seeds: teacher, student 1, student 2, oracle, and a no-noise variant's final student.
  const table = [
    { seed: 0, t: 0.76, s: [0.77, 0.78], o: 0.86, nn: 0.775 },
    { seed: 1, t: 0.78, s: [0.79, 0.8], o: 0.88, nn: 0.79 },
    { seed: 2, t: 0.77, s: [0.78, 0.8], o: 0.77, nn: 0.77 },
  ];
  const runs: SeedRun[] = table.map((r) => ({
    seed: r.seed,
    dir: `seed-${r.seed}`,
    summary: summary(r.t, r.s, r.o),
    ablations: [summary(r.t, [r.s[0]!, r.nn], null, 'noise')],
  }));
  const agg = aggregateSeeds(runs);

  it('per seed: gains, gap closed (undefined where the oracle ties the teacher), ablation margins', () => {
    assert.deepEqual(agg.seeds, [0, 1, 2]);
    close(agg.runs[0]!.gain, 0.02);
    close(agg.runs[0]!.generations[1]!.gainVsTeacher, 0.01);
    close(agg.runs[0]!.gapClosed!, 0.2); // 0.02 / 0.10
    close(agg.runs[1]!.gapClosed!, 0.2);
    assert.equal(agg.runs[2]!.gapClosed, null); // the oracle 0.77 does not beat the teacher 0.77
    close(agg.runs[0]!.ablations['noise']!.margin, 0.005);
    close(agg.runs[2]!.ablations['noise']!.margin, 0.03);
  });

  it('mean ± sample sd of every figure; gains and margins paired by seed', () => {
    const m = agg.mean;
    close(m.teacher.top1.mean, 0.77);
    close(m.teacher.top1.sd!, 0.01);
    close(m.generations[1]!.student.top1.mean, (0.78 + 0.8 + 0.8) / 3);
    // Final gains 0.02, 0.02, 0.03: mean 0.02333, sd sqrt(((−1/300)² · 2 + (2/300)²) / 2) = 0.005774.
    close(m.gain.mean, 0.07 / 3);
    close(m.gain.sd!, Math.sqrt(((1 / 300) ** 2 * 2 + (2 / 300) ** 2) / 2));
    close(m.generations[0]!.gain.mean, 0.01);
    close(m.generations[0]!.gain.sd!, 0);
    close(m.generations[1]!.pseudoLabels.kept.mean, 101);
    close(m.generations[1]!.pseudoLabels.accuracy!.mean, 0.81);
    // Oracle − teacher: 0.10, 0.10, 0.00.
    close(m.oracle!.gap.mean, 0.2 / 3);
    // Gap closed over the seeds where defined (0.2, 0.2), and from the means.
    close(m.gapClosed!.perSeed!.mean, 0.2);
    assert.equal(m.gapClosed!.perSeed!.n, 2);
    assert.deepEqual(m.gapClosed!.undefinedSeeds, [2]);
    close(m.gapClosed!.ofMeans!, (0.79333333333333333 - 0.77) / (0.83666666666666667 - 0.77), 1e-9);
    // Margins 0.005, 0.01, 0.03: the main student wins on all three.
    const a = m.ablations[0]!;
    assert.equal(a.name, 'noise');
    close(a.margin.mean, 0.045 / 3);
    assert.equal(a.mainWins, 3);
    close(a.top1.mean, (0.775 + 0.79 + 0.77) / 3);
  });

  it('refuses runs that do not line up', () => {
    assert.throws(() => aggregateSeeds([]), /no runs/);
    assert.throws(() => aggregateSeeds([runs[0]!, { ...runs[1]!, summary: summary(0.7, [0.71], null) }]), /generations/);
    assert.throws(() => aggregateSeeds([runs[0]!, { ...runs[1]!, ablations: [] }]), /no finished ablation noise/);
  });

  it('no oracle: no ceiling and no gap figures', () => {
    const a = aggregateSeeds(runs.map((r) => ({ ...r, summary: summary(r.summary.teacher.top1, [0.8], null) })));
    assert.equal(a.mean.oracle, null);
    assert.equal(a.mean.gapClosed, null);
    assert.equal(a.runs[0]!.gapClosed, null);
  });
});
