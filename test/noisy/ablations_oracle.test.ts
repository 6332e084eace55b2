// --ablate parsing and what each variant changes; the oracle's budget (the final student's optimizer
// steps and batch size, re-cut into epochs over all the true labels) and the view it trains on.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAblations } from '../../src/noisy/ablations.js';
import { generationStudent, runConfig, resolveNoisyStudentConfig } from '../../src/noisy/config.js';
import { cycledView, oracleBudget } from '../../src/noisy/stages/oracle.js';
import type { ImageDataset } from '../../src/data/index.js';

const base = {
  labeled: { data: 'fashion-mnist', perClass: 10 },
  teacher: { model: 'tinynet_e' },
  students: ['tinynet_e', { model: 'tinynet_e', warmStart: true, dropRate: 0.3 }],
  pseudoLabel: { perClass: 20, kind: 'hard' as const },
  student: { ratio: 3, warmStart: true },
  oracle: true,
};

describe('--ablate', () => {
  it('parses the valid names in order; unknown names list the valid ones', () => {
    assert.deepEqual(
      parseAblations('noise, soft,warm-start,ratio=1').map((a) => a.name),
      ['noise', 'soft', 'warm-start', 'ratio=1'],
    );
    assert.throws(() => parseAblations('noise,mixup'), /unknown ablation "mixup"; valid: noise, soft, warm-start, ratio=N/);
    assert.throws(() => parseAblations('ratio=0'), /positive number/);
    assert.throws(() => parseAblations('ratio=x'), /positive number/);
    assert.throws(() => parseAblations('noise,noise'), /twice/);
    assert.throws(() => parseAblations(' , '), /at least one of/);
  });

  it('each variant changes its one thing, keeps the rest, and trains no oracle', () => {
    const cfg = resolveNoisyStudentConfig(base);
    const [noise, soft, warm, ratio] = parseAblations('noise,soft,warm-start,ratio=1.5').map((a) => a.apply(cfg));
    assert.equal(noise!.student.noise, false);
    assert.equal(soft!.pseudoLabel.kind, 'soft');
    assert.equal(ratio!.student.ratio, 1.5);
    for (const v of [noise!, soft!, warm!, ratio!]) {
      assert.equal(v.oracle, false);
      assert.deepEqual(v.teacher, cfg.teacher);
      assert.deepEqual(v.labeled, cfg.labeled);
      assert.equal(v.seed, cfg.seed);
    }
    // Both generations from scratch, the per-generation override included; the other overrides kept.
    assert.equal(generationStudent(cfg, 1).warmStart, true);
    assert.equal(generationStudent(warm!, 0).warmStart, false);
    assert.equal(generationStudent(warm!, 1).warmStart, false);
    assert.equal(generationStudent(warm!, 1).dropRate, 0.3);
    assert.deepEqual(soft!.student, cfg.student);
  });

  it('a variant equal to the main run is refused', () => {
    const cfg = resolveNoisyStudentConfig({
      ...base,
      students: ['tinynet_e', { model: 'tinynet_e', dropRate: 0.3 }],
      pseudoLabel: { perClass: 20, kind: 'soft' },
      student: { ratio: 1, noise: false },
    });
    assert.throws(() => parseAblations('soft')[0]!.apply(cfg), /already soft/);
    assert.throws(() => parseAblations('noise')[0]!.apply(cfg), /already train without noise/);
    assert.throws(() => parseAblations('ratio=1')[0]!.apply(cfg), /already use ratio 1/);
    assert.throws(() => parseAblations('warm-start')[0]!.apply(cfg), /no student warm-starts/);
  });

  it('runConfig reads `oracle` from the config (off by default)', () => {
    assert.equal(runConfig({ preset: 'tiny' }).oracle, false);
    assert.equal(runConfig({ preset: 'tiny', file: { oracle: true } }).oracle, true);
  });
});

describe('oracle budget', () => {
  it('the demo: the student’s 5 × ceil(40000 / 96) steps of 32 + 96 images, over all 60,000 labels', () => {
    const b = oracleBudget({ epochs: 5, batchSize: 32, ratio: 3, unlabeled: 40000, images: 60000 });
    // 417 steps per student epoch, 2085 in all, each on 128 images. 2085 = 3 · 5 · 139: the most epochs
    // that divide it with every epoch showing all 60,000 images (>= 469 steps of 128) is 3 of 695.
    assert.equal(b.steps, 2085);
    assert.equal(b.batchSize, 128);
    assert.equal(b.epochs, 3);
    assert.equal(b.stepsPerEpoch, 695);
    assert.equal(b.viewLength, 695 * 128);
    assert.equal(b.updates, b.studentUpdates);
  });

  it('keeps the student’s epochs when each already covers the images; one epoch when the budget is below one pass', () => {
    const a = oracleBudget({ epochs: 4, batchSize: 10, ratio: 2, unlabeled: 100, images: 40 });
    assert.deepEqual([a.steps, a.batchSize, a.epochs, a.stepsPerEpoch], [20, 30, 4, 5]);
    const b = oracleBudget({ epochs: 2, batchSize: 10, ratio: 1, unlabeled: 20, images: 1000 });
    assert.deepEqual([b.steps, b.batchSize, b.epochs, b.viewLength], [4, 20, 1, 80]);
    // gradAccum rounds each epoch up: 7 steps per student epoch -> 4 updates; the oracle's budget says both.
    const c = oracleBudget({ epochs: 3, batchSize: 2, ratio: 1, unlabeled: 14, images: 10, gradAccum: 2 });
    assert.equal(c.studentUpdates, 12);
    assert.throws(() => oracleBudget({ epochs: 1, batchSize: 2, ratio: 1, unlabeled: 0, images: 10 }), /no pseudo-labeled/);
  });

  it('cycles every image of the parts with its true label; a shorter view is a subset without repeats', () => {
    const part = (n: number, first: number): ImageDataset => ({
      length: n,
      classes: ['a', 'b', 'c'],
      label: (i) => (first + i) % 3,
      source: (i) => ({ kind: 'file', path: `img-${first + i}.png` }),
    });
    const parts = [part(4, 0), part(6, 4)];
    const v = cycledView(parts, 25, 7);
    assert.equal(v.length, 25);
    const seen = new Map<string, number>();
    for (let i = 0; i < v.length; i++) {
      const src = v.source(i) as { path: string };
      const id = Number(/img-(\d+)/.exec(src.path)![1]);
      assert.equal(v.label(i), id % 3, 'the true label of that image');
      seen.set(src.path, (seen.get(src.path) ?? 0) + 1);
    }
    assert.equal(seen.size, 10, 'every image of both parts');
    assert.ok([...seen.values()].every((c) => c === 2 || c === 3));
    const short = cycledView(parts, 6, 7);
    const paths = Array.from({ length: 6 }, (_, i) => (short.source(i) as { path: string }).path);
    assert.equal(new Set(paths).size, 6);
    assert.throws(() => v.label(25), /out of range/);
  });
});
