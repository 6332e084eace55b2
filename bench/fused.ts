// Fused inference benchmark (issue 13): tf_efficientnet_b0 at 224, 2 threads, batch-1 latency and
// batch-32 throughput of the eager InferenceModel, the fused path in fp32 and bf16 and, when it can
// be had, ONNX Runtime on the same model: side by side in one process, rounds interleaved, medians
// and ratios. Then the fused path's time per step kind (conv1x1, dw3x3, dw5x5, se, add, head, ...),
// and bf16's accuracy cost against fp32 on the timm fixture's input (logits max |diff|, top-1/top-5
// agreement).
// Usage: npm run bench -- fused, or node --import tsx bench/fused.ts
// ONNX Runtime: our exporter (src/onnx, exportOnnx) when it exists, else ORT_MODEL=/path/model.onnx.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensors, setNumThreads } from '../src/torch/index.js';
import {
  createModel,
  FusedTorchInferenceModel,
  inferenceBatch,
  inferenceModelFrom,
  topkRows,
  type EfficientNet,
  type InferenceArray,
  type InferenceBatch,
} from '../src/models/index.js';
import { median } from './util.js';

type Runner = { name: string; run: (b: InferenceBatch) => Promise<InferenceArray>; dispose: () => void | Promise<void> };

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const FIXTURE = resolve(ROOT, '../shared/fixtures/timm/tf_efficientnet_b0');

function randomBatch(n: number, size: number): InferenceBatch {
  const data = new Float32Array(n * 3 * size * size);
  // Values do not change the speed; a fixed pattern keeps runs comparable.
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.001) * 2;
  return { data, shape: [n, 3, size, size] };
}

async function msPerRun(r: Runner, b: InferenceBatch, reps: number): Promise<number> {
  await r.run(b); // warm-up: prepacking, allocator
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = process.hrtime.bigint();
    await r.run(b);
    ts.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(ts);
}

// ONNX Runtime on the same model, if an exporter or a model file is there.
async function ortRunner(model: EfficientNet, threads: number): Promise<Runner | null> {
  let ort: typeof import('onnxruntime-node');
  try {
    ort = await import('onnxruntime-node');
  } catch {
    console.log('ONNX Runtime skipped: onnxruntime-node is not installed');
    return null;
  }
  let bytes: Uint8Array | string | null = null;
  const exporter = join(ROOT, 'src/onnx/index.ts');
  if (existsSync(exporter)) {
    const mod = (await import(exporter)) as { exportOnnx?: (m: EfficientNet, o: object) => Uint8Array | Promise<Uint8Array> };
    if (mod.exportOnnx) bytes = await mod.exportOnnx(model, { outputs: ['logits'] });
  }
  if (!bytes && process.env['ORT_MODEL']) bytes = process.env['ORT_MODEL'];
  if (!bytes) {
    console.log('ONNX Runtime skipped: no src/onnx exporter yet and no ORT_MODEL=/path/model.onnx');
    return null;
  }
  const opts = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' } as const;
  const session =
    typeof bytes === 'string' ? await ort.InferenceSession.create(bytes, opts) : await ort.InferenceSession.create(bytes, opts);
  const input = session.inputNames[0]!;
  const output = session.outputNames[0]!;
  return {
    name: 'ort fp32',
    run: async (b) => {
      const out = await session.run({ [input]: new ort.Tensor('float32', b.data, [...b.shape]) });
      const t = out[output]!;
      return { data: t.data as Float32Array, shape: [...t.dims] };
    },
    dispose: () => session.release(),
  };
}

function top(a: InferenceArray, k: number): number[][] {
  const t = topkRows(a, k);
  return Array.from({ length: t.shape[0] }, (_, r) => Array.from(t.indices.subarray(r * k, (r + 1) * k)));
}

async function bf16Accuracy(threads: number): Promise<void> {
  if (!existsSync(join(FIXTURE, 'model.safetensors'))) {
    console.log('bf16 accuracy skipped: no timm fixture at ../shared/fixtures/timm');
    return;
  }
  setNumThreads(threads);
  const model = await createModel('tf_efficientnet_b0.ns_jft_in1k', { checkpointPath: join(FIXTURE, 'model.safetensors') });
  model.eval();
  const io = loadSafetensors(join(FIXTURE, 'io.safetensors')).tensors;
  const fp32 = new FusedTorchInferenceModel(model);
  const bf16 = new FusedTorchInferenceModel(model, { precision: 'bf16' });
  let rows = 0;
  let top1 = 0;
  let top5 = 0;
  let maxDiff = 0;
  for (const x of ['x', 'x_odd', 'x_mixed']) {
    const b = inferenceBatch(io.get(x)!);
    const a = await fp32.run(b);
    const c = await bf16.run(b);
    for (let i = 0; i < a.data.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a.data[i]! - c.data[i]!));
    const ta = top(a, 5);
    const tc = top(c, 5);
    ta.forEach((r, i) => {
      rows++;
      if (r[0] === tc[i]![0]) top1++;
      if (r.every((k, j) => tc[i]![j] === k)) top5++;
    });
  }
  console.log(
    `bf16 vs fp32 on the fixture inputs (${rows} images, random timm weights): logits max |diff| ${maxDiff.toExponential(2)}, ` +
      `top-1 agreement ${top1}/${rows}, identical top-5 ${top5}/${rows}`,
  );
  fp32.dispose();
  bf16.dispose();
  for (const t of io.values()) t.dispose();
  model.dispose();
}

export async function main(): Promise<void> {
  const threads = Number(process.env['THREADS'] ?? 2);
  setNumThreads(threads);
  console.log(
    `tf_efficientnet_b0 @224, ${threads} threads; medians of interleaved rounds (a shared machine: compare ratios, not absolutes)`,
  );
  const model = await createModel('tf_efficientnet_b0');
  model.eval();
  const eager = inferenceModelFrom(model);
  const fp32 = new FusedTorchInferenceModel(model);
  const bf16 = new FusedTorchInferenceModel(model, { precision: 'bf16' });
  // The dense convs through ATen's prepacked oneDNN instead of oneDNN directly with post-ops.
  const aten = new FusedTorchInferenceModel(model, { kernels: { dnnl: false } });
  const runners: Runner[] = [
    { name: 'eager', run: (b) => eager.run(b), dispose: () => eager.dispose() },
    { name: 'fused fp32', run: (b) => fp32.run(b), dispose: () => {} },
    { name: 'fused fp32 (ATen convs)', run: (b) => aten.run(b), dispose: () => aten.dispose() },
    { name: 'fused bf16', run: (b) => bf16.run(b), dispose: () => {} },
  ];
  const ort = await ortRunner(model, threads);
  if (ort) runners.push(ort);

  for (const [batch, reps, rounds] of [
    [1, 20, 5],
    [32, 3, 3],
  ] as const) {
    const b = randomBatch(batch, 224);
    const ms = new Map<string, number[]>(runners.map((r) => [r.name, []]));
    for (let round = 0; round < rounds; round++) for (const r of runners) ms.get(r.name)!.push(await msPerRun(r, b, reps));
    const eagerMs = median(ms.get('eager')!);
    const fmt = (m: number) => (batch === 1 ? `${m.toFixed(2)} ms` : `${((batch * 1000) / m).toFixed(1)} img/s`);
    console.log(`batch ${batch} (${batch === 1 ? 'latency' : 'throughput'}):`);
    for (const r of runners) {
      const m = median(ms.get(r.name)!);
      const ortMs = ort ? median(ms.get(ort.name)!) : null;
      console.log(
        `  ${r.name.padEnd(11)} ${fmt(m).padStart(12)}   speed-up vs eager ${(eagerMs / m).toFixed(2)}x` +
          (ortMs !== null && r !== ort ? `, time vs ORT ${(m / ortMs).toFixed(2)}x` : '') +
          `   (rounds: ${ms
            .get(r.name)!
            .map((x) => x.toFixed(1))
            .join(' ')} ms)`,
      );
    }
    // Time per step kind: the minimum over 3 profiled runs of each step, summed by kind.
    for (const [name, f] of [
      ['fp32', fp32],
      ['bf16', bf16],
    ] as const) {
      const profs = [await f.profile(b), await f.profile(b), await f.profile(b)];
      const by = new Map<string, number>();
      profs[0]!.forEach((p, i) => by.set(p.kind, (by.get(p.kind) ?? 0) + Math.min(...profs.map((q) => q[i]!.ms))));
      const total = [...by.values()].reduce((a, c) => a + c, 0);
      const parts = [...by]
        .filter(([k]) => k !== 'save' && k !== 'tap')
        .sort((x, y) => y[1] - x[1])
        .map(([k, v]) => `${k} ${v.toFixed(2)}`);
      console.log(`  fused ${name} steps (ms, sum ${total.toFixed(2)}): ${parts.join(', ')}`);
    }
  }
  for (const r of runners) await r.dispose();
  fp32.dispose();
  bf16.dispose();
  model.dispose();
  await bf16Accuracy(threads);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
