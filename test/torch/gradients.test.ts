// Gradients of every differentiable op family, against central finite differences in float64.
import { describe, it } from 'node:test';
import { F, cat, stack, tensor, type Tensor } from '../../src/torch/index.js';
import { assertNoLeak, gradcheck, seeded } from '../helpers/tensors.js';

const inp = (shape: number[], seed: number, shift = 0): { data: number[]; shape: number[] } => ({
  data: seeded(
    shape.reduce((a, b) => a * b, 1),
    seed,
  ).map((v) => v + shift),
  shape,
});
// A fixed non-uniform weighting so that sum() does not hide wrong per-element gradients.
const weigh = (y: Tensor): Tensor => {
  const n = y.numel();
  return y
    .reshape(n)
    .mul(tensor(seeded(n, 99), { dtype: 'float64' }))
    .sum();
};

describe('gradients match finite differences (float64)', () => {
  it('elementwise arithmetic', () =>
    assertNoLeak(() => {
      gradcheck((a, b) => weigh(a!.add(b!, 2)), [inp([2, 3], 1), inp([3], 2)], { what: 'add(alpha) with broadcast' });
      gradcheck((a, b) => weigh(a!.sub(b!)), [inp([2, 3], 3), inp([2, 3], 4)], { what: 'sub' });
      gradcheck((a, b) => weigh(a!.mul(b!)), [inp([2, 3], 5), inp([2, 1], 6)], { what: 'mul' });
      gradcheck((a, b) => weigh(a!.div(b!)), [inp([4], 7), inp([4], 8, 3)], { what: 'div' });
      gradcheck((a) => weigh(a!.pow(3)), [inp([4], 9)], { what: 'pow scalar' });
      gradcheck((a, b) => weigh(a!.pow(b!)), [inp([4], 10, 2), inp([4], 11)], { what: 'pow tensor' });
      gradcheck((a) => weigh(a!.mul(2.5).add(1)), [inp([3], 12)], { what: 'scalar mul/add' });
      gradcheck((a, b) => weigh(a!.maximum(b!)), [inp([5], 13), inp([5], 14)], { what: 'maximum' });
      gradcheck((a) => weigh(a!.clamp(-0.5, 0.5)), [inp([6], 15)], { what: 'clamp' });
    }));

  it('unary functions and activations', () =>
    assertNoLeak(() => {
      for (const [name, f, shift] of [
        ['exp', (t: Tensor) => t.exp(), 0],
        ['log', (t: Tensor) => t.log(), 2],
        ['sqrt', (t: Tensor) => t.sqrt(), 2],
        ['rsqrt', (t: Tensor) => t.rsqrt(), 2],
        ['sigmoid', (t: Tensor) => t.sigmoid(), 0],
        ['tanh', (t: Tensor) => t.tanh(), 0],
        ['relu', (t: Tensor) => t.relu(), 0],
        ['silu', (t: Tensor) => t.silu(), 0],
        ['gelu', (t: Tensor) => t.gelu(), 0],
        ['abs', (t: Tensor) => t.abs(), 0],
        ['neg', (t: Tensor) => t.neg(), 0],
        ['reciprocal', (t: Tensor) => t.reciprocal(), 2],
        ['sin', (t: Tensor) => t.sin(), 0],
        ['square', (t: Tensor) => t.square(), 0],
      ] as const) {
        gradcheck((a) => weigh(f(a!)), [inp([6], 20, shift)], { what: name });
      }
    }));

  it('reductions', () =>
    assertNoLeak(() => {
      gradcheck((a) => weigh(a!.sum(1)), [inp([2, 3], 30)], { what: 'sum(dim)' });
      gradcheck((a) => a!.mean(), [inp([2, 3], 31)], { what: 'mean' });
      gradcheck((a) => weigh(a!.mean([0, 2], { keepdim: true })), [inp([2, 3, 2], 32)], { what: 'mean(dims)' });
      gradcheck((a) => weigh(a!.var(1)), [inp([2, 4], 33)], { what: 'var' });
      gradcheck((a) => weigh(a!.std(0)), [inp([3, 2], 34)], { what: 'std' });
      gradcheck((a) => a!.norm(), [inp([5], 35)], { what: 'norm' });
      gradcheck((a) => weigh(a!.max(1).values), [inp([3, 4], 36)], { what: 'max(dim)' });
      gradcheck((a) => weigh(a!.amax(0)), [inp([3, 4], 37)], { what: 'amax' });
      gradcheck((a) => weigh(a!.logsumexp(1)), [inp([2, 4], 38)], { what: 'logsumexp' });
      gradcheck((a) => weigh(a!.cumsum(0)), [inp([4], 39)], { what: 'cumsum' });
    }));

  it('shape and indexing', () =>
    assertNoLeak(() => {
      gradcheck((a) => weigh(a!.view(3, 2).permute(1, 0).contiguous()), [inp([6], 40)], { what: 'view/permute' });
      gradcheck((a) => weigh(a!.transpose(0, 1).reshape(6)), [inp([2, 3], 41)], { what: 'transpose/reshape' });
      gradcheck((a) => weigh(a!.unsqueeze(1).expand(3, 2)), [inp([3], 42)], { what: 'expand' });
      gradcheck((a) => weigh(a!.repeat(2)), [inp([3], 43)], { what: 'repeat' });
      gradcheck((a) => weigh(a!.slice(0, 1, null, 2)), [inp([6], 44)], { what: 'slice' });
      gradcheck((a) => weigh(a!.narrow(1, 1, 2)), [inp([2, 4], 45)], { what: 'narrow' });
      gradcheck((a) => weigh(a!.select(0, 1)), [inp([2, 3], 46)], { what: 'select' });
      gradcheck((a) => weigh(a!.indexSelect(0, tensor([2n, 0n, 2n]))), [inp([3, 2], 47)], { what: 'index_select (repeated index)' });
      gradcheck((a) => weigh(a!.index([tensor([1n, 0n]), tensor([2n, 1n])])), [inp([2, 3], 48)], { what: 'index' });
      gradcheck(
        (a) =>
          weigh(
            a!.gather(
              1,
              tensor([
                [2n, 0n],
                [1n, 1n],
              ]),
            ),
          ),
        [inp([2, 3], 49)],
        { what: 'gather' },
      );
      gradcheck((a, b) => weigh(cat([a!, b!], 1)), [inp([2, 1], 50), inp([2, 3], 51)], { what: 'cat' });
      gradcheck((a, b) => weigh(stack([a!, b!])), [inp([3], 52), inp([3], 53)], { what: 'stack' });
      gradcheck((a) => weigh(a!.flip(0)), [inp([4], 54)], { what: 'flip' });
      gradcheck((a, b) => weigh(a!.where(tensor([true, false, true]), b!)), [inp([3], 55), inp([3], 56)], { what: 'where' });
      gradcheck((a) => weigh(a!.split(2)[1]!), [inp([5], 57)], { what: 'split' });
    }));

  it('linear algebra', () =>
    assertNoLeak(() => {
      gradcheck((a, b) => weigh(a!.matmul(b!)), [inp([2, 3], 60), inp([3, 2], 61)], { what: 'matmul' });
      gradcheck((a, b) => weigh(a!.bmm(b!)), [inp([2, 2, 3], 62), inp([2, 3, 1], 63)], { what: 'bmm' });
      gradcheck((x, w, b) => weigh(F.linear(x!, w!, b!)), [inp([2, 3], 64), inp([4, 3], 65), inp([4], 66)], { what: 'linear' });
    }));

  it('convolution: stride, padding, dilation, groups', () =>
    assertNoLeak(() => {
      gradcheck(
        (x, w, b) => weigh(F.conv2d(x!, w!, { bias: b!, padding: 1 })),
        [inp([1, 2, 4, 4], 70), inp([3, 2, 3, 3], 71), inp([3], 72)],
        {
          what: 'conv2d',
        },
      );
      gradcheck((x, w) => weigh(F.conv2d(x!, w!, { stride: 2, padding: [0, 1] })), [inp([2, 1, 5, 4], 73), inp([2, 1, 3, 3], 74)], {
        what: 'conv2d stride 2',
      });
      gradcheck((x, w) => weigh(F.conv2d(x!, w!, { groups: 2, dilation: 2, padding: 2 })), [inp([1, 2, 5, 5], 75), inp([2, 1, 3, 3], 76)], {
        what: 'depthwise dilated conv2d',
      });
    }));

  it('normalisation, pooling, padding, softmax and losses', () =>
    assertNoLeak(() => {
      gradcheck(
        (x, w, b) => weigh(F.batchNorm(x!, { weight: w!, bias: b!, training: true, eps: 1e-3 })),
        [inp([3, 2, 2, 2], 80), inp([2], 81, 1), inp([2], 82)],
        { what: 'batch_norm (train)' },
      );
      gradcheck((x) => weigh(F.pad(x!, [1, 2, 0, 1])), [inp([1, 1, 2, 3], 83)], { what: 'constant pad' });
      gradcheck((x) => weigh(F.pad(x!, [1, 1, 1, 1], 'reflect')), [inp([1, 1, 3, 3], 84)], { what: 'reflect pad' });
      gradcheck((x) => weigh(F.adaptiveAvgPool2d(x!, 1)), [inp([2, 3, 3, 2], 85)], { what: 'adaptive avg pool' });
      gradcheck((x) => weigh(F.maxPool2d(x!, 2)), [inp([1, 2, 4, 4], 86)], { what: 'max pool' });
      gradcheck((x) => weigh(F.avgPool2d(x!, 2, { stride: 1 })), [inp([1, 1, 3, 3], 87)], { what: 'avg pool' });
      gradcheck((x) => weigh(x!.softmax(1)), [inp([2, 4], 88)], { what: 'softmax' });
      gradcheck((x) => weigh(x!.logSoftmax(0)), [inp([3, 2], 89)], { what: 'log_softmax' });
      gradcheck((x) => F.crossEntropy(x!, tensor([2n, 0n]), { labelSmoothing: 0.1 }), [inp([2, 3], 90)], {
        what: 'cross entropy + smoothing',
      });
      gradcheck((x, p) => F.crossEntropy(x!, p!.softmax(1)), [inp([2, 3], 91), inp([2, 3], 92)], { what: 'soft-target cross entropy' });
      gradcheck((x, y) => F.mseLoss(x!, y!), [inp([4], 93), inp([4], 94)], { what: 'mse' });
    }));
});
