// pseudoLabel stores what the un-noised teacher says: full probabilities, or the top-k
// renormalised with the raw top-1 kept for filtering; shards on disk are read back defensively.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, liveTensorCount, loadSafetensors, noGrad, saveSafetensors, subset, tensor } from '../../src/index.js';
import { pseudoLabel } from '../../src/noisy/index.js';
import { resolveDataSpec, trainingDataConfig } from '../../src/train/data_spec.js';
import { pseudoLabelRow, readPseudoLabelShards } from '../../src/noisy/artifacts/pseudo_labels.js';

let dir: string;
let start: number;
before(() => {
  start = liveTensorCount();
  dir = mkdtempSync(join(tmpdir(), 'ns-pl-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
  assert.equal(liveTensorCount(), start);
});

describe('pseudoLabel', () => {
  it('top-k shards: the k largest probabilities renormalised, zero elsewhere, the raw top-1 as confidence', async () => {
    const data = resolveDataSpec('fashion-mnist:test');
    const images = subset(
      data.dataset,
      Array.from({ length: 40 }, (_, i) => i),
    );
    const config = trainingDataConfig(null, data.defaults);
    const teacher = await createModel('tinynet_e', { numClasses: 10, inChans: 1 });
    // A random head gives near-uniform probabilities whose ties topk may order either way; a
    // steeper one separates them.
    noGrad(() => {
      for (const [k, p] of teacher.namedParameters()) if (k === 'classifier.weight') p.mul_(300);
    });
    const opts = { shardSize: 16, batchSize: 7, workers: 0 };
    const full = await pseudoLabel(teacher, images, config, { dir: join(dir, 'full'), ...opts });
    const top3 = await pseudoLabel(teacher, images, config, { dir: join(dir, 'top3'), topk: 3, ...opts });
    // Rerun into the same folder: the same teacher reuses the shards; another teacher is refused.
    const other = await createModel('tinynet_e', { numClasses: 10, inChans: 1 });
    await assert.rejects(
      pseudoLabel(other, images, config, { dir: join(dir, 'full'), ...opts }),
      /full holds pseudo-labels made with another teacher: give another output folder/,
    );
    await assert.rejects(pseudoLabel(teacher, images, config, { dir: join(dir, 'full'), ...opts, shardSize: 8 }), /another shardSize/);
    other.dispose();
    assert.deepEqual((await pseudoLabel(teacher, images, config, { dir: join(dir, 'full'), ...opts })).records, full.records);
    teacher.dispose();
    assert.equal(full.records.length, 40);
    const C = 10;
    for (let id = 0; id < 40; id++) {
      const row = Array.from(full.probs.subarray(id * C, (id + 1) * C));
      const order = row.map((p, c) => [p, c] as const).sort((a, b) => b[0] - a[0]);
      const kept = order.slice(0, 3);
      const z = kept.reduce((a, [p]) => a + p, 0);
      const got = new Float32Array(C);
      pseudoLabelRow(top3, id, got); // top-k sets stay sparse in memory
      for (let c = 0; c < C; c++) {
        const k = kept.find(([, kc]) => kc === c);
        assert.ok(Math.abs(got[c]! - (k ? k[0] / z : 0)) < 1e-6, `image ${id} class ${c}: ${got[c]} vs ${k ? k[0] / z : 0}`);
      }
      assert.deepEqual(top3.records[id], full.records[id]);
      assert.ok(Math.abs(full.records[id]!.confidence - order[0]![0]) < 1e-7);
    }
    // The shards hold [n, 3], not [n, 10].
    const { tensors } = loadSafetensors(join(dir, 'top3', 'shard-00000.safetensors'));
    assert.deepEqual(tensors.get('topk_probs')!.shape, [16, 3]);
    assert.equal(tensors.has('probs'), false);
    for (const t of tensors.values()) t.dispose();
  });

  it('refuses a shard whose ids or classes fall outside the data set', () => {
    const bad = join(dir, 'bad');
    const write = (ids: number[], classes: number[]): void => {
      rmSync(bad, { recursive: true, force: true });
      const t = [
        tensor(ids, { dtype: 'int64' }),
        tensor([[0.7, 0.3]], { dtype: 'float32' }),
        tensor([classes], { dtype: 'int64' }),
        tensor([0.6], { dtype: 'float32' }),
      ];
      saveSafetensors(join(bad, 'shard-00000.safetensors'), { ids: t[0]!, topk_probs: t[1]!, topk_classes: t[2]!, top1_prob: t[3]! });
      for (const x of t) x.dispose();
    };
    write([5], [1, 2]);
    assert.throws(
      () => readPseudoLabelShards(bad, { images: 3, numClasses: 4, shardSize: 10 }),
      /image id 5 outside the 3 unlabeled images/,
    );
    write([1], [1, 9]);
    assert.throws(() => readPseudoLabelShards(bad, { images: 3, numClasses: 4, shardSize: 10 }), /class 9 outside 4/);
    write([1], [1, 2]);
    const ok = readPseudoLabelShards(bad, { images: 3, numClasses: 4, shardSize: 10 });
    const row = new Float32Array(4);
    pseudoLabelRow(ok, 1, row);
    assert.deepEqual(
      Array.from(row).map((v) => +v.toFixed(6)),
      [0, 0.7, 0.3, 0],
    );
    assert.deepEqual(ok.records, [{ id: 1, label: 1, confidence: Math.fround(0.6) }]);
  });
});

describe('pseudo-label shard counts', () => {
  it('a zero shard size is refused, never an endless loop of empty shards', async () => {
    assert.throws(
      () => readPseudoLabelShards(dir, { images: 3, numClasses: 4, shardSize: 0 }),
      /shard size must be a positive integer, got 0/,
    );
    const teacher = await createModel('tinynet_e', { numClasses: 10, inChans: 1 });
    const images = subset(resolveDataSpec('fashion-mnist:test').dataset, [0, 1]);
    const config = trainingDataConfig(null, resolveDataSpec('fashion-mnist').defaults);
    await assert.rejects(
      pseudoLabel(teacher, images, config, { dir: join(dir, 'zero'), shardSize: 0, batchSize: 2, workers: 0 }),
      /shardSize must be a positive integer, got 0/,
    );
    teacher.dispose();
  });
});
