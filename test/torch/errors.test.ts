// Bad shapes, dtypes, arguments and disposed tensors give typed errors with clear messages.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DisposedError, F, ShapeError, TorchError, callOp, liveTensorCount, ones, scope, tensor, zeros } from '../../src/torch/index.js';

describe('errors', () => {
  it('libtorch failures arrive as TorchError with libtorch’s message, and nothing leaks', () => {
    const start = liveTensorCount();
    scope(() => {
      assert.throws(
        () => ones([2, 3]).matmul(ones([2, 3])),
        (e: unknown) => e instanceof TorchError && /cannot be multiplied \(2x3 and 2x3\)/.test(e.message),
      );
      assert.throws(
        () => ones([2, 3]).add(ones([4])),
        (e: unknown) => e instanceof TorchError && /size of tensor a \(3\) must match/.test(e.message),
      );
      assert.throws(
        () => ones([6]).view(4),
        (e: unknown) => e instanceof TorchError && /shape '\[4\]' is invalid for input of size 6/.test(e.message),
      );
      assert.throws(
        () => ones([2]).to('int64').add_(0.5),
        (e: unknown) => e instanceof TorchError && /can't be cast/.test(e.message),
      );
      assert.throws(() => F.crossEntropy(ones([2, 3]), tensor([0.5, 1])), TorchError);
    });
    assert.equal(liveTensorCount(), start);
  });

  it('checks shapes before libtorch where our message is clearer', () => {
    scope(() => {
      assert.throws(
        () => F.conv2d(ones([1, 3, 8, 8]), ones([4, 2, 3, 3])),
        (e: unknown) => e instanceof ShapeError && /input has 3 channels but weight/.test(e.message),
      );
      assert.throws(() => F.conv2d(ones([3, 8, 8]), ones([4, 3, 3, 3])), /expected a 4-D NCHW input/);
      assert.throws(() => ones([2, 3]).mm(ones([2, 3])), ShapeError);
      assert.throws(() => ones([2, 3]).permute(1, 0, 2), ShapeError);
      assert.throws(() => zeros([2, -1]), /invalid dimension -1/);
      assert.throws(() => tensor([[1, 2], [3]]), /ragged/);
      assert.throws(() => F.pad(ones([1, 1, 2, 2]), [1, 2, 3]), /even length/);
    });
  });

  it('rejects bad argument types by the op schema, naming the argument', () => {
    scope(() => {
      assert.throws(() => callOp('aten::add.Tensor', ones([1]), 'x'), /tensor handle|argument 'other'/);
      assert.throws(() => ones([4]).view(1.5), /expected an integer/);
      assert.throws(() => callOp('aten::nonexistent_op'), /no operator aten::nonexistent_op/);
      assert.throws(() => callOp('aten::softmax.int', ones([2]), 0, null, 'extra', 'args'), /arguments given/);
    });
  });

  it('rejects disposed tensors wherever they are passed', () => {
    const a = ones([2]);
    const b = ones([2]);
    b.dispose();
    assert.throws(() => a.add(b), DisposedError);
    assert.throws(() => F.linear(ones([1, 2]), b), DisposedError);
    assert.throws(() => b.toArray(), DisposedError);
    assert.throws(() => b.backward(), DisposedError);
    a.dispose();
  });
});
