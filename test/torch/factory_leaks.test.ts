// A factory that refuses its options after libtorch made the tensor (requiresGrad on an integer
// dtype) frees that tensor before throwing: outside a scope nothing else would, until a GC.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { arange, full, liveTensorCount, randint, tensor, zeros, type Tensor } from '../../src/torch/index.js';

describe('factories on a refused option', () => {
  const cases: [string, () => Tensor][] = [
    ['tensor', () => tensor([1, 2], { dtype: 'int64', requiresGrad: true })],
    ['zeros', () => zeros([2], { dtype: 'int32', requiresGrad: true })],
    ['full', () => full([2], 3, { dtype: 'int64', requiresGrad: true })],
    ['arange', () => arange(0, 3, 1, { dtype: 'int64', requiresGrad: true })],
    ['randint', () => randint(0, 5, [3], { requiresGrad: true })],
  ];
  for (const [name, make] of cases) {
    it(`${name}: requiresGrad on an integer dtype throws and leaves nothing alive`, () => {
      const start = liveTensorCount();
      assert.throws(make, /floating point/);
      assert.equal(liveTensorCount(), start, `${name} left the tensor it made alive`);
    });
  }
});
