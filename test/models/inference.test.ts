// The InferenceModel seam over libtorch eager: its logits, pre-logits and feature maps are the
// EfficientNet's own (and timm's, on the fixtures), no tensor outlives a run, and the training mode
// has one source, Module.train()/eval(), with no flag in the forward context.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromTypedArray, liveTensorCount, noGrad, scope, type Tensor } from '../../src/torch/index.js';
import {
  createModel,
  inferenceBatch,
  inferenceModelFrom,
  loadInferenceModel,
  saveModel,
  softmaxRows,
  topkRows,
  type EfficientNet,
  type InferenceArray,
  type InferenceModel,
} from '../../src/models/index.js';
import { resolveDataConfig } from '../../src/data/index.js';
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
  assert.equal(liveTensorCount(), start, 'every tensor of the inference tests was released');
});
const batchOf = (k: string) => inferenceBatch(ref(io, k));
const same = (got: InferenceArray, want: Tensor, what: string): void => {
  assert.deepEqual(got.shape, [...want.shape], `${what}: shape`);
  assert.equal(maxAbsDiff(got.data, want.toTypedArray() as Float32Array), 0, `${what}: not the module's own output`);
};

describe('TorchInferenceModel (full model)', () => {
  let inf: InferenceModel;
  let own: EfficientNet;
  before(async () => {
    inf = await loadInferenceModel(NAME, { checkpointPath: B0_WEIGHTS });
    own = await createModel(NAME, { checkpointPath: B0_WEIGHTS });
    own.eval();
  });
  after(async () => {
    await inf.dispose();
    own.dispose();
  });

  it('describes itself', () => {
    assert.equal(inf.name, NAME);
    assert.equal(inf.backend, 'torch');
    assert.equal(inf.precision, 'fp32');
    assert.equal(inf.device, 'cpu');
    assert.equal(inf.numClasses, 1000);
    assert.equal(inf.numFeatures, 1280);
    assert.equal(inf.labelNames, null);
    assert.deepEqual(inf.outputs, ['logits', 'pre_logits']);
    assert.deepEqual(resolveDataConfig({}, inf), resolveDataConfig({}, own));
  });

  it("logits and pre-logits equal the EfficientNet's forward and timm's, and release every tensor", async () => {
    for (const [x, y] of [
      ['x', 'logits'],
      ['x_odd', 'logits_odd'],
      ['x_mixed', 'logits_mixed'],
    ] as const) {
      const before = liveTensorCount();
      const got = await inf.run(batchOf(x));
      assert.equal(liveTensorCount(), before, `${x}: live tensors after run`);
      assert.ok(got.data instanceof Float32Array);
      assertClose(got.data, ref(io, y), tol('io.safetensors', y), y);
      noGrad(() => scope(() => same(got, own.forward(ref(io, x)), y)));
    }
    const before = liveTensorCount();
    const pre = await inf.run(batchOf('x'), 'pre_logits');
    assert.equal(liveTensorCount(), before);
    assert.deepEqual(pre.shape, [2, 1280]);
    assertClose(pre.data, ref(io, 'pre_logits'), tol('io.safetensors', 'pre_logits'), 'pre_logits');
    noGrad(() => scope(() => same(pre, own.forwardHead(own.forwardFeatures(ref(io, 'x')), { preLogits: true }), 'pre_logits')));
  });

  it('refuses a bad batch or an output it cannot give, as rejections', async () => {
    const x = batchOf('x');
    await assert.rejects(inf.run(x, 'feature_maps'), /cannot give 'feature_maps'.*featuresOnly: true/);
    await assert.rejects(inf.run({ data: x.data, shape: [2, 1, 224, 224] }), /1 channels, the model takes 3/);
    await assert.rejects(inf.run({ data: x.data.subarray(1), shape: x.shape }), /needs 301056 values/);
    await assert.rejects(inf.run({ data: x.data, shape: [2, 3, 224] as never }), /\[N, C, H, W\]/);
  });
});

describe('TorchInferenceModel (features_only)', () => {
  it("the five feature maps equal timm's and the module's own", async () => {
    const inf = await loadInferenceModel(NAME, { checkpointPath: B0_WEIGHTS, featuresOnly: true, outIndices: [0, 1, 2, 3, 4] });
    const own = await createModel(NAME, { checkpointPath: B0_WEIGHTS, featuresOnly: true, outIndices: [0, 1, 2, 3, 4] });
    own.eval();
    assert.deepEqual(inf.outputs, ['feature_maps']);
    assert.deepEqual(
      inf.featureInfo.map((f) => [f.module, f.numChs, f.reduction]),
      own.featureInfo.map((f) => [f.module, f.numChs, f.reduction]),
    );
    const before = liveTensorCount();
    const maps = await inf.run(batchOf('x'), 'feature_maps');
    assert.equal(liveTensorCount(), before);
    assert.equal(maps.length, 5);
    noGrad(() =>
      scope(() => {
        const want = own.forwardFeatureMaps(ref(io, 'x'));
        maps.forEach((m, i) => {
          assertClose(m.data, ref(io, `feature_maps.${i}`), tol('io.safetensors', `feature_maps.${i}`), `feature_maps.${i}`);
          same(m, want[i]!, `feature_maps.${i}`);
        });
      }),
    );
    await assert.rejects(inf.run(batchOf('x')), /cannot give 'logits'.*features_only/);
    await inf.dispose();
    own.dispose();
  });
});

describe('inferenceModelFrom', () => {
  it('runs a training model in eval mode, gives its modes back, and leaves the model to its owner', async () => {
    const model = await createModel(NAME, { checkpointPath: B0_WEIGHTS });
    model.train();
    const bn1 = [...model.namedModules()].find(([n]) => n === 'bn1')![1];
    bn1.eval(); // a frozen stem BN: a mixed tree must come back exactly
    const modes = () => [...model.namedModules()].map(([n, m]) => `${n}:${m.training}`);
    const was = modes();
    const inf = inferenceModelFrom(model);
    assert.equal(inf.name, NAME);
    const got = await inf.run(batchOf('x'));
    assertClose(got.data, ref(io, 'logits'), tol('io.safetensors', 'logits'), 'logits');
    assert.deepEqual(modes(), was);
    const tracked = model.stateDict().get('bn2.num_batches_tracked')!.item();
    assert.equal(tracked, 0, 'an inference run updates no running statistics');
    inf.dispose();
    assert.ok(model.numParams() > 0, 'the model is still usable');
    await assert.rejects(inf.run(batchOf('x')), /was disposed/);
    model.dispose();
  });

  it('refuses label names of the wrong length', async () => {
    const model = await createModel('tf_efficientnet_b0', { numClasses: 3 });
    assert.throws(() => inferenceModelFrom(model, { labelNames: ['a', 'b'] }), /2 label names for 3 classes/);
    assert.deepEqual(inferenceModelFrom(model, { labelNames: ['a', 'b', 'c'] }).labelNames, ['a', 'b', 'c']);
    model.dispose();
  });
});

describe("loadInferenceModel reads the checkpoint's label_names", () => {
  it('from config.json of a model folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ns-inference-'));
    try {
      const m = await createModel('tf_efficientnet_b0', { numClasses: 3 });
      saveModel(m, dir);
      m.dispose();
      const cfgPath = join(dir, 'config.json');
      const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
      writeFileSync(cfgPath, JSON.stringify({ ...cfg, label_names: ['cat', 'dog', 'bird'] }));
      const inf = await loadInferenceModel('tf_efficientnet_b0', { checkpointPath: dir });
      assert.deepEqual(inf.labelNames, ['cat', 'dog', 'bird']);
      assert.equal(inf.numClasses, 3);
      await inf.dispose();
      await assert.rejects(
        loadInferenceModel('tf_efficientnet_b0', { checkpointPath: dir, backend: 'onnx' as never }),
        /unknown inference backend/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the training mode has one source: Module.train()/eval()', () => {
  it('train(): batch statistics and running-stat updates; eval(): running statistics; no context flag', async () => {
    const model = await createModel(NAME, { checkpointPath: B0_WEIGHTS, dropRate: 0, dropPathRate: 0 });
    const T = 'train_step.safetensors';
    const sd = model.stateDict();
    noGrad(() =>
      scope(() => {
        model.train();
        assert.ok(
          [...model.namedModules()].every(([, m]) => m.training),
          'train() reaches every child',
        );
        assertClose(model.forward(ref(io, 'x')), ref(step, 'logits_train'), tol(T, 'logits_train'), 'logits_train');
        assert.equal(sd.get('bn1.num_batches_tracked')!.item(), 1);
        assertClose(
          sd.get('bn1.running_mean')!,
          ref(step, 'after_fwd.bn1.running_mean'),
          tol(T, 'after_fwd.bn1.running_mean'),
          'bn1.running_mean',
        );
        const mean = sd.get('bn1.running_mean')!.clone();

        model.eval();
        assert.ok(
          [...model.namedModules()].every(([, m]) => !m.training),
          'eval() reaches every child',
        );
        // The running statistics moved one step from timm's eval state, so the logits move too; what
        // eval must show is that nothing is updated and the same input gives the same output.
        const a = model.forward(ref(io, 'x'));
        const b = model.forward(ref(io, 'x'));
        assert.equal(maxAbsDiff(a.toTypedArray() as Float32Array, b.toTypedArray() as Float32Array), 0);
        assert.equal(sd.get('bn1.num_batches_tracked')!.item(), 1, 'eval updates no statistics');
        assert.equal(maxAbsDiff(sd.get('bn1.running_mean')!.toArray(), mean.toArray()), 0);
      }),
    );
    model.dispose();
  });

  it('eval() gives timm eval logits on fresh weights; one child in eval keeps its statistics in a training model', async () => {
    const model = await createModel(NAME, { checkpointPath: B0_WEIGHTS, dropRate: 0, dropPathRate: 0 });
    const sd = model.stateDict();
    noGrad(() =>
      scope(() => {
        model.eval();
        assertClose(model.forward(ref(io, 'x')), ref(io, 'logits'), tol('io.safetensors', 'logits'), 'eval logits');
        model.train();
        [...model.namedModules()].find(([n]) => n === 'bn1')![1].eval();
        model.forward(ref(io, 'x'));
        assert.equal(sd.get('bn1.num_batches_tracked')!.item(), 0, 'bn1 (eval) used its running statistics');
        assert.equal(sd.get('bn2.num_batches_tracked')!.item(), 1, 'bn2 (train) used batch statistics');
      }),
    );
    model.dispose();
  });
});

describe('softmaxRows / topkRows', () => {
  it('agree with torch softmax and topk', () =>
    scope(() => {
      // timm's logits spread out (x20) so that a few classes dominate, as a trained model's do.
      const logits = ref(io, 'logits').mul(20);
      const arr: InferenceArray = { data: logits.toTypedArray() as Float32Array, shape: [2, 1000] };
      const p = softmaxRows(arr);
      // Within 1 float32 ulp of the exact (float64) softmax; torch's float32 kernel is a few ulps off.
      assertClose(p.data, logits.double().softmax(1), 6e-8, 'softmax vs float64');
      assertClose(p.data, logits.softmax(1), 1e-6, 'softmax vs float32');
      const top = topkRows(p, 5);
      const want = logits.softmax(1).topk(5, 1);
      assert.deepEqual(Array.from(top.indices), want.indices.toArray());
      assertClose(top.values, want.values, 1e-6, 'topk values');
      assert.deepEqual(top.shape, [2, 5]);
    }));

  it('ranks ties by column, NaN first, caps k, and refuses bad input', () => {
    const arr: InferenceArray = { data: Float32Array.from([1, 3, 3, NaN, -Infinity, 2]), shape: [2, 3] };
    const t = topkRows(arr, 10);
    assert.deepEqual(t.shape, [2, 3]);
    assert.deepEqual(Array.from(t.indices), [1, 2, 0, 0, 2, 1]);
    const big = softmaxRows({ data: Float32Array.from([1000, 1000]), shape: [1, 2] });
    assert.deepEqual(Array.from(big.data), [0.5, 0.5]);
    assert.throws(() => topkRows(arr, 0), /positive integer/);
    assert.throws(() => softmaxRows({ data: new Float32Array(6), shape: [2, 3, 1] }), /\[N, C\]/);
    assert.throws(() => softmaxRows({ data: new Float32Array(5), shape: [2, 3] }), /does not match/);
    const x = fromTypedArray(new Float32Array(4), [2, 2]);
    assert.throws(() => inferenceBatch(x), /\[N, C, H, W\]/);
    x.dispose();
  });
});
