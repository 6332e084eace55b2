// serve's threads for a lone image (lone_threads.ts): measured on the in-process libtorch backends
// and put back afterwards, pinned without measuring, left alone on ONNX Runtime (its threads are
// fixed with its session); the switch sets libtorch's thread count from each batch's size and does
// not change the answers; the batcher says when it is free and reports each call's size first.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadInferenceBackend } from '../../src/backends/index.js';
import type { InferenceModel } from '../../src/models/index.js';
import { getNumThreads, setNumThreads } from '../../src/torch/index.js';
import { chooseLoneThreads, loneThreadSwitch } from '../../src/serve/lone_threads.js';
import { Batcher } from '../../src/serve/batcher.js';
import { B0_DIR } from '../helpers/b0_fixture.js';
import { xorshift32 } from '../helpers/rng.js';

const SIZE = [3, 64, 64] as const;
const PER = SIZE[0] * SIZE[1] * SIZE[2];
let fused: InferenceModel;
let start: number;

before(async () => {
  start = getNumThreads();
  // Two threads at least, so there is a choice to measure (the CI machine has 2 cores).
  setNumThreads(Math.max(2, start));
  fused = await loadInferenceBackend('tf_efficientnet_b0.ns_jft_in1k', { checkpointPath: B0_DIR, backend: 'torch-fused' });
});
after(async () => {
  await fused.dispose();
  setNumThreads(start);
});

const input = (seed: number): Float32Array => {
  const next = xorshift32(seed);
  return Float32Array.from({ length: PER }, () => next() * 2 - 1);
};

describe('lone threads', () => {
  it('measures 1 thread against all on libtorch, and puts the thread count back', async () => {
    const full = getNumThreads();
    const t = await chooseLoneThreads(fused, SIZE);
    assert.equal(t.full, full);
    assert.ok(t.lone === 1 || t.lone === full, `lone ${t.lone}`);
    assert.ok(t.measured && t.measured.loneMs > 0 && t.measured.fullMs > 0, JSON.stringify(t));
    assert.equal(t.lone, t.measured.loneMs <= t.measured.fullMs ? 1 : full, 'the faster of the two');
    assert.match(t.reason, /with 1 thread, .* with \d+/);
    assert.equal(getNumThreads(), full, 'thread count restored');
  });

  it('pinned: no measurement; a backend with its own threads is left alone', async () => {
    const full = getNumThreads();
    assert.deepEqual(await chooseLoneThreads(fused, SIZE, 1), { lone: 1, full, measured: null, reason: 'pinned' });
    await assert.rejects(chooseLoneThreads(fused, SIZE, 0), /positive integer/);
    const ort = await loadInferenceBackend('tf_efficientnet_b0.ns_jft_in1k', { checkpointPath: B0_DIR, backend: 'ort' });
    try {
      const t = await chooseLoneThreads(ort, SIZE);
      assert.equal(t.lone, t.full);
      assert.equal(t.measured, null);
      assert.match(t.reason, /onnxruntime keeps its own threads/);
      await assert.rejects(chooseLoneThreads(ort, SIZE, full + 1), /fixes its threads/);
    } finally {
      await ort.dispose();
    }
  });

  it('the switch sets the thread count from the batch size; 1 thread gives the same logits', async () => {
    const full = getNumThreads();
    assert.equal(loneThreadSwitch({ lone: full, full, measured: null, reason: 'pinned' }), undefined, 'nothing to switch');
    const sw = loneThreadSwitch({ lone: 1, full, measured: null, reason: 'pinned' })!;
    const sizes: number[] = [];
    const seen: number[] = [];
    const b = new Batcher(fused, SIZE, {
      maxBatch: 4,
      maxWaitMs: 1_000,
      beforeRun: (n) => {
        sw(n);
        sizes.push(n);
        seen.push(getNumThreads());
      },
    });
    try {
      assert.ok(b.free);
      const x = input(1);
      const lone = await b.submit(x, 'logits').result;
      // Two images announced first: the batcher waits for both and runs them together.
      b.expect();
      b.expect();
      assert.ok(!b.free, 'images are being decoded');
      const pair = [b.submit(x, 'logits', { decoded: true }).result, b.submit(input(2), 'logits', { decoded: true }).result];
      const [again] = await Promise.all(pair);
      assert.deepEqual(sizes, [1, 2]);
      assert.deepEqual(seen, [1, full], 'one thread for the lone image, all for the pair');
      for (let i = 0; i < lone.data.length; i++) {
        assert.ok(Math.abs(lone.data[i]! - again!.data[i]!) < 1e-4, `logit ${i}: ${lone.data[i]} vs ${again!.data[i]}`);
      }
      assert.ok(b.free);
    } finally {
      sw(2); // any batch of two or more puts the full count back
      assert.equal(getNumThreads(), full);
    }
  });
});
