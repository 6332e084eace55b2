// Model inference benchmark (issue 3): tf_efficientnet_b0 at 224, batch-1 latency and batch-32
// throughput at 2 threads, side by side with timm eager on Python torch (same machine, same run).
// Usage: TIMM_SRC=/path/to/pytorch-image-models npm run bench -- models
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { inferenceMode, noGrad, randn, scope, setNumThreads, Generator } from '../src/torch/index.js';
import { createModel } from '../src/models/index.js';
import { hrMs, median, pythonTorchAvailable, runPython, SAME_MALLOC } from './util.js';

const REF = fileURLToPath(new URL('./python/models_ref.py', import.meta.url));

async function oursMs(batch: number, reps: number, mode: 'no_grad' | 'inference'): Promise<number> {
  const model = await createModel('tf_efficientnet_b0');
  model.eval();
  const g = new Generator(0);
  const x = randn([batch, 3, 224, 224], { generator: g });
  const runs: number[] = [];
  const wrap = mode === 'inference' ? inferenceMode : noGrad;
  for (let i = 0; i < reps + 2; i++) {
    const t0 = process.hrtime.bigint();
    wrap(() => scope(() => void model.forward(x)));
    if (i >= 2) runs.push(hrMs(t0));
  }
  x.dispose();
  g.dispose();
  model.dispose();
  return median(runs);
}

export async function main(): Promise<void> {
  const threads = 2;
  setNumThreads(threads);
  const timmSrc = process.env['TIMM_SRC'];
  const ref = pythonTorchAvailable() && timmSrc !== undefined && existsSync(join(timmSrc, 'timm'));
  if (!ref) console.log('reference skipped: set TIMM_SRC to a checkout of pytorch-image-models (and apt-get install python3-torch)');
  const env = (extra: Record<string, string> = {}) => ({ PYTHONPATH: timmSrc ?? '', OMP_NUM_THREADS: String(threads), ...extra });
  for (const [batch, reps] of [
    [1, 30],
    [32, 5],
  ] as const) {
    for (const mode of ['no_grad', 'inference'] as const) {
      const ours: number[] = [];
      const theirs: number[] = [];
      const theirsSame: number[] = [];
      for (let r = 0; r < 3; r++) {
        ours.push(await oursMs(batch, reps, mode));
        if (ref) {
          const args = ['tf_efficientnet_b0', String(batch), '224', String(reps), String(threads), mode];
          theirs.push(runPython<{ ms: number }>(REF, args, env()).ms);
          theirsSame.push(runPython<{ ms: number }>(REF, args, env(SAME_MALLOC)).ms);
        }
      }
      const o = median(ours);
      const what = batch === 1 ? 'latency' : 'throughput';
      const fmt = (ms: number): string => (batch === 1 ? `${ms.toFixed(1)} ms` : `${((batch * 1000) / ms).toFixed(1)} img/s`);
      console.log(
        `b0@224 batch ${batch} ${what} (${mode}, ${threads} threads): ours ${fmt(o)}` +
          (ref
            ? `; timm ${fmt(median(theirs))} (time ratio ours/timm ${(o / median(theirs)).toFixed(3)}),` +
              ` timm with our malloc settings ${fmt(median(theirsSame))} (ratio ${(o / median(theirsSame)).toFixed(3)})`
            : ''),
      );
    }
  }
}
