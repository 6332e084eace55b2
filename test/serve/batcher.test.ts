// The batcher's policy on the fixture model: an image sent to an idle model runs at once (it never
// waits out maxWait when nothing else is coming); images still decoding are waited for, up to
// maxWait; images that arrive while the model runs go together in the next call, at most maxBatch;
// each caller gets its own row, the row a batch of one would give.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadInferenceBackend } from '../../src/backends/index.js';
import type { InferenceArray, InferenceModel } from '../../src/models/index.js';
import { Batcher } from '../../src/serve/batcher.js';
import { B0_DIR } from '../helpers/b0_fixture.js';
import { xorshift32 } from '../helpers/rng.js';

const SIZE = [3, 64, 64] as const;
const PER = SIZE[0] * SIZE[1] * SIZE[2];
let model: InferenceModel;

before(async () => {
  model = await loadInferenceBackend('tf_efficientnet_b0.ns_jft_in1k', { checkpointPath: B0_DIR, backend: 'torch-fused' });
});
after(async () => {
  await model.dispose();
});

function inputs(n: number, seed: number): Float32Array[] {
  const next = xorshift32(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: PER }, () => next() * 2 - 1));
}

describe('Batcher', () => {
  it('runs a lone image at once, however long maxWait is', async () => {
    const sizes: number[] = [];
    const b = new Batcher(model, SIZE, { maxBatch: 8, maxWaitMs: 60_000, onBatch: (i) => sizes.push(i.size) });
    const t0 = performance.now();
    const row = await b.submit(inputs(1, 1)[0]!, 'logits').result;
    assert.ok(performance.now() - t0 < 10_000, 'did not wait out maxWait');
    assert.deepEqual(row.shape, [1, 1000]);
    assert.deepEqual(sizes, [1]);
  });

  it('waits up to maxWait for images still decoding, then sends what it has', async () => {
    const sizes: number[] = [];
    const b = new Batcher(model, SIZE, { maxBatch: 8, maxWaitMs: 150, onBatch: (i) => sizes.push(i.size) });
    const [x, y, z] = inputs(3, 2);
    b.expect();
    b.expect();
    b.expect();
    const t0 = performance.now();
    const first = b.submit(x!, 'logits', { decoded: true }).result;
    await new Promise((r) => setTimeout(r, 20));
    const second = b.submit(y!, 'logits', { decoded: true }).result;
    await Promise.all([first, second]);
    // The third never came within maxWait: the two went without it.
    assert.ok(performance.now() - t0 >= 140, `sent after ${(performance.now() - t0).toFixed(0)} ms`);
    assert.deepEqual(sizes, [2]);
    b.unexpect();
    await b.submit(z!, 'logits').result;
    assert.deepEqual(sizes, [2, 1]);
  });

  it('sends as soon as the last expected image arrives; images queued behind a running call go together, at most maxBatch', async () => {
    const sizes: number[] = [];
    const b = new Batcher(model, SIZE, { maxBatch: 4, maxWaitMs: 60_000, onBatch: (i) => sizes.push(i.size) });
    const xs = inputs(7, 3);
    // Alone, each image's row: what the batched rows must equal.
    const alone: InferenceArray[] = [];
    for (const x of xs) alone.push(await new Batcher(model, SIZE, { maxBatch: 1, maxWaitMs: 0 }).submit(x, 'logits').result);
    b.expect();
    const head = b.submit(xs[0]!, 'logits', { decoded: true }).result; // the model was idle and nothing else was decoding
    const rest = xs.slice(1).map((x) => b.submit(x, 'logits').result);
    const rows = await Promise.all([head, ...rest]);
    assert.deepEqual(sizes, [1, 4, 2]);
    rows.forEach((r, i) => {
      const a = alone[i]!.data;
      let maxDiff = 0;
      for (let j = 0; j < a.length; j++) maxDiff = Math.max(maxDiff, Math.abs(r.data[j]! - a[j]!));
      assert.ok(maxDiff < 1e-4, `row ${i}: max |diff| ${maxDiff}`);
    });
  });

  it('skips cancelled images and keeps logits and pre-logits calls apart', async () => {
    const calls: string[] = [];
    const b = new Batcher(model, SIZE, { maxBatch: 8, maxWaitMs: 0, onBatch: (i) => calls.push(`${i.output}:${i.size}`) });
    const [a, c, d, e] = inputs(4, 4);
    const running = b.submit(a!, 'logits').result;
    const cancelled = b.submit(c!, 'logits');
    cancelled.cancel();
    const feats = b.submit(d!, 'pre_logits').result;
    const logits = b.submit(e!, 'logits').result;
    await Promise.all([running, feats, logits]);
    assert.equal((await feats).shape[1], model.numFeatures);
    assert.deepEqual(calls, ['logits:1', 'pre_logits:1', 'logits:1']);
  });
});
