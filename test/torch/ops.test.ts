// Op results checked against values worked out by hand.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  F,
  Generator,
  arange,
  cat,
  full,
  manualSeed,
  ones,
  rand,
  randint,
  randn,
  randperm,
  scope,
  stack,
  tensor,
  zeros,
  eye,
  linspace,
  fromTypedArray,
} from '../../src/torch/index.js';
import { assertClose, assertNoLeak } from '../helpers/tensors.js';

describe('arithmetic', () => {
  it('adds, subtracts, multiplies and divides tensors and scalars with broadcasting', () =>
    assertNoLeak(() =>
      scope(() => {
        const a = tensor([
          [1, 2],
          [3, 4],
        ]);
        const b = tensor([10, 20]);
        assert.deepEqual(a.add(b).toList(), [
          [11, 22],
          [13, 24],
        ]);
        assert.deepEqual(a.add(b, 2).toList(), [
          [21, 42],
          [23, 44],
        ]);
        assert.deepEqual(a.sub(1).toList(), [
          [0, 1],
          [2, 3],
        ]);
        assert.deepEqual(a.mul(b).toList(), [
          [10, 40],
          [30, 80],
        ]);
        assert.deepEqual(a.div(2).toList(), [
          [0.5, 1],
          [1.5, 2],
        ]);
        assert.deepEqual(tensor([7, -7]).div(2, 'floor').toList(), [3, -4]);
        assert.deepEqual(tensor([7, -7]).div(2, 'trunc').toList(), [3, -3]);
        assert.deepEqual(tensor([7, -7]).remainder(3).toList(), [1, 2]);
        assert.deepEqual(tensor([1, 2, 3]).pow(2).toList(), [1, 4, 9]);
        assert.deepEqual(tensor([-2, 0.5, 3]).clamp(-1, 1).toList(), [-1, 0.5, 1]);
        assert.deepEqual(tensor([-2, 0.5, 3]).clamp(0, null).toList(), [0, 0.5, 3]);
        assert.deepEqual(
          tensor([1, 5])
            .maximum(tensor([3, 2]))
            .toList(),
          [3, 5],
        );
        assert.deepEqual(
          tensor([1, 5])
            .minimum(tensor([3, 2]))
            .toList(),
          [1, 2],
        );
      }),
    ));

  it('keeps int and float scalars apart: int tensor + 2 stays int64, * 0.5 promotes', () =>
    scope(() => {
      const i = arange(4);
      assert.equal(i.dtype, 'int64');
      assert.equal(i.add(2).dtype, 'int64');
      assert.deepEqual(i.add(2).toList(), [2, 3, 4, 5]);
      assert.equal(i.mul(0.5).dtype, 'float32');
      assert.deepEqual(i.mul(0.5).toList(), [0, 0.5, 1, 1.5]);
      assert.equal(i.div(2).dtype, 'float32', 'true division is floating like torch');
      assert.equal(tensor([1.5]).add(2).dtype, 'float32');
    }));

  it('computes the unary functions', () =>
    scope(() => {
      const x = tensor([0, 1, -1, 4], { dtype: 'float64' });
      assertClose(x.exp(), [1, Math.E, 1 / Math.E, Math.exp(4)], 1e-12);
      assertClose(x.abs(), [0, 1, 1, 4], 0);
      assertClose(x.neg(), [0, -1, 1, -4], 0);
      assertClose(x.sigmoid(), [0.5, 1 / (1 + Math.exp(-1)), 1 / (1 + Math.exp(1)), 1 / (1 + Math.exp(-4))], 1e-12);
      assertClose(x.tanh(), [0, Math.tanh(1), Math.tanh(-1), Math.tanh(4)], 1e-12);
      assertClose(x.relu(), [0, 1, 0, 4], 0);
      assertClose(x.silu(), [0, 1 / (1 + Math.exp(-1)), -1 / (1 + Math.exp(1)), 4 / (1 + Math.exp(-4))], 1e-12);
      assertClose(tensor([1, 4, 9], { dtype: 'float64' }).sqrt(), [1, 2, 3], 0);
      assertClose(tensor([1, 4], { dtype: 'float64' }).rsqrt(), [1, 0.5], 1e-15);
      assertClose(tensor([1, Math.E], { dtype: 'float64' }).log(), [0, 1], 1e-15);
      assertClose(tensor([-1.5, 1.5, 2.5]).floor(), [-2, 1, 2], 0);
      assertClose(tensor([-1.5, 1.5, 2.5]).ceil(), [-1, 2, 3], 0);
      assertClose(tensor([0.5, 1.5, 2.5]).round(), [0, 2, 2], 0); // half to even, like torch
      assertClose(tensor([-3, 0, 2]).sign(), [-1, 0, 1], 0);
      assertClose(tensor([2, 4]).reciprocal(), [0.5, 0.25], 0);
    }));

  it('in-place ops mutate and return the same JS object', () =>
    assertNoLeak(() =>
      scope(() => {
        const a = tensor([1, 2, 3]);
        assert.equal(a.add_(1), a);
        assert.equal(a.mul_(2), a);
        assert.deepEqual(a.toList(), [4, 6, 8]);
        assert.equal(a.sub_(tensor([1, 1, 1])), a);
        assert.equal(a.div_(tensor([3, 5, 7])), a);
        assert.deepEqual(a.toList(), [1, 1, 1]);
        a.addcmul_(tensor([1, 2, 3]), tensor([2, 2, 2]), 0.5);
        assert.deepEqual(a.toList(), [2, 3, 4]);
        a.addcdiv_(tensor([4, 4, 4]), tensor([2, 4, 8]), 2);
        assert.deepEqual(a.toList(), [6, 5, 5]);
        a.lerp_(tensor([10, 10, 10]), 0.5);
        assert.deepEqual(a.toList(), [8, 7.5, 7.5]);
        assert.equal(a.clamp_(7.5, 7.75), a);
        assert.deepEqual(a.toList(), [7.75, 7.5, 7.5]);
        assert.deepEqual(a.fill_(3).toList(), [3, 3, 3]);
        assert.deepEqual(a.zero_().toList(), [0, 0, 0]);
        assert.deepEqual(a.copy_(tensor([5, 6, 7])).toList(), [5, 6, 7]);
        assert.deepEqual(tensor([-1, 2]).relu_().toList(), [0, 2]);
        const m = tensor([1, 2, 3]);
        m.maskedFill_(tensor([true, false, true]), -1);
        assert.deepEqual(m.toList(), [-1, 2, -1]);
        const z = zeros([3]);
        z.indexPut_([tensor([0n, 2n])], tensor([5, 6]));
        assert.deepEqual(z.toList(), [5, 0, 6]);
        z.indexPut_([tensor([0n, 0n])], tensor([1, 1]), true);
        assert.deepEqual(z.toList(), [7, 0, 6]);
      }),
    ));
});

describe('comparison and logic', () => {
  it('compares elementwise to bool tensors', () =>
    scope(() => {
      const a = tensor([1, 2, 3]);
      assert.equal(a.eq(2).dtype, 'bool');
      assert.deepEqual(a.eq(2).toList(), [0, 1, 0]);
      assert.deepEqual(a.ne(2).toList(), [1, 0, 1]);
      assert.deepEqual(a.lt(2).toList(), [1, 0, 0]);
      assert.deepEqual(a.le(2).toList(), [1, 1, 0]);
      assert.deepEqual(a.gt(tensor([0, 2, 4])).toList(), [1, 0, 0]);
      assert.deepEqual(a.ge(tensor([0, 2, 4])).toList(), [1, 1, 0]);
      const t = tensor([true, false, true]);
      assert.deepEqual(t.logicalAnd(tensor([true, true, false])).toList(), [1, 0, 0]);
      assert.deepEqual(t.logicalOr(tensor([false, true, false])).toList(), [1, 1, 1]);
      assert.deepEqual(t.logicalNot().toList(), [0, 1, 0]);
      assert.equal(t.any().item(), 1);
      assert.equal(t.all().item(), 0);
      assert.deepEqual(tensor([1, NaN, Infinity]).isnan().toList(), [0, 1, 0]);
      assert.deepEqual(tensor([1, NaN, Infinity]).isfinite().toList(), [1, 0, 0]);
      assert.deepEqual(a.where(tensor([true, false, true]), tensor([9, 9, 9])).toList(), [1, 9, 3]);
      assert.deepEqual(F.where(tensor([false, true]), tensor([1, 2]), tensor([3, 4])).toList(), [3, 2]);
      assert.deepEqual(a.maskedFill(tensor([false, true, false]), 0).toList(), [1, 0, 3]);
    }));
});

describe('reductions', () => {
  it('sums, averages and finds extremes over dims', () =>
    assertNoLeak(() =>
      scope(() => {
        const a = tensor([
          [1, 5, 3],
          [4, 2, 6],
        ]);
        assert.equal(a.sum().item(), 21);
        assert.deepEqual(a.sum(0).toList(), [5, 7, 9]);
        assert.deepEqual(a.sum(1, { keepdim: true }).toList(), [[9], [12]]);
        assert.equal(a.mean().item(), 3.5);
        assert.deepEqual(a.mean([0, 1]).toList(), 3.5);
        assert.deepEqual(a.mean(1).toList(), [3, 4]);
        assert.equal(a.max().item(), 6);
        assert.equal(a.min().item(), 1);
        const { values, indices } = a.max(1);
        assert.deepEqual(values.toList(), [5, 6]);
        assert.deepEqual(indices.toList(), [1, 2]);
        assert.deepEqual(a.min(0).indices.toList(), [0, 1, 0]);
        assert.deepEqual(a.amax(0).toList(), [4, 5, 6]);
        assert.deepEqual(a.amin(1).toList(), [1, 2]);
        assert.equal(a.argmax().item(), 5);
        assert.deepEqual(a.argmax(1).toList(), [1, 2]);
        assert.deepEqual(a.argmin(1).toList(), [0, 1]);
        // var/std with Bessel's correction by default; correction 0 = population variance
        assertClose(tensor([1, 2, 3, 4]).var(), [5 / 3], 1e-6);
        assertClose(tensor([1, 2, 3, 4]).var(undefined, { correction: 0 }), [1.25], 1e-6);
        assertClose(tensor([1, 2, 3, 4]).std(0), [Math.sqrt(5 / 3)], 1e-6);
        assertClose(tensor([3, 4]).norm(), [5], 1e-6);
        assertClose(tensor([0, 0]).logsumexp(0), [Math.log(2)], 1e-6);
        assert.deepEqual(tensor([1, 2, 3]).cumsum(0).toList(), [1, 3, 6]);
        assert.equal(tensor([2, 3, 4]).prod().item(), 24);
        assert.equal(arange(5).sum().dtype, 'int64');
        assert.equal(arange(5).sum(undefined, { dtype: 'float64' }).dtype, 'float64');
      }),
    ));
});

describe('shape and indexing', () => {
  it('views, reshapes, permutes and squeezes', () =>
    assertNoLeak(() =>
      scope(() => {
        const a = arange(6);
        assert.deepEqual(a.view(2, 3).toList(), [
          [0, 1, 2],
          [3, 4, 5],
        ]);
        assert.deepEqual(a.reshape(3, -1).shape, [3, 2]);
        const b = a.view(2, 3).permute(1, 0);
        assert.deepEqual(b.toList(), [
          [0, 3],
          [1, 4],
          [2, 5],
        ]);
        assert.equal(b.isContiguous(), false);
        assert.equal(b.contiguous().isContiguous(), true);
        assert.deepEqual(a.view(2, 3).transpose(0, 1).shape, [3, 2]);
        assert.deepEqual(a.view(2, 3).t().shape, [3, 2]);
        assert.deepEqual(a.unsqueeze(0).shape, [1, 6]);
        assert.deepEqual(a.view(1, 6, 1).squeeze().shape, [6]);
        assert.deepEqual(a.view(1, 6, 1).squeeze(0).shape, [6, 1]);
        assert.deepEqual(a.view(1, 2, 3).flatten(1).shape, [1, 6]);
        assert.deepEqual(
          tensor([[1], [2]])
            .expand(2, 3)
            .toList(),
          [
            [1, 1, 1],
            [2, 2, 2],
          ],
        );
        assert.deepEqual(tensor([1, 2]).repeat(2).toList(), [1, 2, 1, 2]);
        assert.deepEqual(a.narrow(0, 2, 3).toList(), [2, 3, 4]);
        assert.deepEqual(a.view(2, 3).select(1, 2).toList(), [2, 5]);
        assert.deepEqual(a.slice(0, 1, null, 2).toList(), [1, 3, 5]);
        assert.deepEqual(a.slice(0, -2).toList(), [4, 5]);
        assert.deepEqual(a.indexSelect(0, tensor([5n, 0n])).toList(), [5, 0]);
        assert.deepEqual(
          a
            .view(2, 3)
            .index([tensor([1n, 0n]), tensor([2n, 0n])])
            .toList(),
          [5, 0],
        );
        assert.deepEqual(
          a
            .view(2, 3)
            .index([null, tensor([0n])])
            .toList(),
          [[0], [3]],
        );
        assert.deepEqual(
          a
            .view(2, 3)
            .gather(1, tensor([[2n], [0n]]))
            .toList(),
          [[2], [3]],
        );
        assert.deepEqual(
          zeros([2, 3])
            .scatter(1, tensor([[1n], [2n]]), 1)
            .toList(),
          [
            [0, 1, 0],
            [0, 0, 1],
          ],
        );
        assert.deepEqual(
          a.split(4).map((t) => t.toList()),
          [
            [0, 1, 2, 3],
            [4, 5],
          ],
        );
        assert.deepEqual(
          a.chunk(3).map((t) => t.toList()),
          [
            [0, 1],
            [2, 3],
            [4, 5],
          ],
        );
        assert.deepEqual(
          a
            .view(2, 3)
            .unbind(0)
            .map((t) => t.toList()),
          [
            [0, 1, 2],
            [3, 4, 5],
          ],
        );
        assert.deepEqual(tensor([1, 2, 3]).flip(0).toList(), [3, 2, 1]);
        assert.deepEqual(tensor([1, 2, 3]).roll(1).toList(), [3, 1, 2]);
        assert.deepEqual(cat([tensor([1]), tensor([2, 3])]).toList(), [1, 2, 3]);
        assert.deepEqual(stack([tensor([1, 2]), tensor([3, 4])], 1).toList(), [
          [1, 3],
          [2, 4],
        ]);
        assert.deepEqual(zeros([2, 3, 4, 5]).contiguous('channelsLast').isContiguous('channelsLast'), true);
      }),
    ));
});

describe('factories and conversion', () => {
  it('makes constants, ranges and converts dtypes', () =>
    assertNoLeak(() =>
      scope(() => {
        assert.deepEqual(zeros([2]).toList(), [0, 0]);
        assert.deepEqual(ones([2], { dtype: 'int32' }).toList(), [1, 1]);
        assert.equal(ones([2], { dtype: 'int32' }).dtype, 'int32');
        assert.deepEqual(full([2], 7, { dtype: 'int64' }).toList(), [7, 7]);
        assert.deepEqual(arange(1, 2, 0.25).toList(), [1, 1.25, 1.5, 1.75]);
        assert.deepEqual(linspace(0, 1, 3).toList(), [0, 0.5, 1]);
        assert.deepEqual(eye(2).toList(), [
          [1, 0],
          [0, 1],
        ]);
        assert.deepEqual(tensor([1.7, -1.7]).to('int64').toList(), [1, -1]);
        assert.deepEqual(tensor([1.5]).to('float16').to('float32').toList(), [1.5]);
        assert.deepEqual(tensor([1.5]).to('bfloat16').to('float64').toList(), [1.5]);
        assert.equal(tensor(3).shape.length, 0);
        assert.equal(tensor(3).item(), 3);
        const big = tensor([2n ** 53n + 1n]);
        assert.equal(big.dtype, 'int64');
        assert.equal((big.toTypedArray() as BigInt64Array)[0], 2n ** 53n + 1n, 'int64 read exactly as BigInt');
        const f = new Float32Array([1, 2, 3, 4]);
        const shared = fromTypedArray(f, [2, 2], { copy: false });
        f[0] = 10;
        assert.equal(shared.toArray()[0], 10, 'zero-copy import sees writes to the array');
        const copied = fromTypedArray(f, [2, 2]);
        f[1] = 20;
        assert.equal(copied.toArray()[1], 2, 'default import copies');
        const view = copied.dataView() as Float32Array;
        view[3] = 40;
        assert.equal(copied.toArray()[3], 40, 'dataView writes through');
        assert.deepEqual(tensor([[1, 2]]).toList(), [[1, 2]]);
      }),
    ));

  it('draws reproducible random numbers from explicit generators and the global seed', () =>
    scope(() => {
      const g1 = new Generator(42);
      const g2 = new Generator(42);
      assert.deepEqual(rand([5], { generator: g1 }).toList(), rand([5], { generator: g2 }).toList());
      assert.notDeepEqual(rand([5], { generator: g1 }).toList(), rand([5], { generator: new Generator(43) }).toList());
      // torch.manual_seed(0); torch.randn(3) -> [1.5410, -0.2934, -2.1788]
      manualSeed(0);
      assertClose(randn([3]), [1.541, -0.2934, -2.1788], 1e-4);
      const state = g1.getState();
      const a = randn([4], { generator: g1 }).toList();
      g1.setState(state);
      assert.deepEqual(randn([4], { generator: g1 }).toList(), a, 'generator state restores');
      const r = randint(0, 10, [1000], { generator: g1 });
      assert.equal(r.dtype, 'int64');
      assert.ok(r.min().item() >= 0 && r.max().item() <= 9);
      assert.deepEqual(randperm(5, { generator: g1 }).sort().values.toList(), [0, 1, 2, 3, 4]);
      const b = full([10000], 0.3).bernoulli(undefined, g1);
      assert.ok(Math.abs(b.mean().item() - 0.3) < 0.02);
      const c = zeros([10000]).bernoulli(0.7, g1);
      assert.ok(Math.abs(c.mean().item() - 0.7) < 0.02);
      const u = zeros([10000]).uniform_(2, 4, g1);
      assert.ok(u.min().item() >= 2 && u.max().item() < 4);
      const n = zeros([10000]).normal_(1, 2, g1);
      assert.ok(Math.abs(n.mean().item() - 1) < 0.1 && Math.abs(n.std().item() - 2) < 0.1);
      g1.dispose();
      g2.dispose();
    }));
});

describe('linear algebra and nn functions', () => {
  it('multiplies matrices', () =>
    scope(() => {
      const a = tensor([
        [1, 2],
        [3, 4],
      ]);
      const b = tensor([
        [5, 6],
        [7, 8],
      ]);
      assert.deepEqual(a.matmul(b).toList(), [
        [19, 22],
        [43, 50],
      ]);
      assert.deepEqual(a.mm(b).toList(), a.matmul(b).toList());
      assert.deepEqual(a.unsqueeze(0).bmm(b.unsqueeze(0)).squeeze(0).toList(), [
        [19, 22],
        [43, 50],
      ]);
      assert.deepEqual(F.linear(tensor([[1, 1]]), b, tensor([1, 2])).toList(), [[12, 17]]);
    }));

  it('convolves (stride, padding, groups) like the definition', () =>
    scope(() => {
      // 1x1x3x3 input 1..9, 3x3 kernel of ones, padding 1: each output = sum of its neighbourhood
      const x = arange(1, 10).float().view(1, 1, 3, 3);
      const w = ones([1, 1, 3, 3]);
      assert.deepEqual(F.conv2d(x, w, { padding: 1 }).view(9).toList(), [12, 21, 16, 27, 45, 33, 24, 39, 28]);
      assert.deepEqual(F.conv2d(x, w, { padding: 1, stride: 2 }).view(4).toList(), [12, 16, 24, 28]);
      assert.deepEqual(
        F.conv2d(x, w, { bias: tensor([1]) })
          .view(1)
          .toList(),
        [46],
      );
      // depthwise: 2 channels, groups 2, kernel picks the centre times (1, 2)
      const x2 = cat([x, x.mul(10)], 1);
      const wc = zeros([2, 1, 3, 3]);
      wc.indexPut_([tensor([0n, 1n]), tensor([0n, 0n]), tensor([1n, 1n]), tensor([1n, 1n])], tensor([1, 2]));
      assert.deepEqual(F.conv2d(x2, wc, { groups: 2 }).view(2).toList(), [5, 100]);
    }));

  it('normalises with batch norm in train and eval modes, updating running stats', () =>
    scope(() => {
      const x = tensor([1, 3, 5, 7], { dtype: 'float64' }).view(4, 1, 1, 1);
      const rm = zeros([1], { dtype: 'float64' });
      const rv = ones([1], { dtype: 'float64' });
      const y = F.batchNorm(x, { runningMean: rm, runningVar: rv, training: true, momentum: 0.1, eps: 0 });
      // mean 4, biased var 5 -> (x-4)/sqrt(5); running: mean 0.4, var 0.9 + 0.1 * 20/3 (unbiased)
      assertClose(
        y.view(4),
        [-3, -1, 1, 3].map((v) => v / Math.sqrt(5)),
        1e-12,
      );
      assertClose(rm, [0.4], 1e-12);
      assertClose(rv, [0.9 + (0.1 * 20) / 3], 1e-12);
      const e = F.batchNorm(x, {
        weight: tensor([2], { dtype: 'float64' }),
        bias: tensor([1], { dtype: 'float64' }),
        runningMean: rm,
        runningVar: rv,
        training: false,
        eps: 0,
      });
      assertClose(
        e.view(4),
        [1, 3, 5, 7].map((v) => (2 * (v - 0.4)) / Math.sqrt(0.9 + 2 / 3) + 1),
        1e-12,
      );
    }));

  it('computes softmax, log-softmax, top-k and sorts', () =>
    scope(() => {
      const x = tensor([[1, 2, 3]], { dtype: 'float64' });
      const z = Math.exp(1) + Math.exp(2) + Math.exp(3);
      assertClose(x.softmax(1), [Math.exp(1) / z, Math.exp(2) / z, Math.exp(3) / z], 1e-12);
      assertClose(x.logSoftmax(1), [1 - Math.log(z), 2 - Math.log(z), 3 - Math.log(z)], 1e-12);
      const { values, indices } = tensor([3, 1, 4, 1, 5, 9, 2, 6]).topk(3);
      assert.deepEqual(values.toList(), [9, 6, 5]);
      assert.deepEqual(indices.toList(), [5, 7, 4]);
      assert.deepEqual(tensor([3, 1, 2]).sort().values.toList(), [1, 2, 3]);
      assert.deepEqual(tensor([3, 1, 2]).argsort(0, true).toList(), [0, 2, 1]);
    }));

  it('pads, pools and computes losses', () =>
    scope(() => {
      const x = arange(1, 5).float().view(1, 1, 2, 2);
      assert.deepEqual(F.pad(x, [1, 0, 0, 1]).view(9).toList(), [0, 1, 2, 0, 3, 4, 0, 0, 0]);
      assert.deepEqual(F.pad(x, [1, 1, 0, 0], 'constant', -1).view(8).toList(), [-1, 1, 2, -1, -1, 3, 4, -1]);
      assert.deepEqual(F.pad(x, [1, 0, 0, 0], 'reflect').view(6).toList(), [2, 1, 2, 4, 3, 4]);
      assert.deepEqual(F.pad(x, [1, 0, 0, 0], 'replicate').view(6).toList(), [1, 1, 2, 3, 3, 4]);
      assert.deepEqual(F.adaptiveAvgPool2d(x, 1).view(1).toList(), [2.5]);
      assert.deepEqual(F.adaptiveMaxPool2d(x, 1).view(1).toList(), [4]);
      assert.deepEqual(F.maxPool2d(x, 2).view(1).toList(), [4]);
      assert.deepEqual(F.avgPool2d(x, 2).view(1).toList(), [2.5]);
      const logits = tensor([[0, 0, Math.log(2)]], { dtype: 'float64' });
      const target = tensor([2n]);
      // -log(2/4)
      assertClose(F.crossEntropy(logits, target), [Math.log(2)], 1e-12);
      // label smoothing 0.3 over 3 classes: target dist (0.1, 0.1, 0.8)
      const logp = [Math.log(0.25), Math.log(0.25), Math.log(0.5)];
      assertClose(F.crossEntropy(logits, target, { labelSmoothing: 0.3 }), [-(0.1 * logp[0]! + 0.1 * logp[1]! + 0.8 * logp[2]!)], 1e-12);
      // probability targets
      assertClose(F.crossEntropy(logits, tensor([[0.5, 0, 0.5]], { dtype: 'float64' })), [-(0.5 * logp[0]! + 0.5 * logp[2]!)], 1e-12);
      assertClose(F.nllLoss(logits.logSoftmax(1), target), [Math.log(2)], 1e-12);
      assertClose(F.mseLoss(tensor([1, 2]), tensor([3, 2])), [2], 0);
      assert.deepEqual(F.crossEntropy(logits, target, { reduction: 'none' }).shape, [1]);
      // dropout: identity in eval, zero-or-scaled in train
      assert.deepEqual(ones([4]).dropout(0.5, false).toList(), [1, 1, 1, 1]);
      const d = ones([1000]).dropout(0.5, true).toArray();
      assert.ok(d.every((v) => v === 0 || v === 2));
      assert.deepEqual(
        F.embedding(
          tensor([
            [1, 2],
            [3, 4],
          ]),
          tensor([1n, 0n]),
        ).toList(),
        [
          [3, 4],
          [1, 2],
        ],
      );
    }));
});
