// Deterministic release: scopes (sync and across await), keep, dispose, Symbol.dispose.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { DisposedError, dispose, keep, liveTensorCount, ones, scope, tensor, zeros, type Tensor } from '../../src/torch/index.js';

describe('scope', () => {
  it('releases every tensor made inside, and keeps what is returned', () => {
    const start = liveTensorCount();
    const out = scope(() => {
      const a = ones([10]);
      const b = a.mul(2).add(1);
      b.sum();
      return b.exp();
    });
    assert.equal(liveTensorCount(), start + 1, 'only the returned tensor survives');
    assert.equal(out.shape[0], 10);
    out.dispose();
    assert.equal(liveTensorCount(), start);
  });

  it('returns tensors inside arrays, objects and Maps to the enclosing scope', () => {
    const start = liveTensorCount();
    scope(() => {
      const inner = scope(() => {
        const t = ones([2]);
        return { list: [t.add(1), t.add(2)], map: new Map([['x', t.add(3)]]), n: 5 };
      });
      assert.equal(liveTensorCount(), start + 3);
      assert.deepEqual(inner.list[1]!.toList(), [3, 3]);
      assert.equal(inner.n, 5);
    });
    assert.equal(liveTensorCount(), start, 'escaped tensors were released by the outer scope');
  });

  it('follows an async function across awaits and releases at the end', async () => {
    const start = liveTensorCount();
    const result = await scope(async () => {
      const a = ones([4]);
      await sleep(5);
      const b = a.add(1); // made after an await: still this scope's
      await sleep(5);
      b.mul(3);
      return b.sum();
    });
    assert.equal(result.item(), 8);
    assert.equal(liveTensorCount(), start + 1);
    result.dispose();
    assert.equal(liveTensorCount(), start);
  });

  it('keeps concurrent async scopes apart', async () => {
    const start = liveTensorCount();
    const work = (v: number) =>
      scope(async () => {
        const t = ones([3]).mul(v);
        await sleep(v);
        const u = t.add(v);
        await sleep(1);
        return u;
      });
    const [x, y] = await Promise.all([work(3), work(7)]);
    assert.deepEqual(x.toList(), [6, 6, 6]);
    assert.deepEqual(y.toList(), [14, 14, 14]);
    assert.equal(liveTensorCount(), start + 2);
    dispose([x, y]);
    assert.equal(liveTensorCount(), start);
  });

  it('releases everything when the function throws (sync and async)', async () => {
    const start = liveTensorCount();
    assert.throws(() =>
      scope(() => {
        ones([3]);
        throw new Error('boom');
      }),
    );
    await assert.rejects(
      scope(async () => {
        ones([3]);
        await sleep(1);
        throw new Error('boom');
      }),
    );
    assert.equal(liveTensorCount(), start);
  });

  it('keep() exempts a tensor from scopes until disposed', () => {
    const start = liveTensorCount();
    let kept: Tensor | undefined;
    scope(() => {
      kept = keep(zeros([2]));
      ones([2]);
    });
    assert.equal(liveTensorCount(), start + 1);
    assert.deepEqual(kept!.toList(), [0, 0]);
    kept!.dispose();
    kept!.dispose(); // idempotent
    assert.equal(liveTensorCount(), start);
  });

  it('disposes with using / Symbol.dispose and rejects use after dispose', () => {
    const start = liveTensorCount();
    {
      using t = tensor([1, 2]);
      const s = t.sum();
      assert.equal(s.item(), 3);
      s.dispose();
    }
    assert.equal(liveTensorCount(), start);
    const d = tensor([1]);
    d.dispose();
    assert.equal(d.isDisposed, true);
    assert.throws(() => d.add(1), DisposedError);
    assert.throws(() => d.shape, DisposedError);
  });

  it('in-place ops inside a scope neither leak nor double-free the target', () => {
    const start = liveTensorCount();
    const acc = zeros([3]);
    scope(() => {
      for (let i = 0; i < 100; i++) acc.add_(ones([3]));
    });
    assert.deepEqual(acc.toList(), [100, 100, 100]);
    acc.dispose();
    assert.equal(liveTensorCount(), start);
  });

  it('makes and drops 10,000 tensors in scopes without growing the live count', () => {
    const start = liveTensorCount();
    for (let i = 0; i < 100; i++) {
      scope(() => {
        for (let j = 0; j < 100; j++) zeros([256]).add(1);
      });
    }
    assert.equal(liveTensorCount(), start);
  });
});
