// Reduced precision's accuracy cost and speed (issue 13), on a trained model and a labeled test set:
// top-1 of fp32 (ONNX Runtime and libtorch fused), bf16 (fused) and int8 (ONNX Runtime, calibrated
// with minmax and with percentile ranges on N training images), each one's top-1 agreement with fp32,
// and batch-32 throughput of each on the test images (medians of interleaved rounds).
//   BENCH_PRECISION_CHECKPOINT=<model dir> [BENCH_PRECISION_DATA=fashion-mnist:test] [BENCH_PRECISION_CAL=fashion-mnist]
//   npm run bench -- precision
// A model to try it on: `noisy-student train --model tf_efficientnet_b0 --img-size 64 --in-chans 3
// --data fashion-mnist --labels-per-class 2000 --epochs 3 -o DIR` (a b0 trained on Fashion-MNIST at 64 px).
import { calibrationFromDataset, openInferenceModel, type BackendName, type Calibration, type Precision } from '../src/backends/index.js';
import { DataLoader } from '../src/data/index.js';
import { createModel, type InferenceModel } from '../src/models/index.js';
import { inferenceDataConfig, selectData } from '../src/train/index.js';
import { median } from './util.js';

const CHECKPOINT = process.env['BENCH_PRECISION_CHECKPOINT'];
const MODEL = process.env['BENCH_PRECISION_MODEL'] ?? 'tf_efficientnet_b0';
const DATA = process.env['BENCH_PRECISION_DATA'] ?? 'fashion-mnist:test';
const CAL = process.env['BENCH_PRECISION_CAL'] ?? 'fashion-mnist';
const CAL_IMAGES = Number(process.env['BENCH_PRECISION_CAL_IMAGES'] ?? 64);
const LIMIT = process.env['BENCH_PRECISION_LIMIT'] ? Number(process.env['BENCH_PRECISION_LIMIT']) : undefined;
const BATCH = 32;
const ROUNDS = 5;

interface Variant {
  readonly label: string;
  readonly backend: BackendName;
  readonly precision: Precision;
  readonly method?: 'minmax' | 'percentile';
}
const VARIANTS: readonly Variant[] = [
  { label: 'ort fp32', backend: 'ort', precision: 'fp32' },
  { label: 'torch-fused fp32', backend: 'torch-fused', precision: 'fp32' },
  { label: 'torch-fused bf16', backend: 'torch-fused', precision: 'bf16' },
  { label: 'ort int8 minmax', backend: 'ort', precision: 'int8', method: 'minmax' },
  { label: 'ort int8 percentile', backend: 'ort', precision: 'int8', method: 'percentile' },
];

const argmax = (a: Float32Array, off: number, n: number): number => {
  let best = 0;
  for (let i = 1; i < n; i++) if (a[off + i]! > a[off + best]!) best = i;
  return best;
};

export async function main(): Promise<void> {
  if (!CHECKPOINT) {
    console.log('precision: set BENCH_PRECISION_CHECKPOINT to a trained model folder (see the comment in bench/precision.ts)');
    return;
  }
  const model = await createModel(MODEL, { checkpointPath: CHECKPOINT });
  model.eval();
  const config = inferenceDataConfig(model);
  const test = selectData({ spec: DATA, ...(LIMIT ? { limit: LIMIT } : {}) });
  const calData = selectData({ spec: CAL }).dataset;
  // The test set preprocessed once: every variant sees the same floats.
  const loader = new DataLoader(test.dataset, { batchSize: BATCH, numWorkers: 1, transform: { config } });
  const batches: { data: Float32Array; shape: [number, number, number, number]; labels: number[] }[] = [];
  for await (const b of loader.epoch(0)) {
    batches.push({
      data: b.data,
      shape: b.shape as [number, number, number, number],
      labels: Array.from(b.indices, (i) => test.dataset.label(i)),
    });
  }
  await loader.close();
  const n = batches.reduce((a, b) => a + b.labels.length, 0);

  const models: InferenceModel[] = [];
  for (const v of VARIANTS) {
    const calibration: Calibration | undefined =
      v.precision === 'int8' ? calibrationFromDataset(calData, config, { images: CAL_IMAGES, method: v.method ?? 'minmax' }) : undefined;
    models.push(await openInferenceModel(model, { backend: v.backend, precision: v.precision, ...(calibration ? { calibration } : {}) }));
  }
  const preds: number[][] = VARIANTS.map(() => []);
  const times: number[][] = VARIANTS.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < VARIANTS.length; k++) {
      const t0 = process.hrtime.bigint();
      for (const b of batches) {
        const out = await models[k]!.run({ data: b.data, shape: b.shape }, 'logits');
        if (r === 0) for (let i = 0; i < b.labels.length; i++) preds[k]!.push(argmax(out.data, i * model.numClasses, model.numClasses));
      }
      times[k]!.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }
  const labels = batches.flatMap((b) => b.labels);
  const base = preds[0]!;
  const baseIps = n / median(times[0]!);
  console.log(
    `${MODEL} from ${CHECKPOINT} on ${DATA} (${n} images, ${config.inputSize.join('x')}); int8 calibrated on ${CAL_IMAGES} images of ${CAL}`,
  );
  console.log('variant               top-1 %   vs fp32 pt  agree w/ fp32   img/s (b32)  vs ort fp32');
  const rows = VARIANTS.map((v, k) => {
    const top1 = preds[k]!.filter((p, i) => p === labels[i]).length / n;
    const agree = preds[k]!.filter((p, i) => p === base[i]).length / n;
    const ips = n / median(times[k]!);
    return { variant: v.label, top1, agree, imgPerSec: ips, speedupVsOrtFp32: ips / baseIps };
  });
  const top0 = rows[0]!.top1;
  for (const r of rows)
    console.log(
      `${r.variant.padEnd(20)} ${(r.top1 * 100).toFixed(2).padStart(8)} ${((r.top1 - top0) * 100).toFixed(2).padStart(11)} ` +
        `${(r.agree * 100).toFixed(2).padStart(13)} ${r.imgPerSec.toFixed(1).padStart(13)} ${r.speedupVsOrtFp32.toFixed(2).padStart(12)}`,
    );
  console.log(JSON.stringify({ model: MODEL, data: DATA, images: n, inputSize: config.inputSize, calibrationImages: CAL_IMAGES, rows }));
  for (const m of models) await m.dispose();
  model.dispose();
}
