// The addon tells V8 how much native tensor memory JS handles keep alive
// (napi_adjust_external_memory), so a leaked 100 MB tensor is memory pressure the GC sees, not a
// 100-byte JS object it may never bother to collect.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from '../helpers/paths.js';
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

  it('lets the GC backstop collect dropped large tensors: 80 × 100 MiB never disposed are not all alive at the end', () => {
    // In a fresh process, so the test runner's own heap does not decide when V8 collects. empty()
    // does not touch its pages, so the loop costs no real memory. Without the report V8 sees 80
    // tiny JS objects and never collects: all 80 are alive at the end.
    const torch = pathToFileURL(join(REPO_ROOT, 'src/torch/index.ts')).href;
    const script = `
      import { setImmediate as tick } from 'node:timers/promises';
      import { empty, liveTensorCount } from ${JSON.stringify(torch)};
      const start = liveTensorCount();
      for (let i = 0; i < 80; i++) {
        empty([25 << 20]); // 100 MiB of float32, dropped
        await tick(); // FinalizationRegistry callbacks run between tasks
      }
      console.log(JSON.stringify({ alive: liveTensorCount() - start }));
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', script], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const { alive } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { alive: number };
    assert.ok(alive < 80, `all ${alive} dropped 100 MiB tensors were still alive: V8 never saw their memory`);
  });
});
