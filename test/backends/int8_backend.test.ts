// int8 behind the InferenceModel seam: ONNX Runtime on a QDQ export calibrated on the user's images
// (calibrationFromDataset: evenly strided, preprocessed as the model's inputs). The checks: the model
// says int8 and stays near timm's fp32 fixture logits; an .onnx int8 file reads back as int8; no
// calibration is a clear error; the CLI takes --precision int8 with --calibration on predict and
// export-onnx, refuses the calibration flags without int8, and pseudo-label records the calibration.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveTensorCount, type Tensor } from '../../src/torch/index.js';
import { createModel, type EfficientNet } from '../../src/models/index.js';
import {
  BackendOptionError,
  calibrationFromDataset,
  calibrationIndices,
  openInferenceModel,
  OrtInferenceModel,
} from '../../src/backends/index.js';
import { fashionMnist, resolveDataConfig, subset, type ImageDataset } from '../../src/data/index.js';
import { B0_DIR, B0_WEIGHTS, loadB0Fixtures, ref } from '../helpers/b0_fixture.js';
import { maxAbsDiff } from '../helpers/tensors.js';
import { sharedPath } from '../helpers/paths.js';
import { runCli } from '../cli/run_cli.js';

const NAME = 'tf_efficientnet_b0.ns_jft_in1k';
const MODEL = ['--model', NAME, '--checkpoint', B0_DIR];
const DOG = sharedPath('data', 'dog.jpg');
const dir = mkdtempSync(join(tmpdir(), 'ns-int8-backend-'));
let io: Map<string, Tensor>;
let step: Map<string, Tensor>;
let start: number;
let model: EfficientNet;

before(async () => {
  start = liveTensorCount();
  ({ io, step } = loadB0Fixtures());
  model = await createModel(NAME, { checkpointPath: B0_WEIGHTS });
  model.eval();
});
after(() => {
  model.dispose();
  for (const t of [...io.values(), ...step.values()]) t.dispose();
  rmSync(dir, { recursive: true, force: true });
  assert.equal(liveTensorCount(), start, 'every tensor of the int8 backend tests was released');
});

describe('int8 calibration images', () => {
  it('are evenly strided over the data set (a class-sorted folder gives every class), all of a small one', () => {
    assert.deepEqual(calibrationIndices(10, 4), [0, 2, 5, 7]);
    assert.deepEqual(calibrationIndices(3, 64), [0, 1, 2]);
    assert.throws(() => calibrationIndices(10, 0), /positive integer/);
  });

  it('are preprocessed with the given config, in batches, and skip an image that cannot be read', async () => {
    const fm = subset(fashionMnist('train'), [0, 1, 2, 3, 4]);
    const broken: ImageDataset = {
      ...fm,
      source: (i) => (i === 2 ? { kind: 'file', path: join(dir, 'missing.png') } : fm.source(i)),
    };
    const cal = calibrationFromDataset(broken, resolveDataConfig({}, model), { images: 5, describe: { data: 'test' } });
    assert.equal(cal.images, 5);
    assert.deepEqual(cal.describe, { images: 5, of: 5, pick: 'evenly strided', method: 'percentile', data: 'test' });
    let n = 0;
    for await (const b of cal.batches(model)) {
      assert.deepEqual(b.dims.slice(1), [3, 224, 224]);
      assert.equal(b.data.length, b.dims[0] * 3 * 224 * 224);
      n += b.dims[0];
    }
    assert.equal(n, 4, 'the unreadable image is left out');
  });
});

describe('ort int8 backend', () => {
  it('runs int8, near timm fp32 logits, from a model and from its .onnx file', async () => {
    const cal = calibrationFromDataset(fashionMnist('train'), (m) => resolveDataConfig({}, m), { images: 8 });
    const m = await openInferenceModel(model, { backend: 'ort', precision: 'int8', calibration: cal });
    try {
      assert.equal(m.backend, 'onnxruntime');
      assert.equal(m.precision, 'int8');
      const x = ref(io, 'x');
      const got = (await m.run({ data: x.toTypedArray() as Float32Array, shape: x.shape as [number, number, number, number] })).data;
      const want = ref(io, 'logits').toTypedArray() as Float32Array;
      const range = Math.max(...want) - Math.min(...want);
      // Not a tolerance of timm's: int8 error, bounded at a tenth of the logits' range (as quantize.test.ts).
      assert.ok(maxAbsDiff(got, want) < 0.1 * range, `max |int8 - timm fp32| ${maxAbsDiff(got, want)} vs range ${range}`);
    } finally {
      await m.dispose();
    }
    const r = await runCli([
      'export-onnx',
      ...MODEL,
      '--precision',
      'int8',
      '--calibration',
      'fashion-mnist',
      '--calibration-images',
      '4',
      '-o',
      join(dir, 'b0.int8.onnx'),
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { precision: string; calibration: { images: number; data: string } };
    assert.equal(summary.precision, 'int8');
    assert.deepEqual([summary.calibration.images, summary.calibration.data], [4, 'fashion-mnist']);
    const f = await OrtInferenceModel.fromFile(join(dir, 'b0.int8.onnx'));
    assert.equal(f.precision, 'int8');
    await f.dispose();
  });

  it('without calibration images it is a clear error', async () => {
    await assert.rejects(openInferenceModel(model, { backend: 'ort', precision: 'int8' }), (e: unknown) => {
      assert.ok(e instanceof BackendOptionError);
      assert.match(e.message, /calibration/);
      return true;
    });
  });
});

describe('int8 on the commands', () => {
  it('predict --backend ort --precision int8 calibrates on its own inputs (default) and says int8', async () => {
    const r = await runCli(['predict', DOG, ...MODEL, '--backend', 'ort', '--precision', 'int8', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\(onnxruntime, int8\)/);
    assert.equal((JSON.parse(r.stdout) as unknown[]).length, 1);
  });

  it('calibration flags without int8, and export-onnx int8 without --calibration, are usage errors', async () => {
    const a = await runCli(['predict', DOG, ...MODEL, '--calibration', 'fashion-mnist']);
    assert.equal(a.code, 2);
    assert.match(a.stderr, /are for --precision int8/);
    const b = await runCli(['export-onnx', ...MODEL, '--precision', 'int8', '-o', join(dir, 'x.onnx')]);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /needs --calibration DATA/);
  });

  it('pseudo-label int8 records its calibration in backend.json', async () => {
    const images = join(dir, 'unlabeled');
    const { mkdirSync, copyFileSync } = await import('node:fs');
    mkdirSync(images);
    for (let i = 0; i < 3; i++) copyFileSync(DOG, join(images, `dog${i}.jpg`));
    const out = join(dir, 'pl');
    const r = await runCli([
      'pseudo-label',
      ...MODEL,
      '--data',
      images,
      '--backend',
      'ort',
      '--precision',
      'int8',
      '--calibration-images',
      '2',
      '--batch-size',
      '2',
      '-o',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rec = JSON.parse(readFileSync(join(out, 'backend.json'), 'utf8')) as {
      backend: string;
      precision: string;
      calibration: { images: number; data: string };
    };
    assert.deepEqual([rec.backend, rec.precision], ['ort', 'int8']);
    assert.deepEqual([rec.calibration.images, rec.calibration.data], [2, 'the unlabeled images']);
    writeFileSync(join(dir, 'done'), '');
  });
});
