// int8 (static QDQ) export of the b0 fixture model, run by the real onnxruntime-node. There is no
// timm int8 reference: the checks are that ONNX Runtime really runs int8 kernels (its optimised graph
// has QLinearConv and no float Conv), that the int8 logits stay near timm's fp32 fixture logits at
// every input size (the quantized graph keeps dynamic batch/height/width), that top-1 agrees with the
// fp32 export (itself fixture-checked in export.test.ts) on real images, and the clear errors.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { liveTensorCount, type Tensor } from '../../src/torch/index.js';
import { createModel, type EfficientNet } from '../../src/models/index.js';
import { decodeModel, exportOnnx, exportOnnxInt8, OnnxExportError } from '../../src/onnx/index.js';
import { B0_WEIGHTS, loadB0Fixtures, ref } from '../helpers/b0_fixture.js';
import { maxAbsDiff } from '../helpers/tensors.js';
import { argmaxRows, fashionInputs, SIZE } from './fashion_inputs.js';

const NAME = 'tf_efficientnet_b0.ns_jft_in1k';
const CAL = 8;
const SCORED = 40;
let io: Map<string, Tensor>;
let step: Map<string, Tensor>;
let start: number;
let model: EfficientNet;
let int8: Uint8Array;
let calibration: Float32Array;
let mean: readonly number[];
let std: readonly number[];
const sessionOpts: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', intraOpNumThreads: 2 };

before(async () => {
  start = liveTensorCount();
  ({ io, step } = loadB0Fixtures());
  model = await createModel(NAME, { checkpointPath: B0_WEIGHTS });
  model.eval();
  mean = model.pretrainedCfg!.mean as readonly number[];
  std = model.pretrainedCfg!.std as readonly number[];
  calibration = fashionInputs('train', 0, CAL, mean, std);
  int8 = await exportOnnxInt8(model, { quantize: { calibration: [{ data: calibration, dims: [CAL, 3, SIZE, SIZE] }] } });
});
after(() => {
  model.dispose();
  for (const t of [...io.values(), ...step.values()]) t.dispose();
  assert.equal(liveTensorCount(), start, 'every tensor of the int8 tests was released');
});

async function logits(bytes: Uint8Array, x: Float32Array, dims: readonly number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes, sessionOpts);
  try {
    const r = await s.run({ input: new ort.Tensor('float32', x, [...dims]) }, ['logits']);
    return Float32Array.from(r['logits']!.data as Float32Array);
  } finally {
    await s.release();
  }
}

describe('int8 QDQ export', () => {
  it('ONNX Runtime fuses it into int8 kernels: QLinearConv for every conv, none left in float', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ns-int8-'));
    try {
      const path = join(dir, 'optimized.onnx');
      const s = await ort.InferenceSession.create(int8, { ...sessionOpts, optimizedModelFilePath: path });
      await s.release();
      const ops = new Map<string, number>();
      for (const n of decodeModel(readFileSync(path)).graph.node) ops.set(n.opType, (ops.get(n.opType) ?? 0) + 1);
      // b0: stem + 16 blocks' convs + head = 49 convs, and 2 per SE (16 SEs) = 81.
      assert.equal(ops.get('QLinearConv'), 81, `ops: ${JSON.stringify([...ops])}`);
      assert.equal(ops.get('Conv') ?? 0, 0);
      assert.ok((ops.get('QLinearMul') ?? 0) > 0 && (ops.get('QLinearAdd') ?? 0) > 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the file: int8 weights (no float conv weights left), metadata says int8 and how it was quantized', () => {
    const m = decodeModel(int8) as ReturnType<typeof decodeModel> & {
      graph: { initializer: { name: string; dataType: number }[] };
    };
    const meta = Object.fromEntries(m.metadataProps.map((p) => [p.key, p.value]));
    assert.equal(meta['precision'], 'int8');
    assert.equal(meta['model'], NAME);
    assert.match(JSON.parse(meta['quantization']!).weights, /int8 symmetric per output channel/);
    assert.ok(meta['pretrained_cfg'], 'the preprocessing config travels as in the fp32 export');
    const floatWeights = m.graph.initializer.filter((i) => i.dataType === 1 && /conv.*\.weight$|conv_stem\.weight$/.test(i.name));
    assert.deepEqual(floatWeights, []);
    assert.ok(int8.length < exportOnnx(model).length / 3, `int8 file ${int8.length} bytes`);
  });

  it("stays near timm's fp32 logits at 224, 193x257 and 150x106 (one graph, dynamic spatial size)", async (t) => {
    for (const [x, y] of [
      ['x', 'logits'],
      ['x_odd', 'logits_odd'],
      ['x_mixed', 'logits_mixed'],
    ] as const) {
      const got = await logits(int8, ref(io, x).toTypedArray() as Float32Array, ref(io, x).shape);
      const want = ref(io, y).toTypedArray() as Float32Array;
      const d = maxAbsDiff(got, want);
      // Not a tolerance of timm's: int8 error, bounded at a tenth of the logits' range.
      const range = Math.max(...want) - Math.min(...want);
      t.diagnostic(`${y}: max |int8 - timm fp32| ${d.toExponential(2)}, logit range ${range.toFixed(3)}`);
      assert.ok(d < 0.1 * range, `${y}: max |int8 - timm fp32| ${d} vs logit range ${range}`);
    }
  });

  it('top-1 agrees with the fp32 export on real images it was not calibrated on (batch 1 and 20)', async (t) => {
    const fp32 = exportOnnx(model);
    const x = fashionInputs('test', 0, SCORED, mean, std);
    const per = 3 * SIZE * SIZE;
    const a = argmaxRows(await logits(fp32, x, [SCORED, 3, SIZE, SIZE]), 1000);
    const b: number[] = [];
    for (let i = 0; i < SCORED; i += 20)
      b.push(...argmaxRows(await logits(int8, x.subarray(i * per, (i + 20) * per), [20, 3, SIZE, SIZE]), 1000));
    const one = argmaxRows(await logits(int8, x.subarray(0, per), [1, 3, SIZE, SIZE]), 1000);
    assert.equal(one[0], b[0], 'batch 1 gives the row of batch 20');
    const agree = a.filter((t, i) => t === b[i]).length / SCORED;
    t.diagnostic(`top-1 agreement with fp32 on ${SCORED} Fashion-MNIST test images: ${agree}`);
    assert.ok(agree >= 0.9, `top-1 agreement ${agree}`);
  });

  it('percentile calibration and per-tensor weights also export and run', async () => {
    const bytes = await exportOnnxInt8(model, {
      quantize: {
        calibration: function* () {
          yield { data: calibration.subarray(0, 2 * 3 * SIZE * SIZE), dims: [2, 3, SIZE, SIZE] as const };
          yield { data: calibration.subarray(2 * 3 * SIZE * SIZE, 4 * 3 * SIZE * SIZE), dims: [2, 3, SIZE, SIZE] as const };
        },
        method: 'percentile',
        percentile: 99.9,
        perChannel: false,
      },
    });
    const meta = Object.fromEntries(decodeModel(bytes).metadataProps.map((p) => [p.key, p.value]));
    assert.match(meta['quantization']!, /percentile 99\.9/);
    assert.match(meta['quantization']!, /per tensor/);
    const got = await logits(bytes, ref(io, 'x').toTypedArray() as Float32Array, ref(io, 'x').shape);
    assert.ok(got.every(Number.isFinite));
  });

  it('refuses no calibration images, a batch of the wrong size and a bad percentile', async () => {
    const isErr = (re: RegExp) => (e: unknown) => e instanceof OnnxExportError && re.test(e.message);
    await assert.rejects(exportOnnxInt8(model, { quantize: { calibration: [] } }), isErr(/needs calibration images/));
    await assert.rejects(
      exportOnnxInt8(model, { quantize: { calibration: [{ data: new Float32Array(10), dims: [1, 3, SIZE, SIZE] }] } }),
      isErr(/10 values for \[1, 3, 224, 224\]/),
    );
    await assert.rejects(
      exportOnnxInt8(model, {
        quantize: { calibration: [{ data: calibration, dims: [CAL, 3, SIZE, SIZE] }], method: 'percentile', percentile: 30 },
      }),
      isErr(/percentile 30/),
    );
  });
});
