// int8 QDQ export vs the fp32 export in ONNX Runtime (graph optimisation 'all', 2 intra-op threads):
// speed at batch 1 and 32 (medians of interleaved repeats) and top-1 agreement with fp32 on real
// images (Fashion-MNIST test images, 28x28 grey upsampled to the model's 224x224 RGB input and
// normalised with its pretrained cfg). Calibration: Fashion-MNIST *train* images, so the images scored
// were not calibrated on. A measurement, not a test (no timing is asserted anywhere):
//   node --import tsx test/onnx/int8_bench.ts [calibration images] [scored images] [repeats]
import * as ort from 'onnxruntime-node';
import { createModel } from '../../src/models/index.js';
import { exportOnnx, exportOnnxInt8 } from '../../src/onnx/index.js';
import { B0_WEIGHTS } from '../helpers/b0_fixture.js';
import { argmaxRows, fashionInputs as images, SIZE } from './fashion_inputs.js';

const [calN = 64, scoreN = 500, repeats = 7] = process.argv.slice(2).map(Number);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const model = await createModel('tf_efficientnet_b0.ns_jft_in1k', { checkpointPath: B0_WEIGHTS });
model.eval();
const cfg = model.pretrainedCfg!;
const mean = cfg.mean as readonly number[];
const std = cfg.std as readonly number[];
const fp32 = exportOnnx(model);
const cal = images('train', 0, calN, mean, std);
const t0 = performance.now();
const int8 = await exportOnnxInt8(model, {
  quantize: { calibration: [{ data: cal, dims: [calN, 3, SIZE, SIZE] }], method: 'minmax', perChannel: true },
});
const exportS = (performance.now() - t0) / 1000;
model.dispose();

const opts: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'all', intraOpNumThreads: 2, interOpNumThreads: 1 };
const sFp = await ort.InferenceSession.create(fp32, opts);
const sQ = await ort.InferenceSession.create(int8, opts);
const run = async (s: ort.InferenceSession, x: Float32Array, n: number): Promise<Float32Array> =>
  (await s.run({ input: new ort.Tensor('float32', x, [n, 3, SIZE, SIZE]) }))['logits']!.data as Float32Array;

// Agreement on scored test images, 25 at a time.
const classes = 1000;
let agree = 0;
let maxDiff = 0;
for (let i = 0; i < scoreN; i += 25) {
  const n = Math.min(25, scoreN - i);
  const x = images('test', i, n, mean, std);
  const a = await run(sFp, x, n);
  const b = await run(sQ, x, n);
  const ta = argmaxRows(a, classes);
  const tb = argmaxRows(b, classes);
  ta.forEach((t, k) => (agree += t === tb[k] ? 1 : 0));
  for (let j = 0; j < a.length; j++) maxDiff = Math.max(maxDiff, Math.abs(a[j]! - b[j]!));
}

const timings: Record<string, number> = {};
for (const batch of [1, 32]) {
  const x = images('test', 0, batch, mean, std);
  const t = { fp32: [] as number[], int8: [] as number[] };
  await run(sFp, x, batch);
  await run(sQ, x, batch);
  for (let r = 0; r < repeats; r++) {
    for (const [k, s] of [
      ['fp32', sFp],
      ['int8', sQ],
    ] as const) {
      const s0 = performance.now();
      await run(s, x, batch);
      t[k].push(performance.now() - s0);
    }
  }
  timings[`fp32_b${batch}_ms`] = median(t.fp32);
  timings[`int8_b${batch}_ms`] = median(t.int8);
  timings[`speedup_b${batch}`] = median(t.fp32) / median(t.int8);
}
await sFp.release();
await sQ.release();
console.log(
  JSON.stringify(
    {
      calibrationImages: calN,
      scoredImages: scoreN,
      top1Agreement: agree / scoreN,
      maxAbsLogitDiff: maxDiff,
      sizeMB: { fp32: fp32.length / 1e6, int8: int8.length / 1e6 },
      exportSeconds: exportS,
      repeats,
      ...timings,
    },
    null,
    1,
  ),
);
