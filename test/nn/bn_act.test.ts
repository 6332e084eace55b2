// The fused training BatchNorm + activation (native/src/bn_act.cc) against libtorch's own
// aten::batch_norm(training) followed by the activation: outputs, running statistics and the
// gradients of input, weight and bias, in NCHW and channels_last; the cases it hands back to aten.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  F,
  Generator,
  batchNormActTraining,
  fusedBatchNormActSupported,
  liveTensorCount,
  ones,
  randn,
  scope,
  zeros,
  type Tensor,
} from '../../src/torch/index.js';
import { BatchNorm2d } from '../../src/nn/index.js';

const maxDiff = (a: Tensor, b: Tensor): number => a.sub(b).abs().max().item();
const maxAbs = (a: Tensor): number => a.abs().max().item();

function reference(x: Tensor, w: Tensor, b: Tensor, rm: Tensor, rv: Tensor, act: string): Tensor {
  const y = F.batchNorm(x, { weight: w, bias: b, runningMean: rm, runningVar: rv, training: true, momentum: 0.1, eps: 1e-3 });
  return act === 'silu' ? y.silu() : act === 'relu' ? y.relu() : y;
}

describe('fused training batch norm + activation', () => {
  const cases = [
    { shape: [8, 16, 5, 7], cl: false, act: 'silu' },
    { shape: [8, 16, 5, 7], cl: true, act: 'silu' },
    { shape: [6, 24, 9, 9], cl: true, act: 'none' },
    { shape: [5, 40, 3, 3], cl: false, act: 'relu' },
    { shape: [4, 32, 1, 1], cl: false, act: 'silu' },
    { shape: [3, 8, 600, 1], cl: false, act: 'silu' }, // planes longer than one accumulation chunk
  ] as const;
  for (const c of cases) {
    it(`matches aten batch_norm + ${c.act}, ${c.shape.join('x')} ${c.cl ? 'channels_last' : 'NCHW'}`, () => {
      const start = liveTensorCount();
      scope(() => {
        const g = new Generator(7);
        const C = c.shape[1];
        // An offset mean: the statistics must not cancel (E[x^2] - E[x]^2 at mean 50, std 2).
        let x0 = randn([...c.shape], { generator: g })
          .mul(2)
          .add(50);
        if (c.cl) x0 = x0.contiguous('channelsLast');
        const go = randn([...c.shape], { generator: g });
        const w0 = randn([C], { generator: g });
        const b0 = randn([C], { generator: g });
        const make = () => ({
          x: x0.clone().requiresGrad_(true),
          w: w0.clone().requiresGrad_(true),
          b: b0.clone().requiresGrad_(true),
          rm: zeros([C]).add(0.5),
          rv: ones([C]).mul(2),
        });
        const A = make();
        const B = make();
        assert.equal(fusedBatchNormActSupported(A.x, c.act), true);
        const ya = batchNormActTraining(A.x, {
          weight: A.w,
          bias: A.b,
          runningMean: A.rm,
          runningVar: A.rv,
          momentum: 0.1,
          eps: 1e-3,
          act: c.act,
        })!;
        const yb = reference(B.x, B.w, B.b, B.rm, B.rv, c.act);
        assert.ok(maxDiff(ya, yb) < 1e-5 * Math.max(1, maxAbs(yb)), `output differs by ${maxDiff(ya, yb)}`);
        if (c.cl && c.shape[2] * c.shape[3] > 1) assert.ok(ya.isContiguous('channelsLast'), 'keeps the channels_last layout');
        assert.ok(maxDiff(A.rm, B.rm) < 1e-4, `running_mean differs by ${maxDiff(A.rm, B.rm)}`);
        assert.ok(maxDiff(A.rv, B.rv) < 1e-4 * maxAbs(B.rv), `running_var differs by ${maxDiff(A.rv, B.rv)}`);
        ya.mul(go).sum().backward();
        yb.mul(go).sum().backward();
        for (const k of ['x', 'w', 'b'] as const) {
          const ga = A[k].grad!;
          const gb = B[k].grad!;
          assert.ok(maxDiff(ga, gb) < 1e-4 * Math.max(1e-3, maxAbs(gb)), `grad ${k} differs by ${maxDiff(ga, gb)} (max ${maxAbs(gb)})`);
        }
        g.dispose();
      });
      assert.equal(liveTensorCount(), start);
    });
  }

  it('hands back to aten (null) what it does not take: bfloat16, one value per channel, other activations', () =>
    scope(() => {
      const opts = { weight: ones([4]), bias: zeros([4]), runningMean: zeros([4]), runningVar: ones([4]), momentum: 0.1, eps: 1e-5 };
      assert.equal(batchNormActTraining(ones([2, 4, 3, 3]).to('bfloat16'), { ...opts, act: 'silu' }), null);
      assert.equal(batchNormActTraining(ones([1, 4, 1, 1]), { ...opts, act: 'silu' }), null);
      assert.equal(batchNormActTraining(ones([2, 4, 3, 3]), { ...opts, act: 'gelu' }), null);
    }));

  it('BatchNorm2d with SiLU trains channels_last inputs through it and equals aten batch_norm + SiLU', () =>
    scope(() => {
      const bn = new BatchNorm2d(6, { act: 'silu', eps: 1e-3 });
      bn.train();
      // channels_last: the layout BatchNorm2d takes the fused path for.
      const x = randn([4, 6, 5, 5], { generator: new Generator(9) }).contiguous('channelsLast');
      const rm = zeros([6]);
      const rv = ones([6]);
      const ref = reference(x, ones([6]), zeros([6]), rm, rv, 'silu');
      const y = bn.forward(x);
      assert.ok(maxDiff(y, ref) < 1e-5, `differs by ${maxDiff(y, ref)}`);
      assert.equal(y.gradFn?.name.includes('CppNode') || y.gradFn?.name.includes('BnAct'), true, `grad_fn ${y.gradFn?.name}`);
      assert.ok(maxDiff(bn.stateDict().get('running_var')!, rv) < 1e-5);
      bn.dispose();
    }));
});
