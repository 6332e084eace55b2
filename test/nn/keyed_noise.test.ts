// Dropout and drop-path keyed per sample (what the trainer passes, so data-parallel ranks draw as
// one process): a row's mask depends only on its key and the call site, never on the batch it is
// in; keys separate seed, epoch, source and index; the keep rate is the one asked for; and a
// model's head in training mode gives each row the output it gives that row alone.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { liveTensorCount, noGrad, ones, randn, scope } from '../../src/torch/index.js';
import { dropPath, dropout, keyedKeepMask, noiseSalt, noiseSource, sampleNoiseKeys } from '../../src/nn/index.js';
import { createModel } from '../../src/models/index.js';

const rows = (t: { toArray(): ArrayLike<number> }, n: number): number[][] => {
  const a = Array.from(t.toArray());
  const w = a.length / n;
  return Array.from({ length: n }, (_, i) => a.slice(i * w, (i + 1) * w));
};

describe('keyed dropout and drop-path', () => {
  it('sample keys are a pure function of (seed, epoch, source, index), each coordinate counting', () => {
    const k = sampleNoiseKeys(0, 1, 'labeled', [0, 1, 2, 2 ** 40]);
    assert.deepEqual(k, sampleNoiseKeys(0, 1, 'labeled', [0, 1, 2, 2 ** 40]));
    assert.equal(new Set(k).size, 4);
    for (const other of [
      sampleNoiseKeys(1, 1, 'labeled', [0]),
      sampleNoiseKeys(0, 2, 'labeled', [0]),
      sampleNoiseKeys(0, 1, 'unlabeled', [0]),
      sampleNoiseKeys(-1, 1, 'labeled', [0]),
    ])
      assert.notEqual(other[0], k[0]);
  });

  it("a row's mask is the same alone, in any batch and at any position", () => {
    const keys = sampleNoiseKeys(7, 0, 'unlabeled', [10, 11, 12, 13, 14]);
    const salt = noiseSalt('blocks.1.0');
    const all = keyedKeepMask(keys, salt, 50, 0.7);
    for (let i = 0; i < keys.length; i++) {
      assert.deepEqual(keyedKeepMask(keys.subarray(i, i + 1), salt, 50, 0.7), all.subarray(i * 50, (i + 1) * 50));
    }
    const shuffled = Uint32Array.from([keys[3]!, keys[0]!]);
    assert.deepEqual(keyedKeepMask(shuffled, salt, 50, 0.7).subarray(0, 50), all.subarray(150, 200));
    // Another call site or another sample: another mask.
    assert.notDeepEqual(keyedKeepMask(keys, noiseSalt('blocks.1.1'), 50, 0.7), all);
    assert.notDeepEqual(all.subarray(0, 50), all.subarray(50, 100));
  });

  it('keeps the asked fraction, scaled by 1/keep', () => {
    const keys = sampleNoiseKeys(
      0,
      0,
      'labeled',
      Array.from({ length: 400 }, (_, i) => i),
    );
    for (const keep of [0.9, 0.5, 0.2]) {
      const m = keyedKeepMask(keys, noiseSalt('head'), 500, keep);
      const kept = m.filter((v) => v !== 0);
      assert.ok(Math.abs(kept.length / m.length - keep) < 0.005, `keep ${keep}: ${kept.length / m.length}`);
      assert.ok(kept.every((v) => v === Math.fround(1 / keep)));
    }
    assert.throws(() => keyedKeepMask(keys, 1, 1, 0), /keep probability/);
  });

  it('dropout and drop-path take keyed rows from the context, and refuse a key count that does not fit', () => {
    const start = liveTensorCount();
    scope(() => {
      const keys = sampleNoiseKeys(3, 0, 'labeled', [5, 6, 7, 8]);
      const x = ones([4, 3, 2, 2]);
      const src = noiseSource({ sampleKeys: keys }, noiseSalt('blocks.0.0'));
      const y = rows(dropPath(x, 0.5, true, src), 4);
      for (const r of y) assert.ok(r.every((v) => v === r[0]) && (r[0] === 0 || r[0] === 2), `one value per sample: ${r}`);
      // Rows 1..2 alone draw what they drew in the batch of 4.
      const keyed = (lo: number, hi: number) => noiseSource({ sampleKeys: keys.subarray(lo, hi) }, noiseSalt('blocks.0.0'));
      assert.deepEqual(rows(dropPath(ones([2, 3, 2, 2]), 0.5, true, keyed(1, 3)), 2), y.slice(1, 3));
      const d = rows(dropout(ones([4, 64]), 0.3, true, noiseSource({ sampleKeys: keys }, 9)), 4);
      assert.deepEqual(rows(dropout(ones([1, 64]), 0.3, true, noiseSource({ sampleKeys: keys.subarray(2, 3) }, 9)), 1)[0], d[2]);
      // The keys follow the input's dtype: a bfloat16 batch stays bfloat16.
      assert.equal(dropout(ones([4, 64]).to('bfloat16'), 0.3, true, noiseSource({ sampleKeys: keys }, 9)).dtype, 'bfloat16');
      // Eval mode: no noise, keys or not.
      assert.deepEqual(rows(dropout(ones([4, 64]), 0.3, false, noiseSource({ sampleKeys: keys }, 9)), 4)[0], new Array(64).fill(1));
      assert.throws(() => dropout(ones([3, 64]), 0.3, true, noiseSource({ sampleKeys: keys }, 9)), /4 sample keys for a batch of 3 rows/);
    });
    assert.equal(liveTensorCount(), start);
  });

  it("a training-mode head gives each row what that row gets alone (the batch does not change a sample's noise)", async () => {
    const start = liveTensorCount();
    const model = await createModel('tinynet_e', { numClasses: 5, dropRate: 0.5 });
    model.train();
    const keys = sampleNoiseKeys(0, 3, 'unlabeled', [100, 200, 300]);
    noGrad(() =>
      scope(() => {
        const feats = randn([3, 1280, 2, 2]);
        const whole = rows(model.forwardHead(feats, { ctx: { sampleKeys: keys } }), 3);
        for (let i = 0; i < 3; i++) {
          const alone = model.forwardHead(feats.narrow(0, i, 1), { ctx: { sampleKeys: keys.subarray(i, i + 1) } });
          const a = rows(alone, 1)[0]!;
          a.forEach((v, j) => assert.ok(Math.abs(v - whole[i]![j]!) < 1e-5, `row ${i} logit ${j}: ${v} vs ${whole[i]![j]}`));
        }
        // The dropout is on: another epoch's keys give other logits.
        const other = rows(model.forwardHead(feats, { ctx: { sampleKeys: sampleNoiseKeys(0, 4, 'unlabeled', [100, 200, 300]) } }), 3);
        assert.notDeepEqual(other, whole);
      }),
    );
    model.dispose();
    assert.equal(liveTensorCount(), start);
  });
});
