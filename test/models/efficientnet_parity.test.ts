// tf_efficientnet_b0 against the real timm: eval outputs, feature maps, odd input sizes, and the
// training-mode step (loss, gradients, BN running stats, two SGD steps). Tolerances: tolerances.json.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { F, liveTensorCount, noGrad, scope, type Tensor } from '../../src/torch/index.js';
import { createModel, type EfficientNet } from '../../src/models/index.js';
import { B0_WEIGHTS, loadB0Fixtures, ref, tol } from '../helpers/b0_fixture.js';
import { assertClose } from '../helpers/tensors.js';

let io: Map<string, Tensor>;
let step: Map<string, Tensor>;
let start: number;
before(() => {
  start = liveTensorCount();
  ({ io, step } = loadB0Fixtures());
});
after(() => {
  for (const t of [...io.values(), ...step.values()]) t.dispose();
  assert.equal(liveTensorCount(), start, 'every tensor of the parity tests was released');
});

describe('tf_efficientnet_b0 vs timm (eval)', () => {
  let model: EfficientNet;
  before(async () => {
    model = await createModel('tf_efficientnet_b0.ns_jft_in1k', { checkpointPath: B0_WEIGHTS });
    model.eval();
  });
  after(() => model.dispose());

  it('logits, features and pre-logits', () =>
    noGrad(() =>
      scope(() => {
        const x = ref(io, 'x');
        const feats = model.forwardFeatures(x);
        assertClose(feats, ref(io, 'features'), tol('io.safetensors', 'features'), 'features');
        assertClose(
          model.forwardHead(feats, { preLogits: true }),
          ref(io, 'pre_logits'),
          tol('io.safetensors', 'pre_logits'),
          'pre_logits',
        );
        assertClose(model.forwardHead(feats), ref(io, 'logits'), tol('io.safetensors', 'logits'), 'logits');
        assertClose(model.forward(x), ref(io, 'logits'), tol('io.safetensors', 'logits'), 'forward');
      }),
    ));

  it('odd and mixed input sizes (dynamic TF SAME padding)', () =>
    noGrad(() =>
      scope(() => {
        assertClose(model.forward(ref(io, 'x_odd')), ref(io, 'logits_odd'), tol('io.safetensors', 'logits_odd'), 'logits_odd');
        assertClose(model.forward(ref(io, 'x_mixed')), ref(io, 'logits_mixed'), tol('io.safetensors', 'logits_mixed'), 'logits_mixed');
      }),
    ));

  it('float64 model matches timm in float64', async () => {
    const m64 = (await createModel('tf_efficientnet_b0', { checkpointPath: B0_WEIGHTS })).to('float64');
    m64.eval();
    noGrad(() =>
      scope(() => {
        for (const [x, y] of [
          ['x', 'logits_f64'],
          ['x_odd', 'logits_odd_f64'],
          ['x_mixed', 'logits_mixed_f64'],
        ] as const) {
          assertClose(m64.forward(ref(io, x).double()), ref(io, y), tol('io.safetensors', y), y);
        }
      }),
    );
    m64.dispose();
  });
});

describe('tf_efficientnet_b0 vs timm (features_only)', () => {
  it('the five feature maps and feature_info', async () => {
    const fm = await createModel('tf_efficientnet_b0.ns_jft_in1k', {
      checkpointPath: B0_WEIGHTS,
      featuresOnly: true,
      outIndices: [0, 1, 2, 3, 4],
    });
    fm.eval();
    assert.deepEqual(
      fm.featureInfo.map((f) => [f.module, f.numChs, f.reduction]),
      [
        ['blocks.0', 16, 2],
        ['blocks.1', 24, 4],
        ['blocks.2', 40, 8],
        ['blocks.4', 112, 16],
        ['blocks.6', 320, 32],
      ],
    );
    noGrad(() =>
      scope(() => {
        const maps = fm.forwardFeatureMaps(ref(io, 'x'));
        assert.equal(maps.length, 5);
        maps.forEach((m, i) =>
          assertClose(m, ref(io, `feature_maps.${i}`), tol('io.safetensors', `feature_maps.${i}`), `feature_maps.${i}`),
        );
      }),
    );
    fm.dispose();
  });
});

describe('tf_efficientnet_b0 vs timm (training step)', () => {
  it('loss, gradients, BN running stats and two SGD steps (lr 0.1, momentum 0.9, wd 1e-5)', async () => {
    const model = await createModel('tf_efficientnet_b0.ns_jft_in1k', { checkpointPath: B0_WEIGHTS, dropRate: 0, dropPathRate: 0 });
    model.train();
    const params = [...model.namedParameters()];
    const T = 'train_step.safetensors';
    const lr = 0.1;
    const momentum = 0.9;
    const wd = 1e-5;
    const bufs = new Map<string, Tensor>();
    // torch.optim.SGD: buf = g + wd*p on the first step, then buf = momentum*buf + (g + wd*p); p -= lr*buf.
    const sgdStep = (): void =>
      noGrad(() =>
        scope(() => {
          for (const [name, p] of params) {
            const g = p.grad!.add(p, wd);
            const b = bufs.get(name);
            if (b) b.mul_(momentum).add_(g);
            else bufs.set(name, g.clone().keep());
            p.sub_(bufs.get(name)!, lr);
          }
        }),
      );
    const sd = model.stateDict();
    scope(() => {
      const logits = model.forward(ref(io, 'x'));
      assertClose(logits, ref(step, 'logits_train'), tol(T, 'logits_train'), 'logits_train');
      const loss = F.crossEntropy(logits, ref(step, 'targets'));
      assertClose(loss, ref(step, 'loss'), tol(T, 'loss'), 'loss');
      loss.backward();
    });
    for (const k of [
      'conv_stem.weight',
      'bn1.weight',
      'bn1.bias',
      'blocks.0.0.conv_dw.weight',
      'bn2.weight',
      'bn2.bias',
      'classifier.weight',
      'classifier.bias',
    ]) {
      scope(() => assertClose(sd.get(k)!.grad!, ref(step, `grad.${k}`), tol(T, `grad.${k}`), `grad.${k}`));
    }
    for (const k of [
      'bn1.running_mean',
      'bn1.running_var',
      'bn1.num_batches_tracked',
      'bn2.running_mean',
      'bn2.running_var',
      'bn2.num_batches_tracked',
    ]) {
      assertClose(sd.get(k)!, ref(step, `after_fwd.${k}`), tol(T, `after_fwd.${k}`), `after_fwd.${k}`);
    }
    sgdStep();
    for (const k of ['classifier.weight', 'classifier.bias', 'conv_stem.weight', 'bn2.weight']) {
      assertClose(sd.get(k)!, ref(step, `step1.${k}`), tol(T, `step1.${k}`), `step1.${k}`);
    }
    for (const [, p] of params) p.grad = null;
    scope(() => {
      const loss = F.crossEntropy(model.forward(ref(io, 'x')), ref(step, 'targets'));
      assertClose(loss, ref(step, 'step2.loss'), tol(T, 'step2.loss'), 'step2.loss');
      loss.backward();
    });
    sgdStep();
    for (const k of ['classifier.bias', 'conv_stem.weight', 'bn2.weight', 'bn1.running_mean']) {
      assertClose(sd.get(k)!, ref(step, `step2.${k}`), tol(T, `step2.${k}`), `step2.${k}`);
    }
    for (const [, p] of params) p.grad = null;
    for (const b of bufs.values()) b.dispose();
    model.dispose();
  });
});
