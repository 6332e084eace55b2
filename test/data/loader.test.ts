// Loader: identical batches for 0, 1 and 4 workers; corrupt files skipped and reported; early exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataLoader, type BatchResult } from '../../src/data/loader.js';
import { imageFolder } from '../../src/data/datasets/image_folder.js';
import { fashionMnist } from '../../src/data/datasets/fashion_mnist.js';
import { subset } from '../../src/data/datasets/dataset.js';
import { resolveDataConfig } from '../../src/data/data_config.js';
import { DOG_JPG } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-loader-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

async function collect(loader: DataLoader, epoch: number): Promise<BatchResult[]> {
  const out: BatchResult[] = [];
  for await (const b of loader.epoch(epoch)) out.push(b);
  return out;
}

test('same batches with 0, 1 and 4 workers (training transform, shuffled)', async () => {
  const fm = subset(
    fashionMnist('test'),
    Array.from({ length: 100 }, (_, i) => i * 37),
  );
  const transform = {
    config: resolveDataConfig({ inputSize: [1, 32, 32], mean: [0.5], std: [0.5], interpolation: 'bilinear' }),
    isTraining: true,
    train: { autoAugment: 'nsrand-m9-n2', scale: [0.5, 1] as [number, number], reProb: 0.3 },
  };
  const results: BatchResult[][] = [];
  for (const numWorkers of [0, 1, 4]) {
    await using loader = new DataLoader(fm, { batchSize: 16, shuffle: true, seed: 11, numWorkers, transform });
    results.push(await collect(loader, 3));
  }
  const [a, b, c] = results as [BatchResult[], BatchResult[], BatchResult[]];
  assert.equal(a.length, 7);
  assert.deepEqual(a[0]!.shape, [16, 1, 32, 32]);
  assert.deepEqual(a[6]!.shape, [4, 1, 32, 32]);
  for (const other of [b, c]) {
    assert.equal(other.length, a.length);
    for (let i = 0; i < a.length; i++) {
      assert.deepEqual(other[i]!.indices, a[i]!.indices);
      assert.deepEqual(other[i]!.labels, a[i]!.labels);
      assert.ok(Buffer.from(other[i]!.data.buffer).equals(Buffer.from(a[i]!.data.buffer)), `batch ${i} differs`);
    }
  }
  // A different epoch reshuffles.
  await using loader = new DataLoader(fm, { batchSize: 16, shuffle: true, seed: 11, transform });
  const e4 = await collect(loader, 4);
  assert.notDeepEqual(e4[0]!.indices, a[0]!.indices);
});

test('a folder with a corrupt file completes, the file reported and counted', async () => {
  const root = join(dir, 'folder');
  mkdirSync(join(root, 'dog'), { recursive: true });
  mkdirSync(join(root, 'junk'), { recursive: true });
  for (let i = 0; i < 3; i++) copyFileSync(DOG_JPG, join(root, 'dog', `d${i}.jpg`));
  const bad = join(root, 'junk', 'broken.jpg');
  writeFileSync(bad, Buffer.from('\xff\xd8\xff\xe0 not really a jpeg'));
  const ds = imageFolder(root);
  const reported: string[] = [];
  const transform = { config: resolveDataConfig({ inputSize: [3, 64, 64] }) };
  for (const numWorkers of [0, 2]) {
    await using loader = new DataLoader(ds, { batchSize: 2, numWorkers, transform, onSampleError: (e) => reported.push(e.path ?? '') });
    const batches = await collect(loader, 0);
    assert.equal(
      batches.reduce((n, b) => n + b.indices.length, 0),
      3,
    );
    assert.equal(loader.stats.skipped, 1);
    assert.equal(loader.stats.samples, 3);
    assert.equal(loader.stats.errors[0]!.path, bad);
    assert.match(loader.stats.errors[0]!.message, /broken\.jpg/);
  }
  assert.deepEqual(reported, [bad, bad]);
});

test('breaking out of an epoch early leaves the loader reusable', async () => {
  const fm = subset(
    fashionMnist('test'),
    Array.from({ length: 64 }, (_, i) => i),
  );
  const transform = { config: resolveDataConfig({ inputSize: [1, 28, 28], mean: [0.5], std: [0.5], cropPct: 1 }) };
  await using loader = new DataLoader(fm, { batchSize: 8, numWorkers: 2, prefetch: 3, transform, ordered: false });
  for await (const b of loader.epoch(0)) {
    assert.equal(b.indices.length, 8);
    break;
  }
  const all = await collect(loader, 1);
  assert.deepEqual(
    [...all.flatMap((b) => [...b.indices])].sort((x, y) => x - y),
    Array.from({ length: 64 }, (_, i) => i),
  );
});
