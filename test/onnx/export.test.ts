// Our ONNX export run by the real onnxruntime-node: timm's fixture outputs (tolerances.json) from ONE
// exported graph at every input size and batch (dynamic batch/height/width, TF SAME padding done by
// the runtime), the feature maps of a features_only export, the metadata, every supported opset, and
// variants the fixture does not cover against our eager model (itself fixture-checked).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { Generator, liveTensorCount, noGrad, type Tensor } from '../../src/torch/index.js';
import { createModel, EfficientNet, inferenceModelFrom, type EfficientNet as EfficientNetT } from '../../src/models/index.js';
import { resolveEfficientNetSpec, type EfficientNetGenConfig } from '../../src/models/builder_spec.js';
import { genConfig } from '../../src/models/variants.js';
import { decodeModel, exportOnnx, MAX_OPSET, MIN_OPSET, OnnxExportError } from '../../src/onnx/index.js';
import { B0_WEIGHTS, loadB0Fixtures, ref, tol } from '../helpers/b0_fixture.js';
import { assertClose, maxAbsDiff } from '../helpers/tensors.js';

const NAME = 'tf_efficientnet_b0.ns_jft_in1k';
let io: Map<string, Tensor>;
let step: Map<string, Tensor>;
let start: number;
before(() => {
  start = liveTensorCount();
  ({ io, step } = loadB0Fixtures());
});
after(() => {
  for (const t of [...io.values(), ...step.values()]) t.dispose();
  assert.equal(liveTensorCount(), start, 'every tensor of the export tests was released');
});

const session = (bytes: Uint8Array): Promise<ort.InferenceSession> =>
  ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 2 });
async function runOrt(
  s: ort.InferenceSession,
  x: Float32Array,
  shape: readonly number[],
  out: string,
): Promise<{ data: Float32Array; dims: number[] }> {
  const input = new ort.Tensor('float32', x, [...shape]);
  const r = await s.run({ input }, [out]);
  const t = r[out]!;
  return { data: Float32Array.from(t.data as Float32Array), dims: t.dims.map(Number) };
}
const f32 = (t: Tensor): Float32Array => t.toTypedArray() as Float32Array;
function within(got: Float32Array, key: string): void {
  const d = maxAbsDiff(got, f32(ref(io, key)));
  assert.ok(d <= tol('io.safetensors', key), `${key}: max |diff| ${d} > atol ${tol('io.safetensors', key)}`);
}

describe('export of the b0 fixture, run in ONNX Runtime', () => {
  let model: EfficientNetT;
  let s: ort.InferenceSession;
  let bytes: Uint8Array;
  before(async () => {
    model = await createModel(NAME, { checkpointPath: B0_WEIGHTS });
    model.eval();
    bytes = exportOnnx(model, { outputs: ['logits', 'pre_logits'] });
    s = await session(bytes);
  });
  after(async () => {
    await s.release();
    model.dispose();
  });

  it('one graph: logits at 224x224, 193x257 and 150x106 (odd sizes: SAME padding from the input)', async () => {
    for (const [x, y] of [
      ['x', 'logits'],
      ['x_odd', 'logits_odd'],
      ['x_mixed', 'logits_mixed'],
    ] as const) {
      const r = await runOrt(s, f32(ref(io, x)), ref(io, x).shape, 'logits');
      assert.deepEqual(r.dims, [...ref(io, y).shape]);
      within(r.data, y);
    }
  });

  it('pre_logits', async () => {
    const r = await runOrt(s, f32(ref(io, 'x')), ref(io, 'x').shape, 'pre_logits');
    assert.deepEqual(r.dims, [2, 1280]);
    within(r.data, 'pre_logits');
  });

  it('dynamic batch: 1 and 3 images give the rows of the fixture', async () => {
    const x = f32(ref(io, 'x'));
    const per = 3 * 224 * 224;
    const want = f32(ref(io, 'logits'));
    const one = await runOrt(s, x.slice(0, per), [1, 3, 224, 224], 'logits');
    assert.ok(maxAbsDiff(one.data, want.slice(0, 1000)) <= tol('io.safetensors', 'logits'));
    const three = new Float32Array(3 * per);
    three.set(x.subarray(per, 2 * per), 0);
    three.set(x.subarray(0, per), per);
    three.set(x.subarray(per, 2 * per), 2 * per);
    const r = await runOrt(s, three, [3, 3, 224, 224], 'logits');
    assert.deepEqual(r.dims, [3, 1000]);
    const rows = [want.slice(1000, 2000), want.slice(0, 1000), want.slice(1000, 2000)];
    rows.forEach((w, i) =>
      assert.ok(maxAbsDiff(r.data.subarray(i * 1000, (i + 1) * 1000), w) <= tol('io.safetensors', 'logits'), `row ${i}`),
    );
  });

  it('metadata: the name, the preprocessing config, the outputs; symbolic input dims', () => {
    const m = decodeModel(bytes) as ReturnType<typeof decodeModel> & {
      graph: { input: { type: { tensorType: { shape: { dim: { dimParam?: string }[] } } } }[] };
    };
    const meta = new Map(m.metadataProps.map((p) => [p.key, p.value]));
    assert.equal(meta.get('model'), NAME);
    assert.deepEqual(JSON.parse(meta.get('pretrained_cfg')!), JSON.parse(JSON.stringify(model.pretrainedCfg)));
    assert.deepEqual(JSON.parse(meta.get('outputs')!), ['logits', 'pre_logits']);
    assert.equal(meta.get('num_classes'), '1000');
    assert.deepEqual(
      m.graph.input[0]!.type.tensorType.shape.dim.map((d) => d.dimParam ?? null),
      ['batch', null, 'height', 'width'],
    );
    assert.equal(m.opsetImport[0]!.version, 17);
    // BatchNorm is folded: no BatchNormalization node is left.
    assert.ok(!m.graph.node.some((n) => n.opType === 'BatchNormalization'));
  });

  it(`every opset from ${MIN_OPSET} to ${MAX_OPSET} loads and gives the fixture logits; others are refused`, async () => {
    const x = f32(ref(io, 'x_mixed'));
    for (let opset = MIN_OPSET; opset <= MAX_OPSET; opset++) {
      const so = await session(exportOnnx(model, { opset }));
      try {
        within((await runOrt(so, x, ref(io, 'x_mixed').shape, 'logits')).data, 'logits_mixed');
      } finally {
        await so.release();
      }
    }
    for (const opset of [MIN_OPSET - 1, MAX_OPSET + 1, 17.5]) {
      assert.throws(
        () => exportOnnx(model, { opset }),
        (e: unknown) => e instanceof OnnxExportError && /13\.\.21/.test(e.message),
      );
    }
    assert.throws(() => exportOnnx(model, { outputs: ['feature_maps'] }), /features_only/);
  });

  it('class names, when the model has them, travel in the metadata', () => {
    const names = Array.from({ length: 1000 }, (_, i) => `class ${i}`);
    const meta = new Map(decodeModel(exportOnnx(model, { labelNames: names })).metadataProps.map((p) => [p.key, p.value]));
    assert.deepEqual(JSON.parse(meta.get('label_names')!), names);
    assert.throws(() => exportOnnx(model, { labelNames: ['a'] }), /1 label names for 1000 classes/);
  });
});

it('a features_only export gives feature_maps.0-4 of the fixture', async () => {
  const fm = await createModel(NAME, { checkpointPath: B0_WEIGHTS, featuresOnly: true });
  const bytes = exportOnnx(fm);
  const featureInfo = JSON.parse(JSON.stringify(fm.featureInfo)) as unknown;
  fm.dispose();
  // The metadata says what the graph gives, so OrtInferenceModel can map 'feature_maps' to its outputs.
  const meta = new Map(decodeModel(bytes).metadataProps.map((p) => [p.key, p.value]));
  assert.deepEqual(
    JSON.parse(meta.get('outputs')!),
    [0, 1, 2, 3, 4].map((i) => `feature_maps.${i}`),
  );
  assert.deepEqual(JSON.parse(meta.get('feature_info')!), featureInfo);
  assert.equal(meta.get('in_chans'), '3');
  const s = await session(bytes);
  try {
    const x = f32(ref(io, 'x'));
    for (let i = 0; i < 5; i++) {
      const r = await runOrt(s, x, ref(io, 'x').shape, `feature_maps.${i}`);
      assert.deepEqual(r.dims, [...ref(io, `feature_maps.${i}`).shape]);
      within(r.data, `feature_maps.${i}`);
    }
  } finally {
    await s.release();
  }
});

// No timm fixture holds these: our eager model (fixture-checked on b0) is the reference.
describe('variants against our eager model', () => {
  const archDef = [
    ['ds_r1_k3_s1_c16_nre'],
    ['dsa_r1_k3_s1_c16_se0.25_nr6'],
    ['ir_r2_k5_s2_e3_c24_se0.25_nhs'],
    ['er_r2_k3_s2_e4_c32_nmi'],
    ['cn_r2_k3_s1_c32_skip'],
    ['ir_r2_k3_s2_e6_c40_se0.25'],
  ];
  // ops: per opset, the node types the graph must (true) or must not (false) hold, so that each
  // lowering named in `what` is the one that ran; dilated: some Conv has dilations 2.
  const variants: {
    what: string;
    gen: Partial<EfficientNetGenConfig>;
    opts: Record<string, unknown>;
    opsets: number[];
    ops?: Record<number, Record<string, boolean>>;
    dilated?: boolean;
  }[] = [
    { what: 'TF SAME, relu6, avg pool', gen: { act: 'relu6', padType: 'same' }, opts: {}, opsets: [13, 17], ops: { 13: { Clip: true } } },
    {
      what: 'symmetric padding, mish, max pool (Mish node at 18, lowered below)',
      gen: { act: 'mish', padType: '' },
      opts: { globalPool: 'max' },
      opsets: [17, 18],
      ops: { 17: { Mish: false, Softplus: true }, 18: { Mish: true } },
    },
    {
      what: 'hard_swish, avgmax pool, dilated (output stride 8) (HardSwish node at 14, lowered at 13)',
      gen: { act: 'hard_swish', padType: 'same' },
      opts: { globalPool: 'avgmax', outputStride: 8 },
      opsets: [13, 14],
      ops: { 13: { HardSwish: false }, 14: { HardSwish: true } },
      dilated: true,
    },
    {
      what: '1-channel input, catavgmax pool, 10 classes',
      gen: { act: 'relu', padType: 'same' },
      opts: { globalPool: 'catavgmax', numClasses: 10, inChans: 1 },
      opsets: [17],
    },
    {
      what: 'no classifier: the pooled features are the logits',
      gen: { act: 'swish', padType: 'same' },
      opts: { numClasses: 0 },
      opsets: [17],
    },
  ];
  for (const v of variants) {
    it(v.what, async () => {
      const donor = await createModel('test_efficientnet');
      const cfg = donor.pretrainedCfg!;
      donor.dispose();
      const spec = resolveEfficientNetSpec({ ...genConfig('test_efficientnet'), archDef, bnEps: 1e-3, ...v.gen }, v.opts);
      const g = new Generator(11);
      const model = new EfficientNet(spec, { pretrainedCfg: cfg, generator: g });
      noGrad(() => {
        for (const [k, t] of model.stateDict()) {
          if (k.endsWith('running_mean') || k.endsWith('.bias')) t.normal_(0, 0.2, g);
          else if (k.endsWith('running_var') || /bn\d\.weight$/.test(k)) t.uniform_(0.5, 1.5, g);
        }
      });
      model.eval();
      const eager = inferenceModelFrom(model);
      try {
        const c = spec.inChans;
        for (const opset of v.opsets) {
          const bytes = exportOnnx(model, { opset, outputs: ['logits', 'pre_logits'] });
          const nodes = (decodeModel(bytes).graph.node as { opType: string; attribute?: { name: string; ints?: number[] }[] }[]).map(
            (n) => ({ op: n.opType, dilations: n.attribute?.find((a) => a.name === 'dilations')?.ints ?? [] }),
          );
          for (const [op, present] of Object.entries(v.ops?.[opset] ?? {})) {
            assert.equal(
              nodes.some((n) => n.op === op),
              present,
              `opset ${opset}: ${op} ${present ? 'missing' : 'present'}`,
            );
          }
          assert.equal(
            nodes.some((n) => n.op === 'Conv' && n.dilations.some((d) => d > 1)),
            v.dilated === true,
            'dilated convs',
          );
          const s = await session(bytes);
          try {
            for (const shape of [
              [2, c, 64, 64],
              [1, c, 45, 71],
            ] as const) {
              const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => Math.sin(i * 0.37) * 1.5);
              for (const out of ['logits', 'pre_logits'] as const) {
                const want = await eager.run({ data, shape: [...shape] }, out);
                const got = await runOrt(s, data, shape, out);
                assert.deepEqual(got.dims, want.shape, `${out}: shape`);
                const scale = Math.max(1, ...Array.from(want.data, Math.abs));
                assertClose(got.data, want.data, 2e-5 * scale, `opset ${opset} ${out} ${shape.join('x')}`);
              }
            }
          } finally {
            await s.release();
          }
        }
      } finally {
        model.dispose();
        g.dispose();
      }
    });
  }
});
