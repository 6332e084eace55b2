// filter_unlabel.py semantics against hand-worked cases: threshold edges, the grid walk, down-sampling
// (original random keep and exact top-K), up-sampling, use_all / upsample=false, empty classes,
// determinism, and pseudo-label accuracy.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  confidenceHistogram,
  filterAndBalance,
  pseudoLabelAccuracy,
  thresholdGridIndex,
  type FilterOptions,
  type FilterResult,
  type PseudoLabelRecord,
} from '../../src/noisy/filter.js';

const rec = (id: number, label: number, confidence: number): PseudoLabelRecord => ({ id, label, confidence });

function copiesById(r: FilterResult): Map<number, number> {
  const m = new Map<number, number>();
  for (const id of r.ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

describe('filterAndBalance: threshold edges', () => {
  // Class 0: id 0 at exactly 0.3, id 1 at 0.2999, id 2 at float32(0.3) = 0.30000001192..., id 3 at
  // float32(0.29999998) = 0.2999999821... With useAll the kept set is exactly the images >= 0.3.
  const records = [rec(0, 0, 0.3), rec(1, 0, 0.2999), rec(2, 0, Math.fround(0.3)), rec(3, 0, Math.fround(0.29999998))];
  const base: FilterOptions = { numClasses: 1, perClass: 100, useAll: true, seed: 1 };

  it('keeps a confidence exactly at the threshold and drops 0.2999', () => {
    const r = filterAndBalance(records, base);
    assert.deepEqual([...copiesById(r)].sort(), [
      [0, 1],
      [2, 1],
    ]);
    const s = r.stats.classes[0]!;
    assert.equal(s.assigned, 4);
    assert.equal(s.passed, 2);
    assert.equal(s.threshold, 0.3);
    assert.equal(s.action, 'keep');
    assert.deepEqual(r.stats.before, [2]);
    assert.deepEqual(r.stats.after, [2]);
  });

  it('defaults the threshold to 0.3 and snaps near-grid values (0.1 + 0.2) onto the grid', () => {
    assert.equal(filterAndBalance(records, { ...base, threshold: 0.1 + 0.2 }).stats.minThreshold, 0.3);
    assert.equal(filterAndBalance(records, base).stats.minThreshold, 0.3);
    assert.deepEqual(filterAndBalance(records, { ...base, threshold: 0.1 + 0.2 }).ids.sort(), [0, 2]);
  });

  it('rejects thresholds off the 0.01 grid or outside [0, 1]', () => {
    assert.equal(thresholdGridIndex(0.3), 30);
    assert.equal(thresholdGridIndex(0), 0);
    assert.equal(thresholdGridIndex(1), 100);
    assert.throws(() => thresholdGridIndex(0.305), RangeError);
    assert.throws(() => filterAndBalance(records, { ...base, threshold: 0.333 }), RangeError);
    assert.throws(() => filterAndBalance(records, { ...base, threshold: 1.5 }), RangeError);
  });

  it('threshold 0 keeps everything, threshold 1 keeps only confidence >= 1', () => {
    assert.equal(filterAndBalance(records, { ...base, threshold: 0 }).ids.length, 4);
    const r = filterAndBalance([...records, rec(9, 0, 1)], { ...base, threshold: 1 });
    assert.deepEqual(r.ids, [9]);
  });

  it('validates records', () => {
    assert.throws(() => filterAndBalance([rec(0, 1, 0.5)], { ...base }), /label 1/);
    assert.throws(() => filterAndBalance([rec(0, 0, 0.5), rec(0, 0, 0.6)], base), /duplicate/);
    assert.throws(() => filterAndBalance([rec(0, 0, Number.NaN)], base), /confidence/);
    assert.throws(() => filterAndBalance([], { ...base, perClass: 0 }), RangeError);
  });
});

describe('filterAndBalance: down-sampling', () => {
  // Class 0, K = 4, confidences (id): 0.95 (0), 0.95 (1), 0.91 (2), 0.87 (7), 0.87 (3), 0.6 (4),
  // 0.5 (5), 0.45 (6), 0.31 (8), 0.2 (9).
  // Grid walk from 1.00 down: cumulative count >= i/100 is 0 for i = 100..96, 2 at 0.95..0.92,
  // 3 at 0.91..0.88, 5 at 0.87 >= K = 4: the class threshold is 0.87 and total = 5.
  // Original mode: each of the 5 images at/above 0.87 is kept with probability 4/5 (expected 4);
  // the images at 0.6 and below can never be kept. 9 images pass 0.3 (before = 9).
  const records = [
    rec(0, 0, 0.95),
    rec(1, 0, 0.95),
    rec(2, 0, 0.91),
    rec(7, 0, 0.87),
    rec(3, 0, 0.87),
    rec(4, 0, 0.6),
    rec(5, 0, 0.5),
    rec(6, 0, 0.45),
    rec(8, 0, 0.31),
    rec(9, 0, 0.2),
  ];
  const top = new Set([0, 1, 2, 3, 7]);

  it('selects the grid threshold 0.87 with total 5', () => {
    const r = filterAndBalance(records, { numClasses: 1, perClass: 4, seed: 0 });
    const s = r.stats.classes[0]!;
    assert.equal(s.threshold, 0.87);
    assert.equal(s.candidates, 5);
    assert.equal(s.passed, 9);
    assert.equal(s.action, 'downsample');
    assert.deepEqual(r.stats.thresholds, [0.87]);
  });

  it('original mode: only images at/above 0.87, once each, about K on average over seeds', () => {
    const kept: number[] = [];
    const hits = new Map<number, number>();
    const seeds = 2000;
    for (let seed = 0; seed < seeds; seed++) {
      const r = filterAndBalance(records, { numClasses: 1, perClass: 4, seed });
      for (const [id, c] of copiesById(r)) {
        assert.ok(top.has(id), `id ${id} below the class threshold was kept`);
        assert.equal(c, 1);
        hits.set(id, (hits.get(id) ?? 0) + 1);
      }
      assert.equal(r.stats.kept, r.ids.length);
      assert.equal(r.stats.uniqueKept, r.ids.length);
      kept.push(r.ids.length);
    }
    // Binomial(5, 0.8): mean 4, sd 0.894 per draw, so the mean of 2000 draws has sd 0.02.
    assert.ok(Math.abs(mean(kept) - 4) < 0.08, `mean kept ${mean(kept)}`);
    for (const id of top) assert.ok(Math.abs(hits.get(id)! / seeds - 0.8) < 0.04, `id ${id} kept ${hits.get(id)}/${seeds}`);
  });

  it('exact-topk keeps exactly K, the most confident, ties broken by smaller id', () => {
    for (const seed of [0, 1, 2]) {
      const r = filterAndBalance(records, { numClasses: 1, perClass: 4, seed, downsample: 'exact-topk' });
      // 0.95 (0), 0.95 (1), 0.91 (2), then of the two 0.87 images the one with id 3 (not 7).
      assert.deepEqual(
        [...r.ids].sort((a, b) => a - b),
        [0, 1, 2, 3],
      );
      assert.equal(r.stats.classes[0]!.lowestKeptConfidence, 0.87);
      assert.equal(r.stats.classes[0]!.threshold, 0.87);
    }
  });

  it('a larger class: ~K in expectation, never below the computed threshold', () => {
    // Two images in every 0.01 bin: confidence (j + 0.5) / 100 for j = 0..99 (200 images).
    // From 1.00 down the cumulative count at i/100 (i <= 99) is 2 * (100 - i); the first i with
    // 2 * (100 - i) >= 25 is i = 87 (26 images). Keep probability 25/26, expected kept 25.
    const many: PseudoLabelRecord[] = [];
    for (let j = 0; j < 100; j++) for (let t = 0; t < 2; t++) many.push(rec(2 * j + t, 0, (j + 0.5) / 100));
    const kept: number[] = [];
    for (let seed = 0; seed < 500; seed++) {
      const r = filterAndBalance(many, { numClasses: 1, perClass: 25, seed });
      const s = r.stats.classes[0]!;
      assert.equal(s.threshold, 0.87);
      assert.equal(s.candidates, 26);
      assert.equal(s.passed, 140); // bins 30..99
      for (const e of r.entries) assert.ok(e.confidence >= 0.87);
      kept.push(r.ids.length);
    }
    // Binomial(26, 25/26): sd 0.98 per draw, 0.044 for the mean of 500.
    assert.ok(Math.abs(mean(kept) - 25) < 0.15, `mean kept ${mean(kept)}`);
    const exact = filterAndBalance(many, { numClasses: 1, perClass: 25, seed: 0, downsample: 'exact-topk' });
    assert.equal(exact.ids.length, 25);
    assert.equal(Math.min(...exact.entries.map((e) => e.confidence)), 0.875); // 12 full bins (0.875..0.995) + 1
  });

  it('a class with exactly K images keeps each once (no randomness)', () => {
    const r = filterAndBalance(records.slice(0, 4), { numClasses: 1, perClass: 4, seed: 3 });
    assert.equal(r.stats.classes[0]!.action, 'keep');
    assert.deepEqual(
      [...r.ids].sort((a, b) => a - b),
      [0, 1, 2, 7],
    );
  });
});

describe('filterAndBalance: up-sampling', () => {
  // 3 images, K = 10: factor 10/3 = 3.333..., so each image gets int(10/3) = 3 copies plus one more
  // with probability 1/3. Totals lie in [9, 12]; the expectation is 9 + 3 * (1/3) = 10.
  const three = [rec(10, 0, 0.9), rec(11, 0, 0.5), rec(12, 0, 0.4)];

  it('duplicates each image 3 or 4 times, 10 on average', () => {
    const totals: number[] = [];
    for (let seed = 0; seed < 3000; seed++) {
      const r = filterAndBalance(three, { numClasses: 1, perClass: 10, seed });
      const c = copiesById(r);
      assert.equal(c.size, 3);
      for (const n of c.values()) assert.ok(n === 3 || n === 4);
      assert.ok(r.ids.length >= 9 && r.ids.length <= 12);
      assert.equal(r.stats.classes[0]!.action, 'upsample');
      assert.equal(r.stats.classes[0]!.threshold, 0.3);
      assert.equal(r.stats.uniqueKept, 3);
      totals.push(r.ids.length);
    }
    // sd of one total: sqrt(3 * 1/3 * 2/3) = 0.816; of the mean of 3000: 0.015.
    assert.ok(Math.abs(mean(totals) - 10) < 0.06, `mean total ${mean(totals)}`);
    assert.ok(totals.includes(9) && totals.includes(12));
  });

  it("upsampleRounding 'exact' gives exactly K: the extra copy goes to the most confident", () => {
    const r = filterAndBalance(three, { numClasses: 1, perClass: 10, seed: 0, upsampleRounding: 'exact' });
    assert.deepEqual([...copiesById(r)].sort(), [
      [10, 4],
      [11, 3],
      [12, 3],
    ]);
    assert.equal(r.stats.kept, 10);
  });

  it('upsample=false keeps each image once; down-sampling still applies', () => {
    const r = filterAndBalance(three, { numClasses: 1, perClass: 10, seed: 0, upsample: false });
    assert.deepEqual(
      [...r.ids].sort((a, b) => a - b),
      [10, 11, 12],
    );
    const down = filterAndBalance(three, { numClasses: 1, perClass: 1, seed: 0, upsample: false, downsample: 'exact-topk' });
    assert.deepEqual(down.ids, [10]);
  });
});

describe('filterAndBalance: useAll, empty classes, several classes, determinism', () => {
  // Class 0: 5 images (4 >= 0.3); class 1: 1 image at 0.95; class 2: none; class 3: two below 0.3.
  const records = [
    rec(0, 0, 0.99),
    rec(1, 0, 0.8),
    rec(2, 0, 0.7),
    rec(3, 0, 0.35),
    rec(4, 0, 0.1),
    rec(5, 1, 0.95),
    rec(6, 3, 0.29),
    rec(7, 3, 0.05),
  ];

  it('useAll keeps every image >= threshold exactly once, whatever K', () => {
    const r = filterAndBalance(records, { numClasses: 4, perClass: 2, seed: 0, useAll: true });
    assert.deepEqual(
      [...r.ids].sort((a, b) => a - b),
      [0, 1, 2, 3, 5],
    );
    assert.deepEqual(r.stats.thresholds, [0.3, 0.3, 0.3, 0.3]);
    assert.deepEqual(r.stats.after, [4, 1, 0, 0]);
  });

  it('empty classes report zeros and the minimum threshold', () => {
    // K = 3, exact modes: class 0 has 4 >= 0.3; walk: 1 at 0.99..0.81, 2 at 0.80..0.71, 3 at 0.70
    // >= K, so its threshold is 0.7 and it keeps ids 0, 1, 2. Class 1: one image, 3 copies.
    const r = filterAndBalance(records, { numClasses: 4, perClass: 3, seed: 0, downsample: 'exact-topk', upsampleRounding: 'exact' });
    const [c0, c1, c2, c3] = r.stats.classes;
    assert.deepEqual(
      [c0!.threshold, c0!.candidates, c0!.kept, c0!.action],
      [0.7, 3, 3, 'keep'], // total == K exactly: each once
    );
    assert.deepEqual([c1!.threshold, c1!.candidates, c1!.kept, c1!.uniqueKept, c1!.action], [0.3, 1, 3, 1, 'upsample']);
    assert.deepEqual([c2!.assigned, c2!.passed, c2!.kept, c2!.threshold, c2!.action], [0, 0, 0, 0.3, 'empty']);
    assert.deepEqual([c3!.assigned, c3!.passed, c3!.kept, c3!.lowestKeptConfidence, c3!.action], [2, 0, 0, null, 'empty']);
    assert.deepEqual(r.stats.before, [4, 1, 0, 0]);
    assert.deepEqual(r.stats.after, [3, 3, 0, 0]);
    assert.equal(r.stats.images, 8);
    assert.equal(r.stats.passed, 5);
    assert.equal(r.stats.kept, 6);
    assert.equal(r.stats.uniqueKept, 4);
    assert.deepEqual(
      r.entries.map((e) => [e.id, e.label, e.copies]),
      [
        [0, 0, 1],
        [1, 0, 1],
        [2, 0, 1],
        [5, 1, 3],
      ],
    );
  });

  it('no records at all', () => {
    const r = filterAndBalance([], { numClasses: 2, perClass: 5, seed: 0 });
    assert.deepEqual(r.ids, []);
    assert.deepEqual(r.stats.after, [0, 0]);
  });

  it('is deterministic by seed; the ids are a shuffle of the entries', () => {
    const many: PseudoLabelRecord[] = [];
    for (let i = 0; i < 300; i++) many.push(rec(i, i % 3, 0.3 + ((i * 37) % 70) / 100));
    const opts: FilterOptions = { numClasses: 3, perClass: 60, seed: 42 };
    const a = filterAndBalance(many, opts);
    const b = filterAndBalance([...many].reverse(), opts); // input order does not matter
    assert.deepEqual(a, b);
    const c = filterAndBalance(many, { ...opts, seed: 43 });
    assert.notDeepEqual(a.ids, c.ids);
    const expanded = a.entries.flatMap((e) => Array<number>(e.copies).fill(e.id)).sort((x, y) => x - y);
    assert.deepEqual(
      [...a.ids].sort((x, y) => x - y),
      expanded,
    );
    assert.notDeepEqual(a.ids, expanded); // shuffled, not sorted
  });

  it("a class's selection does not depend on the other classes", () => {
    const cls0 = [rec(0, 0, 0.9), rec(1, 0, 0.8), rec(2, 0, 0.7), rec(3, 0, 0.6), rec(4, 0, 0.5)];
    const other = [rec(10, 1, 0.9), rec(11, 1, 0.4)];
    const a = filterAndBalance(cls0, { numClasses: 2, perClass: 3, seed: 7 });
    const b = filterAndBalance([...cls0, ...other], { numClasses: 2, perClass: 3, seed: 7 });
    assert.deepEqual(
      a.entries,
      b.entries.filter((e) => e.label === 0),
    );
  });
});

describe('pseudoLabelAccuracy', () => {
  it('overall, passed, balanced (copies counted) and unique', () => {
    // id: label / true / confidence
    // 0: 0 / 0 / 0.9  correct     1: 0 / 1 / 0.2 wrong (below 0.3)
    // 2: 1 / 1 / 0.8  correct     3: 1 / 1 / 0.7 correct      4: 1 / 0 / 0.6 wrong
    // 5: 1 / ? / 0.9  unknown true label
    // Overall 3/5; passed (>= 0.3) 3/4.
    // K = 4: class 0 has one image >= 0.3, factor 4/1 = 4 -> id 0 x4. Class 1 has 4 images (ids 5, 2,
    // 3, 4 by confidence); the walk reaches 4 at 0.60 = K, factor 1 -> each once.
    // Balanced: id 0 x4 (4 correct), ids 2 and 3 correct, id 4 wrong, id 5 unknown (skipped): 6/7.
    // Unique: ids 0, 2, 3 correct, 4 wrong: 3/4.
    const records = [rec(0, 0, 0.9), rec(1, 0, 0.2), rec(2, 1, 0.8), rec(3, 1, 0.7), rec(4, 1, 0.6), rec(5, 1, 0.9)];
    const truth = new Map([
      [0, 0],
      [1, 1],
      [2, 1],
      [3, 1],
      [4, 0],
    ]);
    const result = filterAndBalance(records, { numClasses: 2, perClass: 4, seed: 0, upsampleRounding: 'exact' });
    assert.deepEqual(result.stats.after, [4, 4]);
    const a = pseudoLabelAccuracy(records, truth, result);
    assert.deepEqual(a.overall, { correct: 3, total: 5, accuracy: 0.6 });
    assert.deepEqual(a.passed, { correct: 3, total: 4, accuracy: 0.75 });
    assert.deepEqual(a.balanced, { correct: 6, total: 7, accuracy: 6 / 7 });
    assert.deepEqual(a.balancedUnique, { correct: 3, total: 4, accuracy: 0.75 });
    assert.equal(a.unknown, 1);
    // Without a filter result: overall only. Array lookup by id, negative = unknown.
    const b = pseudoLabelAccuracy(records, [0, 1, 1, 1, 0, -1]);
    assert.deepEqual(b, { overall: { correct: 3, total: 5, accuracy: 0.6 }, unknown: 1 });
    assert.equal(pseudoLabelAccuracy([], []).overall.accuracy, null);
  });

  it('duplicates count once per copy', () => {
    // 1 image of class 0 (correct), K = 10 exact: 10 copies; 10 images of class 1, one wrong: kept
    // once each. Balanced: 10 + 9 correct of 20; unique: 1 + 9 of 11.
    const records = [rec(0, 0, 0.9)];
    const truth = [0];
    for (let i = 1; i <= 10; i++) {
      records.push(rec(i, 1, 0.5 + i / 100));
      truth.push(i === 1 ? 0 : 1);
    }
    const result = filterAndBalance(records, { numClasses: 2, perClass: 10, seed: 0, upsampleRounding: 'exact' });
    const a = pseudoLabelAccuracy(records, truth, result);
    assert.deepEqual(a.balanced, { correct: 19, total: 20, accuracy: 0.95 });
    assert.deepEqual(a.balancedUnique, { correct: 10, total: 11, accuracy: 10 / 11 });
  });
});

describe('confidenceHistogram', () => {
  it('puts edge values in the bin that starts there', () => {
    const h = confidenceHistogram([0, 0.3, 0.2999, 0.35, 1, 0.999, 1.2, -0.1], { bins: 20 });
    assert.equal(h.edges.length, 21);
    assert.equal(h.edges[6], 0.3);
    const expected = new Array<number>(20).fill(0);
    expected[0] = 2; // 0 and -0.1 (clamped)
    expected[5] = 1; // 0.2999
    expected[6] = 1; // 0.3
    expected[7] = 1; // 0.35
    expected[19] = 3; // 0.999, 1 and 1.2 (clamped)
    assert.deepEqual(h.counts, expected);
    const fromRecords = confidenceHistogram([rec(0, 0, 0.3), rec(1, 0, 0.29)], { bins: 100 });
    assert.equal(fromRecords.counts[30], 1);
    assert.equal(fromRecords.counts[29], 1);
  });
});
