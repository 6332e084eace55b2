// The batch-ratio sampler: shapes, ratio, once-per-epoch coverage of both streams, determinism,
// seek/resume equality.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RatioSampler, type RatioBatch } from '../../src/train/ratio_sampler.js';

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);
const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

function take(s: RatioSampler, n: number): RatioBatch[] {
  const out: RatioBatch[] = [];
  for (let i = 0; i < n; i++) out.push(s.next());
  return out;
}

describe('RatioSampler', () => {
  // L = 10 labeled (ids 1000..1009), U = 25 unlabeled entries (ids 0..19, ids 0..4 twice: repeats
  // from up-sampling), B = 4, r = 3 -> 12 unlabeled per step, ceil(25 / 12) = 3 steps per epoch,
  // 3 * 12 - 25 = 11 padding entries in the last batch of each epoch.
  const labeled = range(10, 1000);
  const unlabeled = [...range(20), ...range(5)];
  const make = (seed = 5): RatioSampler => new RatioSampler({ labeled, unlabeled, batchSize: 4, ratio: 3, seed });

  it('batch shapes and ratio', () => {
    const s = make();
    assert.equal(s.unlabeledBatchSize, 12);
    assert.equal(s.stepsPerEpoch, 3);
    assert.equal(s.padPerEpoch, 11);
    for (const b of take(s, 10)) {
      assert.equal(b.labeled.length, 4);
      assert.equal(b.unlabeled.length, 12);
      for (const i of b.labeled) assert.ok(labeled.includes(i));
      for (const i of b.unlabeled) assert.ok(unlabeled.includes(i));
    }
    const d = new RatioSampler({ labeled, unlabeled, batchSize: 4, seed: 0 });
    assert.equal(d.ratio, 3);
    assert.equal(d.next().unlabeled.length, 12);
    const half = new RatioSampler({ labeled, unlabeled, batchSize: 4, ratio: 0.5, seed: 0 });
    assert.equal(half.next().unlabeled.length, 2);
    assert.throws(() => new RatioSampler({ labeled, unlabeled, batchSize: 3, ratio: 0.5, seed: 0 }), RangeError);
    assert.throws(() => new RatioSampler({ labeled, unlabeled: [], batchSize: 3, seed: 0 }), /empty/);
  });

  it('positions advance through epochs', () => {
    const s = make();
    const pos = take(s, 7).map((b) => [b.epoch, b.step]);
    assert.deepEqual(pos, [
      [0, 0],
      [0, 1],
      [0, 2],
      [1, 0],
      [1, 1],
      [1, 2],
      [2, 0],
    ]);
    assert.deepEqual(s.position(), { epoch: 2, step: 1 });
  });

  it('every unlabeled entry appears once per epoch (before the padding), labeled once per pass', () => {
    const s = new RatioSampler({ labeled, unlabeled, batchSize: 4, ratio: 3, seed: 9 });
    const allLabeled: number[] = [];
    for (let epoch = 0; epoch < 6; epoch++) {
      const stream = [...s.restOfEpoch()].flatMap((b) => b.unlabeled);
      assert.equal(stream.length, 36);
      assert.deepEqual(sorted(stream.slice(0, 25)), sorted(unlabeled));
      // Padding: 11 entries from one more permutation, so no entry more than once within it.
      const pad = stream.slice(25);
      assert.equal(pad.length, 11);
      const counts = new Map<number, number>();
      for (const id of pad) counts.set(id, (counts.get(id) ?? 0) + 1);
      for (const [id, c] of counts) assert.ok(c <= (id < 5 ? 2 : 1));
    }
    // Labeled: 6 epochs * 3 steps * 4 = 72 = 7 full passes of 10 plus 2.
    const s2 = new RatioSampler({ labeled, unlabeled, batchSize: 4, ratio: 3, seed: 9 });
    for (const b of take(s2, 18)) allLabeled.push(...b.labeled);
    for (let p = 0; p < 7; p++) assert.deepEqual(sorted(allLabeled.slice(p * 10, p * 10 + 10)), labeled);
    // Passes are reshuffled: not all 7 the same order.
    const orders = new Set(range(7).map((p) => allLabeled.slice(p * 10, p * 10 + 10).join(',')));
    assert.ok(orders.size > 1);
  });

  it('divisible sizes need no padding; a batch larger than the labeled set spans passes', () => {
    const s = new RatioSampler({ labeled: [7, 8, 9], unlabeled: range(24), batchSize: 4, ratio: 2, seed: 1 });
    assert.equal(s.stepsPerEpoch, 3);
    assert.equal(s.padPerEpoch, 0);
    const bs = [...s.restOfEpoch()];
    assert.deepEqual(sorted(bs.flatMap((b) => b.unlabeled)), range(24));
    const lab = bs.flatMap((b) => b.labeled); // 12 = 4 passes of 3
    for (let p = 0; p < 4; p++) assert.deepEqual(sorted(lab.slice(3 * p, 3 * p + 3)), [7, 8, 9]);
    // Unlabeled smaller than one batch: 1 step per epoch, every entry then padding.
    const tiny = new RatioSampler({ labeled: [1], unlabeled: [5, 6], batchSize: 3, ratio: 3, seed: 2 });
    const b = tiny.next();
    assert.equal(b.unlabeled.length, 9);
    assert.deepEqual(sorted(b.unlabeled.slice(0, 2)), [5, 6]);
    assert.deepEqual(b.labeled, [1, 1, 1]);
  });

  it('is deterministic by seed; different seeds differ', () => {
    const a = take(make(5), 9);
    const b = take(make(5), 9);
    assert.deepEqual(a, b);
    const c = take(make(6), 9);
    assert.notDeepEqual(
      a.map((x) => x.unlabeled),
      c.map((x) => x.unlabeled),
    );
    // Epochs are reshuffled.
    assert.notDeepEqual(a[0]!.unlabeled, a[3]!.unlabeled);
  });

  it('seek/resume gives the same batches as an uninterrupted run', () => {
    const full = take(make(), 20);
    for (const k of [0, 1, 2, 3, 4, 8, 13]) {
      const killed = make();
      take(killed, k);
      const saved = killed.position();
      const resumed = make();
      resumed.seek(saved);
      assert.deepEqual(take(resumed, 20 - k), full.slice(k), `resume at ${k}`);
    }
    // Seeking backwards, to the end of an epoch (step == stepsPerEpoch), and batchAt without moving.
    const s = make();
    take(s, 11);
    s.seek({ epoch: 1, step: 3 });
    assert.deepEqual(s.position(), { epoch: 2, step: 0 });
    assert.deepEqual(s.next(), full[6]);
    assert.deepEqual(s.batchAt(0, 1), full[1]);
    assert.deepEqual(s.position(), { epoch: 2, step: 1 });
    assert.throws(() => s.batchAt(0, 3), RangeError);
    assert.throws(() => s.seek({ epoch: -1, step: 0 }), RangeError);
  });

  it('handles large unlabeled sets quickly', () => {
    const big = new RatioSampler({ labeled: range(1000), unlabeled: range(40000), batchSize: 32, ratio: 3, seed: 3 });
    assert.equal(big.stepsPerEpoch, 417);
    const seen = new Uint8Array(40000);
    for (const b of big.restOfEpoch()) for (const i of b.unlabeled) seen[i] = 1;
    assert.equal(
      seen.reduce((a, x) => a + x, 0),
      40000,
    );
    big.seek({ epoch: 50, step: 100 });
    assert.equal(big.next().labeled.length, 32);
  });
});
