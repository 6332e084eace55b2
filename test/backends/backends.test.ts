// The backends behind the InferenceModel seam: ONNX Runtime on our own export and the fused
// libtorch path give timm's fixture outputs (within tolerances.json) and the eager path's top-5;
// `auto` measures once and then answers from its cache; a missing onnxruntime-node is a clear error.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveTensorCount, type Tensor } from '../../src/torch/index.js';
import {
  createModel,
  inferenceBatch,
  loadInferenceModel,
  topkRows,
  type InferenceArray,
  type InferenceModel,
} from '../../src/models/index.js';
import {
  BackendOptionError,
  BackendUnavailableError,
  loadInferenceBackend,
  openInferenceModel,
  OrtInferenceModel,
  setOrtImporter,
  type BackendChoice,
} from '../../src/backends/index.js';
import { exportOnnx } from '../../src/onnx/index.js';
import { B0_DIR, B0_WEIGHTS, loadB0Fixtures, ref, tol } from '../helpers/b0_fixture.js';
import { maxAbsDiff } from '../helpers/tensors.js';

const NAME = 'tf_efficientnet_b0.ns_jft_in1k';
let io: Map<string, Tensor>;
let step: Map<string, Tensor>;
let start: number;
const dir = mkdtempSync(join(tmpdir(), 'ns-backends-'));
before(() => {
  start = liveTensorCount();
  ({ io, step } = loadB0Fixtures());
});
after(() => {
  for (const t of [...io.values(), ...step.values()]) t.dispose();
  rmSync(dir, { recursive: true, force: true });
  assert.equal(liveTensorCount(), start, 'every tensor of the backend tests was released');
});

const top5 = (a: InferenceArray): number[] => [...topkRows(a, 5).indices];

for (const backend of ['ort', 'torch-fused'] as const) {
  describe(`backend ${backend} on the b0 fixture`, () => {
    let m: InferenceModel;
    let eager: InferenceModel;
    before(async () => {
      m = await loadInferenceBackend(NAME, { checkpointPath: B0_WEIGHTS, backend });
      eager = await loadInferenceModel(NAME, { checkpointPath: B0_WEIGHTS });
    });
    after(async () => {
      await m.dispose();
      await eager.dispose();
    });

    it('describes itself as its backend, with the checkpoint name', () => {
      assert.equal(m.backend, backend === 'ort' ? 'onnxruntime' : 'torch-fused');
      assert.equal(m.name, NAME);
      assert.equal(m.numClasses, 1000);
      assert.deepEqual(m.outputs, ['logits', 'pre_logits']);
    });

    for (const [x, y] of [
      ['x', 'logits'],
      ['x_odd', 'logits_odd'],
      ['x_mixed', 'logits_mixed'],
    ] as const) {
      it(`${y} within tolerance, same top-5 as the eager path`, async () => {
        const batch = inferenceBatch(ref(io, x));
        const got = await m.run(batch);
        const want = ref(io, y);
        assert.deepEqual(got.shape, [...want.shape]);
        const d = maxAbsDiff(got.data, want.toTypedArray() as Float32Array);
        assert.ok(d <= tol('io.safetensors', y), `${y}: max |diff| ${d} > ${tol('io.safetensors', y)}`);
        const e = await eager.run(batch);
        assert.deepEqual(top5(got), top5(e));
      });
    }

    it('pre_logits within tolerance', async () => {
      const got = await m.run(inferenceBatch(ref(io, 'x')), 'pre_logits');
      const d = maxAbsDiff(got.data, ref(io, 'pre_logits').toTypedArray() as Float32Array);
      assert.ok(d <= tol('io.safetensors', 'pre_logits'), `pre_logits: max |diff| ${d}`);
    });

    it('a batch of the wrong channel count is a rejection naming both counts', async () => {
      await assert.rejects(m.run({ data: new Float32Array(1 * 1 * 8 * 8), shape: [1, 1, 8, 8] }), /1 channels, the model takes 3/);
    });
  });
}

describe('ONNX Runtime from an exported file', () => {
  it('feature maps of a features_only export, with the metadata read back', async () => {
    const fm = await createModel(NAME, { checkpointPath: B0_WEIGHTS, featuresOnly: true });
    const path = join(dir, 'features.onnx');
    writeFileSync(path, exportOnnx(fm));
    fm.dispose();
    const m = await OrtInferenceModel.fromFile(path);
    try {
      assert.equal(m.name, NAME);
      assert.deepEqual(m.outputs, ['feature_maps']);
      assert.equal(m.featureInfo.length, 5);
      const maps = await m.run(inferenceBatch(ref(io, 'x')), 'feature_maps');
      assert.equal(maps.length, 5);
      maps.forEach((a, i) => {
        const want = ref(io, `feature_maps.${i}`);
        assert.deepEqual(a.shape, [...want.shape]);
        const d = maxAbsDiff(a.data, want.toTypedArray() as Float32Array);
        assert.ok(d <= tol('io.safetensors', `feature_maps.${i}`), `feature_maps.${i}: max |diff| ${d}`);
      });
      await assert.rejects(m.run(inferenceBatch(ref(io, 'x'))), /cannot give 'logits'/);
    } finally {
      await m.dispose();
    }
  });

  it('a file without our metadata is refused, saying how to export one', async () => {
    const path = join(dir, 'junk.onnx');
    writeFileSync(path, 'not a model');
    await assert.rejects(OrtInferenceModel.fromFile(path), /not an ONNX model|no noisy-student metadata/);
  });
});

describe('backend options', () => {
  it('unsupported combinations are errors listing what runs', async () => {
    await assert.rejects(loadInferenceBackend(NAME, { checkpointPath: B0_WEIGHTS, backend: 'torch', precision: 'bf16' }), (e: unknown) => {
      assert.ok(e instanceof BackendOptionError);
      assert.match(e.message, /torch-fused: fp32, bf16/);
      return true;
    });
    await assert.rejects(
      loadInferenceBackend(NAME, { checkpointPath: B0_WEIGHTS, backend: 'torch-fused', precision: 'int8' }),
      /does not run int8; what runs: .*ort: fp32, int8/,
    );
    // int8 runs on ort, but only calibrated on the user's images: without them it says what to give.
    await assert.rejects(loadInferenceBackend(NAME, { checkpointPath: B0_WEIGHTS, backend: 'ort', precision: 'int8' }), (e: unknown) => {
      assert.ok(e instanceof BackendOptionError);
      assert.match(e.message, /int8 needs calibration images.*--calibration/);
      return true;
    });
    await assert.rejects(loadInferenceBackend(NAME, { checkpointPath: B0_WEIGHTS, backend: 'nope' as never }), /unknown backend "nope"/);
  });

  it('without onnxruntime-node, --backend ort says what to install', async () => {
    setOrtImporter(() => Promise.reject(new Error("Cannot find package 'onnxruntime-node'")));
    try {
      await assert.rejects(loadInferenceBackend(NAME, { checkpointPath: B0_DIR, backend: 'ort' }), (e: unknown) => {
        assert.ok(e instanceof BackendUnavailableError);
        assert.match(e.message, /onnxruntime-node/);
        assert.match(e.message, /--backend torch/);
        return true;
      });
      // auto still works on what is there.
      const choices: BackendChoice[] = [];
      const m = await loadInferenceBackend(NAME, {
        checkpointPath: B0_WEIGHTS,
        backend: 'auto',
        cacheFile: join(dir, 'no-ort-cache.json'),
        onChoice: (c) => choices.push(c),
      });
      assert.notEqual(m.backend, 'onnxruntime');
      await m.dispose();
    } finally {
      setOrtImporter(null);
    }
  });

  it('auto measures once, caches the choice, and answers from the cache the second time', async () => {
    const cacheFile = join(dir, 'choice.json');
    const model = await createModel('tf_efficientnet_b0', {});
    model.eval();
    try {
      const choices: BackendChoice[] = [];
      const opts = {
        backend: 'auto' as const,
        cacheFile,
        batchSize: 1,
        inputSize: [64, 64] as const,
        onChoice: (c: BackendChoice) => choices.push(c),
      };
      const a = await openInferenceModel(model, opts);
      await a.dispose();
      const b = await openInferenceModel(model, opts);
      await b.dispose();
      assert.equal(choices.length, 2);
      assert.equal(choices[0]!.measured, true);
      assert.deepEqual(Object.keys(choices[0]!.timingsMs ?? {}).sort(), ['ort', 'torch', 'torch-fused']);
      assert.equal(choices[1]!.measured, false);
      assert.equal(choices[1]!.backend, choices[0]!.backend);
      assert.match(choices[1]!.reason, /cached/);
      // A corrupt cache is a warning and a new measurement, never a failure.
      writeFileSync(cacheFile, '{ not json');
      const c = await openInferenceModel(model, opts);
      await c.dispose();
      assert.equal(choices[2]!.measured, true);
      assert.doesNotThrow(() => JSON.parse(readFileSync(cacheFile, 'utf8')));
    } finally {
      model.dispose();
    }
  });
});
