// Autograd controls: requiresGrad, grad/grad-fn, grad modes, inference mode, and the async path.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  callOpAsync,
  enableGrad,
  grad,
  inferenceMode,
  isGradEnabled,
  isInferenceMode,
  liveTensorCount,
  noGrad,
  ones,
  scope,
  tensor,
  backward,
  type Tensor,
} from '../../src/torch/index.js';
import { assertClose } from '../helpers/tensors.js';

describe('autograd', () => {
  it('accumulates .grad, reports grad_fn, retains non-leaf grads', () =>
    scope(() => {
      const x = tensor([1, 2, 3], { requiresGrad: true });
      assert.equal(x.isLeaf, true);
      assert.equal(x.gradFn, null);
      const h = x.mul(x).retainGrad();
      assert.equal(h.isLeaf, false);
      assert.equal(h.gradFn!.name, 'MulBackward0');
      assert.deepEqual(h.gradFn!.next, ['torch::autograd::AccumulateGrad', 'torch::autograd::AccumulateGrad']);
      const y = h.sum();
      y.backward(undefined, { retainGraph: true });
      assert.deepEqual(x.grad!.toList(), [2, 4, 6]);
      assert.deepEqual(h.grad!.toList(), [1, 1, 1]);
      y.backward();
      assert.deepEqual(x.grad!.toList(), [4, 8, 12], 'gradients accumulate');
      x.grad = null;
      assert.equal(x.grad, null);
      backward([x.sum(), x.mul(2).sum()]);
      assert.deepEqual(x.grad!.toList(), [3, 3, 3]);
      const d = x.detach();
      assert.equal(d.requiresGrad, false);
    }));

  it('computes grad() without touching .grad, and higher-order gradients', () =>
    scope(() => {
      const x = tensor([2], { dtype: 'float64', requiresGrad: true });
      const y = x.pow(3);
      const [g] = grad(y, x, { createGraph: true });
      assertClose(g!, [12], 1e-12); // 3x^2
      const [g2] = grad(g!, x);
      assertClose(g2!, [12], 1e-12); // 6x
      assert.equal(x.grad, null);
      const z = tensor([1], { requiresGrad: true });
      assert.deepEqual(
        grad(x.sum(), [x, z], { allowUnused: true }).map((t) => t?.toList() ?? null),
        [[1], null],
      );
    }));

  it('noGrad / enableGrad / inferenceMode switch recording and restore it', () =>
    scope(() => {
      const x = tensor([1], { requiresGrad: true });
      assert.equal(isGradEnabled(), true);
      const y = noGrad(() => {
        assert.equal(isGradEnabled(), false);
        const inner = enableGrad(() => x.mul(2));
        assert.equal(inner.requiresGrad, true);
        return x.mul(2);
      });
      assert.equal(y.requiresGrad, false);
      assert.equal(isGradEnabled(), true);
      assert.throws(() =>
        noGrad(() => {
          throw new Error('x');
        }),
      );
      assert.equal(isGradEnabled(), true, 'restored after a throw');
      const z = inferenceMode(() => {
        assert.equal(isInferenceMode(), true);
        return x.mul(3);
      });
      assert.equal(isInferenceMode(), false);
      assert.equal(z.requiresGrad, false);
      assert.throws(() => noGrad((() => Promise.resolve(1)) as () => unknown), /synchronous/);
    }));

  it('runs ops and backward on the compute thread with the caller’s grad mode, in program order', async () => {
    const start = liveTensorCount();
    await scope(async () => {
      const a = ones([256, 256], { requiresGrad: true });
      const prod = (await callOpAsync('aten::matmul', a, a)) as Tensor;
      assert.equal(prod.requiresGrad, true);
      let submitted!: Promise<unknown>;
      noGrad(() => {
        submitted = callOpAsync('aten::matmul', a, a);
      });
      const noGradProd = (await submitted) as Tensor;
      assert.equal(noGradProd.requiresGrad, false, 'grad mode captured at submission');
      const loss = prod.sum();
      const pending = loss.backwardAsync();
      // A synchronous read issued while backward runs waits for it (program order).
      const g = a.grad;
      await pending;
      assert.ok(g !== null, 'grad visible to a sync call made after the async submission');
      assertClose(a.grad!.slice(0, 0, 1).slice(1, 0, 3), [512, 512, 512], 0);
      await assert.rejects(callOpAsync('aten::matmul', ones([2, 3]), ones([2, 3])), /cannot be multiplied/);
    });
    assert.equal(liveTensorCount(), start);
  });
});
