// Training benchmark (issues 5 and 14): images/s of a training step (forward, cross-entropy,
// backward, SGD) for tf_efficientnet_b0 at batch 64 / 64x64 and batch 32 / 224, 2 threads, in
// float32 and bf16 mixed precision (autocast), with and without channels_last, side by side with
// the same timm step on Python torch (same libtorch, same malloc settings).
//
// Each repeat runs ours and timm's back to back, alternating which goes first, and the ratio is
// taken per repeat: on a shared machine the load drifts, and a pair measured together sees the
// same load. Reported: the median of the per-repeat ratios of median step times, the median
// images/s of each side, and the same from each run's fastest step (the least disturbed one: on
// a loaded machine the median measures the neighbours as much as the step).
//
// Usage: TIMM_SRC=/path/to/pytorch-image-models npm run bench -- train
//   BENCH_TRAIN_REPEATS=5        repeats per row (default 3)
//   BENCH_TRAIN_MODES=fp32-cl,bf16-cl   rows to run (fp32, fp32-cl, bf16, bf16-cl; default all four)
//   BENCH_TRAIN_SIZES=64,224     input sizes (64: batch 64, 224: batch 32; default both)
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { F, Generator, randint, randn, setNumThreads, type Tensor } from '../src/torch/index.js';
import { createModel } from '../src/models/index.js';
import { SGD, toChannelsLast_, trainStep } from '../src/train/index.js';
import { median, pythonTorchAvailable, runPython, SAME_MALLOC } from './util.js';

const REF = fileURLToPath(new URL('./python/train_ref.py', import.meta.url));

interface Mode {
  readonly name: string;
  readonly channelsLast: boolean;
  readonly bf16: boolean;
}

const MODES: readonly Mode[] = [
  { name: 'fp32', channelsLast: false, bf16: false },
  { name: 'fp32-cl', channelsLast: true, bf16: false },
  { name: 'bf16', channelsLast: false, bf16: true },
  { name: 'bf16-cl', channelsLast: true, bf16: true },
];

const SIZES: Readonly<Record<string, { batch: number; size: number; steps: number }>> = {
  '64': { batch: 64, size: 64, steps: 8 },
  '224': { batch: 32, size: 224, steps: 4 },
};

/** Median and fastest step time of `steps` steps after 2 warm-up steps, as images/s. */
async function oursIps(batch: number, size: number, steps: number, mode: Mode): Promise<{ ips: number; best: number }> {
  const g = new Generator(0);
  const model = await createModel('tf_efficientnet_b0', { numClasses: 10, generator: g });
  model.train();
  // As fit() does for channelsLast, and timm's model.to(memory_format=torch.channels_last).
  if (mode.channelsLast) toChannelsLast_(model);
  const opt = new SGD([{ params: [...model.namedParameters()] }], { lr: 0.01, momentum: 0.9 });
  const x = randn([batch, 3, size, size], { generator: g });
  const y = randint(0, 10, [batch], { generator: g });
  const state = { step: 0 };
  const times: number[] = [];
  const lossFn = (l: Tensor, b: { target: Tensor }): Tensor => F.crossEntropy(l, b.target);
  const context = { autocast: mode.bf16 ? ('bfloat16' as const) : null };
  for (let i = 0; i < steps + 2; i++) {
    const t0 = process.hrtime.bigint();
    trainStep(model, [{ x, target: y }], { optimizer: opt, lossFn, channelsLast: mode.channelsLast, context }, state);
    if (i >= 2) times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  opt.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
  g.dispose();
  return { ips: batch / median(times), best: batch / Math.min(...times) };
}

function listEnv(name: string, all: readonly string[]): string[] {
  const v = process.env[name];
  if (!v) return [...all];
  const want = v.split(',').map((s) => s.trim());
  for (const w of want) if (!all.includes(w)) throw new Error(`${name}: unknown "${w}"; known: ${all.join(', ')}`);
  return want;
}

export async function main(): Promise<void> {
  const threads = 2;
  setNumThreads(threads);
  const repeats = Number(process.env['BENCH_TRAIN_REPEATS'] ?? 3);
  const modes = listEnv(
    'BENCH_TRAIN_MODES',
    MODES.map((m) => m.name),
  ).map((n) => MODES.find((m) => m.name === n)!);
  const sizes = listEnv('BENCH_TRAIN_SIZES', Object.keys(SIZES));
  const timmSrc = process.env['TIMM_SRC'];
  const ref = pythonTorchAvailable() && timmSrc !== undefined && existsSync(join(timmSrc, 'timm'));
  if (!ref) console.log('reference skipped: set TIMM_SRC (and bash scripts/setup --bench)');
  const env = { PYTHONPATH: timmSrc ?? '', OMP_NUM_THREADS: String(threads), ...SAME_MALLOC };
  const ours: Record<string, number> = {};
  for (const key of sizes) {
    const { batch, size, steps } = SIZES[key]!;
    for (const mode of modes) {
      const o: number[] = [];
      const t: number[] = [];
      const ratios: number[] = [];
      const bestRatios: number[] = [];
      const bestOurs: number[] = [];
      for (let r = 0; r < repeats; r++) {
        const timm = (): { ips: number; best: number } =>
          runPython<{ ips: number; best: number }>(
            REF,
            [String(batch), String(size), String(steps), String(threads), mode.channelsLast ? '1' : '0', mode.bf16 ? 'bf16' : 'fp32'],
            env,
          );
        let a: { ips: number; best: number };
        let b = { ips: NaN, best: NaN };
        if (ref && r % 2 === 1) {
          b = timm();
          a = await oursIps(batch, size, steps, mode);
        } else {
          a = await oursIps(batch, size, steps, mode);
          if (ref) b = timm();
        }
        o.push(a.ips);
        bestOurs.push(a.best);
        if (ref) {
          t.push(b.ips);
          ratios.push(a.ips / b.ips);
          bestRatios.push(a.best / b.best);
        }
      }
      const om = median(o);
      ours[`${key}/${mode.name}`] = om;
      ours[`${key}/${mode.name}/best`] = Math.max(...bestOurs);
      console.log(
        `b0 train step, batch ${batch} at ${size}x${size}, ${mode.name}: ours ${om.toFixed(1)} img/s (best step ${Math.max(...bestOurs).toFixed(1)})` +
          (ref
            ? `, timm ${median(t).toFixed(1)} img/s, ratio ${median(ratios).toFixed(3)} ` +
              `(per-repeat ratios ${ratios.map((x) => x.toFixed(3)).join(' ')}); best-step ratio ${median(bestRatios).toFixed(3)} ` +
              `(per repeat ${bestRatios.map((x) => x.toFixed(3)).join(' ')}); target >= 1.1`
            : ''),
      );
    }
    // What mixed precision buys us on the same layout.
    for (const cl of ['', '-cl']) {
      const f = ours[`${key}/fp32${cl}`];
      const h = ours[`${key}/bf16${cl}`];
      if (f !== undefined && h !== undefined)
        console.log(
          `  ours bf16${cl} vs fp32${cl} at ${size}: ${(h / f).toFixed(3)}x images/s ` +
            `(best steps ${(ours[`${key}/bf16${cl}/best`]! / ours[`${key}/fp32${cl}/best`]!).toFixed(3)}x)`,
        );
    }
  }
}
