// The addon tells V8 how much native tensor memory JS handles keep alive
// (napi_adjust_external_memory), so a leaked 100 MB tensor is memory pressure the GC sees, not a
// 100-byte JS object it may never bother to collect.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { externalTensorBytes, fromTypedArray, liveTensorCount, scope, zeros } from '../../src/torch/index.js';
import { native } from '../../src/torch/native.js';

const MB = 1 << 20;

describe('native tensor memory reported to V8', () => {
  it('rises by the storage of a large tensor and falls back when it is disposed', () => {
    const start = externalTensorBytes();
    const v8Start = native.v8ExternalMemory();
    const t = zeros([64, MB / 4]); // 64 MiB of float32
    const grown = externalTensorBytes() - start;
    assert.ok(grown >= 64 * MB && grown < 65 * MB, `reported ${grown} bytes for a 64 MiB tensor`);
    // V8's own tally (what its GC heuristics read) moved by as much. (Node 20's
    // process.memoryUsage().external does not include napi_adjust_external_memory reports.)
    // V8's tally also holds other things (array buffers), so compare to within 1 MiB.
    const v8Grown = native.v8ExternalMemory() - v8Start;
    assert.ok(Math.abs(v8Grown - grown) < MB, `V8 saw ${v8Grown} bytes more, the addon reported ${grown}`);
    t.dispose();
    assert.equal(externalTensorBytes(), start);
    assert.ok(Math.abs(native.v8ExternalMemory() - v8Start) < MB, 'V8 was told the tensor went');
  });

  it('counts a storage once however many handles view it, until the last one goes', () => {
    const start = externalTensorBytes();
    const base = zeros([16, MB / 4]); // 16 MiB
    const views = [base.view(-1), base.reshape(4, -1), base.transpose(0, 1)];
    const grown = externalTensorBytes() - start;
    assert.ok(grown >= 16 * MB && grown < 17 * MB, `views recounted the storage: ${grown} bytes`);
    base.dispose();
    assert.ok(externalTensorBytes() - start >= 16 * MB, 'the views still hold the storage');
    for (const v of views) v.dispose();
    assert.equal(externalTensorBytes(), start);
  });

  it('does not count a zero-copy tensor over a JS buffer (V8 already counts the buffer)', () => {
    const start = externalTensorBytes();
    const shared = fromTypedArray(new Float32Array(4 * MB), [4 * MB], { copy: false });
    assert.equal(externalTensorBytes(), start);
    shared.dispose();
  });

  it('returns to its start when a scope releases what it made, results of ops included', () => {
    const start = externalTensorBytes();
    const live = liveTensorCount();
    scope(() => {
      const a = zeros([8, MB / 4]);
      a.add(1).mul(2).sum();
      assert.ok(externalTensorBytes() - start >= 16 * MB);
    });
    assert.equal(liveTensorCount(), live);
    assert.equal(externalTensorBytes(), start);
  });
});
