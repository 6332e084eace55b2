// Training benchmark (issue 5): images/s of a training step (forward, cross-entropy, backward, SGD)
// for tf_efficientnet_b0 at batch 64 / 64x64 and batch 32 / 224, 2 threads, with and without
// channels_last, side by side with the same timm step on Python torch.
// Usage: TIMM_SRC=/path/to/pytorch-image-models npm run bench -- train
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { F, Generator, randint, randn, setNumThreads, type Tensor } from '../src/torch/index.js';
import { createModel } from '../src/models/index.js';
import { SGD, trainStep } from '../src/train/index.js';
import { median, pythonTorchAvailable, runPython, SAME_MALLOC } from './util.js';

const REF = fileURLToPath(new URL('./python/train_ref.py', import.meta.url));

async function oursIps(batch: number, size: number, steps: number, channelsLast: boolean): Promise<number> {
  const g = new Generator(0);
  const model = await createModel('tf_efficientnet_b0', { numClasses: 10, generator: g });
  model.train();
  const opt = new SGD([{ params: [...model.namedParameters()] }], { lr: 0.01, momentum: 0.9 });
  const x = randn([batch, 3, size, size], { generator: g });
  const y = randint(0, 10, [batch], { generator: g });
  const state = { step: 0 };
  const times: number[] = [];
  for (let i = 0; i < steps + 2; i++) {
    const t0 = process.hrtime.bigint();
    trainStep(model, [{ x, target: y }], { optimizer: opt, lossFn: (l: Tensor, b) => F.crossEntropy(l, b.target), channelsLast }, state);
    if (i >= 2) times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  opt.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
  g.dispose();
  return batch / median(times);
}

export async function main(): Promise<void> {
  const threads = 2;
  setNumThreads(threads);
  const timmSrc = process.env['TIMM_SRC'];
  const ref = pythonTorchAvailable() && timmSrc !== undefined && existsSync(join(timmSrc, 'timm'));
  if (!ref) console.log('reference skipped: set TIMM_SRC (and bash scripts/setup --bench)');
  for (const [batch, size, steps] of [
    [64, 64, 8],
    [32, 224, 4],
  ] as const) {
    for (const cl of [false, true]) {
      const ours: number[] = [];
      const theirs: number[] = [];
      for (let r = 0; r < 3; r++) {
        ours.push(await oursIps(batch, size, steps, cl));
        if (ref) {
          const env = { PYTHONPATH: timmSrc ?? '', OMP_NUM_THREADS: String(threads), ...SAME_MALLOC };
          theirs.push(
            runPython<{ ips: number }>(REF, [String(batch), String(size), String(steps), String(threads), cl ? '1' : '0'], env).ips,
          );
        }
      }
      const o = median(ours);
      console.log(
        `b0 train step, batch ${batch} at ${size}x${size}${cl ? ', channels_last' : ''}: ours ${o.toFixed(1)} img/s` +
          (ref
            ? `, timm (same malloc settings) ${median(theirs).toFixed(1)} img/s, ratio ${(o / median(theirs)).toFixed(3)} (target >= 0.95)`
            : ''),
      );
    }
  }
}
