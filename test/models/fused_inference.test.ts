// The fused libtorch path (FusedTorchInferenceModel): BatchNorm folded into the convs and the whole
// forward replayed natively must give timm's outputs on the b0 fixture (logits, pre-logits, odd
// and mixed input sizes, feature maps) within tolerances.json, the eager path's top-5, and, on
// variants the fixture does not cover (other activations, block kinds, pools, padding, dilation),
// our eager model's outputs (which the fixture checks). No tensor may outlive build + run + dispose.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Generator, liveTensorCount, noGrad, type Tensor } from '../../src/torch/index.js';
import {
  EfficientNet,
  FusedTorchInferenceModel,
  createModel,
  inferenceBatch,
  inferenceModelFrom,
  topkRows,
  type InferenceArray,
  type InferenceBatch,
} from '../../src/models/index.js';
import { resolveEfficientNetSpec, type EfficientNetGenConfig } from '../../src/models/builder_spec.js';
import { genConfig } from '../../src/models/variants.js';
import { resolveDataConfig } from '../../src/data/index.js';
import { B0_WEIGHTS, loadB0Fixtures, ref, tol } from '../helpers/b0_fixture.js';
import { assertClose, maxAbsDiff } from '../helpers/tensors.js';

const NAME = 'tf_efficientnet_b0.ns_jft_in1k';
const IO = 'io.safetensors';
let io: Map<string, Tensor>;
let step: Map<string, Tensor>;
let start: number;
before(() => {
  start = liveTensorCount();
  ({ io, step } = loadB0Fixtures());
});
after(() => {
  for (const t of [...io.values(), ...step.values()]) t.dispose();
  assert.equal(liveTensorCount(), start, 'every tensor of the fused inference tests was released');
});
const batchOf = (k: string): InferenceBatch => inferenceBatch(ref(io, k));
const top = (a: InferenceArray, k: number): number[][] => {
  const t = topkRows(a, k);
  const rows: number[][] = [];
  for (let r = 0; r < t.shape[0]; r++) rows.push(Array.from(t.indices.subarray(r * k, (r + 1) * k)));
  return rows;
};

describe('FusedTorchInferenceModel on the b0 fixture', () => {
  let model: EfficientNet;
  let fused: FusedTorchInferenceModel;
  before(async () => {
    model = await createModel(NAME, { checkpointPath: B0_WEIGHTS });
    model.eval();
    fused = new FusedTorchInferenceModel(model);
  });
  after(() => {
    fused.dispose();
    model.dispose();
  });

  it('describes itself like the eager model', () => {
    const eager = inferenceModelFrom(model);
    assert.equal(fused.backend, 'torch-fused');
    assert.equal(fused.precision, 'fp32');
    assert.equal(fused.device, 'cpu');
    assert.equal(fused.name, NAME);
    for (const k of ['numClasses', 'numFeatures', 'labelNames', 'outputs', 'featureInfo'] as const) {
      assert.deepEqual(fused[k], eager[k], k);
    }
    assert.deepEqual(resolveDataConfig({}, fused), resolveDataConfig({}, eager));
    const impls = new Set(fused.describe().map((d) => `${d.kind}:${d.impl}`));
    // oneDNN directly (activation as a post-op) when the addon was built with its headers, else through ATen.
    // (Then its 3x3 depthwise too; through ATen the own kernel runs them.)
    const direct = impls.has('conv1x1:dnnl-post-ops');
    const onednn = direct ? 'dnnl-post-ops' : 'mkldnn-prepacked';
    assert.ok(
      impls.has(`dw3x3:${direct ? onednn : 'depthwise'}`) &&
        impls.has(`dw5x5:${onednn}`) &&
        impls.has(`conv1x1:${onednn}`) &&
        impls.has(`stem:${onednn}`),
      `3x3 depthwise on oneDNN directly or on the own kernel, 5x5 and dense convs on oneDNN: ${[...impls].join(' ')}`,
    );
  });

  it("gives timm's logits and pre-logits (even, odd and mixed sizes), and the eager path's top-5", async () => {
    const eager = inferenceModelFrom(model);
    for (const [x, y] of [
      ['x', 'logits'],
      ['x_odd', 'logits_odd'],
      ['x_mixed', 'logits_mixed'],
    ] as const) {
      const live = liveTensorCount();
      const got = await fused.run(batchOf(x));
      assert.equal(liveTensorCount(), live, `${x}: live tensors after run`);
      assert.ok(got.data instanceof Float32Array);
      assert.deepEqual(got.shape, [...ref(io, y).shape]);
      assertClose(got.data, ref(io, y), tol(IO, y), y);
      assert.deepEqual(top(got, 5), top(await eager.run(batchOf(x)), 5), `${x}: top-5 as the eager path`);
    }
    const pre = await fused.run(batchOf('x'), 'pre_logits');
    assert.deepEqual(pre.shape, [2, 1280]);
    assertClose(pre.data, ref(io, 'pre_logits'), tol(IO, 'pre_logits'), 'pre_logits');
  });

  it("the own depthwise kernel and the ATen convs (the other kernel choices) give timm's logits too", async () => {
    for (const kernels of [{ ownDepthwise: true }, { dnnl: false }, { dnnl: false, ownDepthwise: false }]) {
      const m = new FusedTorchInferenceModel(model, { kernels });
      try {
        for (const [x, y] of [
          ['x', 'logits'],
          ['x_odd', 'logits_odd'],
        ] as const)
          assertClose((await m.run(batchOf(x))).data, ref(io, y), tol(IO, y), `${JSON.stringify(kernels)} ${y}`);
      } finally {
        m.dispose();
      }
    }
  });

  it("leaves the model's own weights as they were", () => {
    const bytes = (t: Tensor): Buffer => {
      const a = t.toTypedArray();
      return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    };
    const snapshot = new Map([...model.stateDict()].map(([k, t]) => [k, bytes(t)]));
    const again = new FusedTorchInferenceModel(model);
    again.dispose();
    for (const [k, t] of model.stateDict()) assert.ok(bytes(t).equals(snapshot.get(k)!), `${k} changed`);
  });

  it('refuses a bad batch or an output it cannot give, as rejections', async () => {
    const x = batchOf('x');
    await assert.rejects(fused.run(x, 'feature_maps'), /cannot give 'feature_maps'.*featuresOnly: true/);
    await assert.rejects(fused.run({ data: x.data, shape: [2, 1, 224, 224] }), /1 channels, the model takes 3/);
    await assert.rejects(fused.run({ data: x.data.subarray(1), shape: x.shape }), /needs 301056 values/);
    await assert.rejects(fused.run({ data: x.data, shape: [2, 3, 224] as never }), /\[N, C, H, W\]/);
  });

  it('bf16 keeps the top-1 class and stays near fp32', async () => {
    const bf16 = new FusedTorchInferenceModel(model, { precision: 'bf16' });
    try {
      assert.equal(bf16.precision, 'bf16');
      for (const x of ['x', 'x_odd', 'x_mixed']) {
        const want = await fused.run(batchOf(x));
        const got = await bf16.run(batchOf(x));
        assert.ok(got.data instanceof Float32Array, 'outputs stay float32');
        assert.deepEqual(top(got, 1), top(want, 1), `${x}: top-1`);
        // bfloat16 keeps 8 significant bits (relative rounding 2^-9 per value) through ~80 layers:
        // on these random weights that moves logits of size ~0.5 by a few 1e-3, so the bound is loose
        // on purpose; what matters for pseudo-labels is the class (checked above).
        const d = maxAbsDiff(got.data, want.data);
        assert.ok(d < 0.05, `${x}: bf16 vs fp32 max |diff| ${d}`);
      }
    } finally {
      bf16.dispose();
    }
  });

  it('returns the live-tensor count to where it was after build + run + dispose', async () => {
    const live = liveTensorCount();
    const f = new FusedTorchInferenceModel(model, { precision: 'bf16' });
    await f.run(batchOf('x_odd'));
    await f.profile(batchOf('x_odd'));
    f.dispose();
    assert.equal(liveTensorCount(), live);
    await assert.rejects(f.run(batchOf('x')), /was disposed/);
  });

  it('profiles every step of a run', async () => {
    const prof = await fused.profile(batchOf('x_mixed'));
    assert.equal(prof.length, fused.describe().length);
    const kinds = new Set(prof.map((p) => p.kind));
    for (const k of ['stem', 'conv1x1', 'dw3x3', 'dw5x5', 'se', 'add', 'head', 'pool', 'linear']) assert.ok(kinds.has(k), k);
    assert.ok(prof.every((p) => p.ms >= 0 && Number.isFinite(p.ms)));
  });
});

describe('FusedTorchInferenceModel (features_only)', () => {
  it("gives timm's five feature maps", async () => {
    const model = await createModel(NAME, { checkpointPath: B0_WEIGHTS, featuresOnly: true, outIndices: [0, 1, 2, 3, 4] });
    const fused = new FusedTorchInferenceModel(model, { disposeModel: true });
    assert.deepEqual(fused.outputs, ['feature_maps']);
    const live = liveTensorCount();
    const maps = await fused.run(batchOf('x'), 'feature_maps');
    assert.equal(liveTensorCount(), live);
    assert.equal(maps.length, 5);
    maps.forEach((m, i) => {
      const k = `feature_maps.${i}`;
      assert.deepEqual(m.shape, [...ref(io, k).shape], k);
      assertClose(m.data, ref(io, k), tol(IO, k), k);
    });
    await assert.rejects(fused.run(batchOf('x')), /cannot give 'logits'.*features_only/);
    fused.dispose();
  });
});

// Variants the fixture does not cover, against our eager model (itself fixture-checked): every
// activation, block kind (ds, dsa, ir, er, cn), SE, 5x5 and stride-2 kernels, symmetric and TF SAME
// padding, dilation (output stride 8), and every global pool. BN statistics are randomised so the
// folding is not an identity.
describe('FusedTorchInferenceModel on other variants, against the eager model', () => {
  const archDef = [
    ['ds_r1_k3_s1_c16_nre'],
    ['dsa_r1_k3_s1_c16_se0.25_nr6'],
    ['ir_r2_k5_s2_e3_c24_se0.25_nhs'],
    ['er_r2_k3_s2_e4_c32_nmi'],
    ['cn_r2_k3_s1_c32_skip'],
    ['ir_r2_k3_s2_e6_c40_se0.25'],
  ];
  const variants: { what: string; gen: Partial<EfficientNetGenConfig>; opts: Record<string, unknown> }[] = [
    { what: 'TF SAME, relu6 stem/head, avg pool', gen: { act: 'relu6', padType: 'same' }, opts: {} },
    { what: 'symmetric padding, mish stem/head, max pool', gen: { act: 'mish', padType: '' }, opts: { globalPool: 'max' } },
    {
      what: 'TF SAME, hard_swish, avgmax pool, output stride 8 (dilated)',
      gen: { act: 'hard_swish', padType: 'same' },
      opts: { globalPool: 'avgmax', outputStride: 8 },
    },
    { what: 'relu, catavgmax pool, 7 classes', gen: { act: 'relu', padType: 'same' }, opts: { globalPool: 'catavgmax', numClasses: 7 } },
    { what: 'no classifier (pre-logits as logits)', gen: { act: 'swish', padType: 'same' }, opts: { numClasses: 0 } },
  ];
  for (const v of variants) {
    it(v.what, async () => {
      const donor = await createModel('test_efficientnet');
      const cfg = donor.pretrainedCfg!;
      donor.dispose();
      const spec = resolveEfficientNetSpec({ ...genConfig('test_efficientnet'), archDef, bnEps: 1e-3, ...v.gen }, v.opts);
      const g = new Generator(7);
      const model = new EfficientNet(spec, { pretrainedCfg: cfg, generator: g });
      noGrad(() => {
        for (const [k, t] of model.stateDict()) {
          if (k.endsWith('running_mean') || k.endsWith('.bias')) t.normal_(0, 0.2, g);
          else if (k.endsWith('running_var')) t.uniform_(0.5, 1.5, g);
          else if (/bn\d\.weight$/.test(k)) t.uniform_(0.5, 1.5, g);
        }
      });
      model.eval();
      const live = liveTensorCount();
      const fused = new FusedTorchInferenceModel(model);
      const eager = inferenceModelFrom(model);
      const shapes: [number, number, number, number][] = [
        [2, 3, 64, 64],
        [1, 3, 45, 71],
      ];
      for (const shape of shapes) {
        const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37) * 1.5);
        const batch: InferenceBatch = { data, shape: [...shape] };
        for (const out of ['logits', 'pre_logits'] as const) {
          const want = await eager.run(batch, out);
          const got = await fused.run(batch, out);
          assert.deepEqual(got.shape, want.shape, `${out} ${shape.join('x')}: shape`);
          const scale = Math.max(1, ...Array.from(want.data, Math.abs));
          assertClose(got.data, want.data, 2e-5 * scale, `${out} ${shape.join('x')}`);
        }
      }
      fused.dispose();
      assert.equal(liveTensorCount(), live);
      model.dispose();
      g.dispose();
    });
  }
});
