// The execution context: defaults and validation, refusal of what this build cannot do (float16 autocast on the CPU),
// the device check, and its generator reaching dropout and drop-path in forward and trainStep.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { F, Generator, liveTensorCount, noGrad, ones, scope, tensor, type Tensor } from '../../src/torch/index.js';
import { BatchNorm2d, Module, defaultContext, dropPath, dropout, executionContext, type ForwardContext } from '../../src/nn/index.js';
import { createModel } from '../../src/models/index.js';
import { SGD, trainStep } from '../../src/train/index.js';

describe('executionContext', () => {
  it('fills the defaults: cpu, no autocast, no process group', () => {
    assert.deepEqual(defaultContext(), { device: 'cpu', autocast: null, processGroup: null });
    assert.deepEqual(executionContext(), defaultContext());
    const g = new Generator(1);
    const c = executionContext({ device: 'cuda:1', autocast: 'bfloat16', generator: g });
    assert.equal(c.device, 'cuda:1');
    assert.equal(c.autocast, 'bfloat16');
    assert.equal(c.processGroup, null);
    assert.equal(c.generator, g);
    g.dispose();
  });

  it('refuses a malformed device or autocast dtype', () => {
    assert.throws(() => executionContext({ device: 'CUDA 0' }), /libtorch device string/);
    assert.throws(() => executionContext({ autocast: 'int8' as never }), /autocast must be one of/);
  });
});

describe('the context in forward and trainStep', () => {
  it('autocast the CPU lacks (float16) is refused at forward and trainStep time, not ignored', async () => {
    const start = liveTensorCount();
    const model = await createModel('tf_efficientnet_b0', { numClasses: 2, inChans: 1 });
    const x = ones([1, 1, 32, 32]);
    noGrad(() =>
      scope(() => {
        assert.throws(() => model.forward(x, { autocast: 'float16' }), /CPU autocast runs in bfloat16 only/);
        assert.throws(() => model.forwardFeatures(x, { autocast: 'float16' }), /EfficientNet.forwardFeatures: .*bfloat16 only/);
        assert.equal(model.forward(x, { autocast: 'bfloat16' }).dtype, 'bfloat16');
        assert.equal(model.forward(x, { autocast: 'float32' }).shape[1], 2);
      }),
    );
    const opt = new SGD([{ params: [...model.namedParameters()] }], { lr: 0.1 });
    const batch = { x, target: tensor([1n]) };
    const lossFn = (l: Tensor, b: typeof batch) => F.crossEntropy(l, b.target);
    assert.throws(
      () => trainStep(model, [batch], { optimizer: opt, lossFn, context: { autocast: 'float16' } }, { step: 0 }),
      /trainStep: autocast: CPU autocast runs in bfloat16 only/,
    );
    assert.throws(() => model.forward(x, { device: 'cuda' }), /cuda/);
    opt.dispose();
    model.dispose();
    x.dispose();
    batch.target.dispose();
    assert.equal(liveTensorCount(), start);
  });

  it("dropout and drop-path follow the caller's mode and draw from the context's generator", () =>
    scope(() => {
      const x = ones([64, 8]);
      const draw = (seed: number, fn: (x: Tensor, g: Generator) => Tensor): number[] => {
        const g = new Generator(seed);
        try {
          return fn(x, g).toArray();
        } finally {
          g.dispose();
        }
      };
      assert.deepEqual(
        draw(3, (t, g) => dropout(t, 0.5, true, g)),
        draw(3, (t, g) => dropout(t, 0.5, true, g)),
      );
      assert.notDeepEqual(
        draw(3, (t, g) => dropPath(t, 0.5, true, g)),
        draw(4, (t, g) => dropPath(t, 0.5, true, g)),
      );
      assert.deepEqual(
        draw(3, (t, g) => dropout(t, 0.5, false, g)),
        x.toArray(),
      );
    }));

  it('trainStep passes context.generator (or the older generator option) to forward', async () => {
    class Probe extends Module {
      seen: ForwardContext | undefined;
      constructor() {
        super();
        this.registerModule('bn', new BatchNorm2d(1));
      }
      forward(x: Tensor, ctx?: ForwardContext): Tensor {
        this.seen = ctx;
        return x.flatten(1).mul(this.parameters()[0]!);
      }
    }
    const m = new Probe();
    const opt = new SGD([{ params: [...m.namedParameters()] }], { lr: 0.1 });
    const g = new Generator(5);
    const x = ones([2, 1, 1, 1]);
    const lossFn = (l: Tensor) => l.sum();
    trainStep(m, [{ x, target: x }], { optimizer: opt, lossFn, context: { generator: g } }, { step: 0 });
    assert.equal(m.seen?.generator, g);
    assert.equal(m.seen?.device, undefined, 'no device named: wherever the model already is');
    trainStep(m, [{ x, target: x }], { optimizer: opt, lossFn, context: { device: 'cpu' } }, { step: 0 });
    assert.equal(m.seen?.device, 'cpu');
    trainStep(m, [{ x, target: x }], { optimizer: opt, lossFn, generator: g }, { step: 0 });
    assert.equal(m.seen?.generator, g);
    assert.equal('training' in (m.seen ?? {}), false, 'the mode is not in the context');
    g.dispose();
    x.dispose();
    opt.dispose();
    m.dispose();
  });
});
