// Inference backends side by side (issue 13): tf_efficientnet_b0 at 224, 2 threads, batch-1 latency
// and batch-32 throughput of libtorch eager, the fused path (fp32, bf16), ONNX Runtime on our own
// export, ONNX Runtime on timm's own export (torch.onnx, bench/python/timm_onnx_export.py) and timm
// eager on Python torch (same malloc settings). Rounds are interleaved (every engine once per round)
// so that load on the shared machine hits them alike; each figure is a median over rounds.
// Usage: TIMM_SRC=/path/to/pytorch-image-models npm run bench -- inference
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setNumThreads } from '../src/torch/index.js';
import { createModel, type InferenceModel } from '../src/models/index.js';
import { measureInference, OrtInferenceModel, openInferenceModel } from '../src/backends/index.js';
import { median, pythonTorchAvailable, runPython, SAME_MALLOC } from './util.js';

const MODELS_REF = fileURLToPath(new URL('./python/models_ref.py', import.meta.url));
const EXPORT_REF = fileURLToPath(new URL('./python/timm_onnx_export.py', import.meta.url));
const THREADS = 2;
const ROUNDS = 3;
const CASES = [
  { batch: 1, iters: 20 },
  { batch: 32, iters: 4 },
] as const;

export async function main(): Promise<void> {
  setNumThreads(THREADS);
  const timmSrc = process.env['TIMM_SRC'];
  const ref = pythonTorchAvailable() && timmSrc !== undefined && existsSync(join(timmSrc, 'timm'));
  if (!ref) console.log('timm rows skipped: set TIMM_SRC to a checkout of pytorch-image-models (and apt-get install python3-torch)');
  const pyEnv = { PYTHONPATH: timmSrc ?? '', OMP_NUM_THREADS: String(THREADS), ...SAME_MALLOC };
  const tmp = mkdtempSync(join(tmpdir(), 'ns-bench-inference-'));
  try {
    const model = await createModel('tf_efficientnet_b0');
    model.eval();
    const engines: [string, InferenceModel][] = [
      ['torch eager', await openInferenceModel(model, { backend: 'torch' })],
      ['torch-fused fp32', await openInferenceModel(model, { backend: 'torch-fused' })],
      ['torch-fused bf16', await openInferenceModel(model, { backend: 'torch-fused', precision: 'bf16' })],
      ['ort, our export', await openInferenceModel(model, { backend: 'ort', threads: THREADS })],
    ];
    if (ref) {
      const path = join(tmp, 'timm_b0.onnx');
      runPython(EXPORT_REF, ['tf_efficientnet_b0', path, '224', '17'], { PYTHONPATH: timmSrc! });
      // timm's graph has no noisy-student metadata: give OrtInferenceModel ours (same model, same outputs).
      const ours = await import('../src/onnx/index.js');
      const meta = ours.decodeModel(ours.exportOnnx(model)).metadataProps;
      engines.push(['ort, timm export', await ortOnForeignModel(path, meta)]);
    }
    const results = new Map<string, number[]>();
    for (let r = 0; r < ROUNDS; r++) {
      for (const c of CASES) {
        for (const [name, m] of engines) {
          const ms = (await measureInference(m, { batch: c.batch, chans: 3, height: 224, width: 224, warmup: 2, iters: c.iters })).latencyMs
            .p50;
          push(results, `${name}|${c.batch}`, ms);
        }
        if (ref) {
          const args = ['tf_efficientnet_b0', String(c.batch), '224', String(c.iters), String(THREADS), 'no_grad'];
          push(results, `timm eager|${c.batch}`, runPython<{ ms: number }>(MODELS_REF, args, pyEnv).ms);
        }
      }
    }
    for (const [, m] of engines) await m.dispose();
    model.dispose();

    const names = [...engines.map(([n]) => n), ...(ref ? ['timm eager'] : [])];
    const baseline = (batch: number, n: string): number | undefined => {
      const v = results.get(`${n}|${batch}`);
      return v ? median(v) : undefined;
    };
    console.log(
      `b0@224, ${THREADS} threads, medians of ${ROUNDS} interleaved rounds (the machine is shared: ratios matter, not absolutes)`,
    );
    for (const c of CASES) {
      const ortTimm = baseline(c.batch, 'ort, timm export');
      const timm = baseline(c.batch, 'timm eager');
      console.log(`batch ${c.batch}:`);
      for (const n of names) {
        const ms = baseline(c.batch, n)!;
        const fig = c.batch === 1 ? `${ms.toFixed(1)} ms` : `${((c.batch * 1000) / ms).toFixed(1)} img/s`;
        const vs = [
          ortTimm ? `${(ortTimm / ms).toFixed(2)}x ort-on-timm-export` : '',
          timm ? `${(timm / ms).toFixed(2)}x timm eager` : '',
        ].filter(Boolean);
        // The rounds' spread (max - min over the median) says how much the shared machine's load moved this figure.
        const runs = results.get(`${n}|${c.batch}`)!;
        const spread = `spread ${(((Math.max(...runs) - Math.min(...runs)) / ms) * 100).toFixed(0)}%`;
        console.log(`  ${n.padEnd(18)} ${fig.padStart(12)}  ${spread.padStart(11)}   ${vs.join(', ')}`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function push(m: Map<string, number[]>, k: string, v: number): void {
  const a = m.get(k) ?? [];
  a.push(v);
  m.set(k, a);
}

// OrtInferenceModel reads its description from our metadata; timm's export has none, so the same
// graph is opened with ours added (metadata_props only: the graph and weights are timm's).
async function ortOnForeignModel(path: string, meta: { key: string; value: string }[]): Promise<InferenceModel> {
  const { readFileSync } = await import('node:fs');
  const { createRequire } = await import('node:module');
  const { onnx } = createRequire(import.meta.url)('onnx-proto') as {
    onnx: { ModelProto: { decode(b: Uint8Array): { metadataProps: unknown[] }; encode(m: unknown): { finish(): Uint8Array } } };
  };
  const m = onnx.ModelProto.decode(new Uint8Array(readFileSync(path)));
  m.metadataProps = [...meta.filter((p) => p.key !== 'outputs'), { key: 'outputs', value: JSON.stringify(['logits']) }];
  return OrtInferenceModel.fromBytes(onnx.ModelProto.encode(m).finish(), { threads: THREADS });
}
