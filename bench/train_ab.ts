// In-process A/B of our own training step (issue 14): the fused BatchNorm + activation against
// aten's batch_norm + activation, and bf16 autocast against float32, for tf_efficientnet_b0 at
// batch 64 / 64x64 and batch 32 / 224, channels_last. The two variants alternate step by step on
// one model, and each pair of neighbouring steps gives one ratio: load that drifts on a shared
// machine hits both sides of a pair alike. Reported: the median ratio over the pairs.
// Usage: npm run bench -- train-ab   (BENCH_AB_PAIRS=8, BENCH_TRAIN_SIZES=64,224)
import { F, Generator, randint, randn, setFusedBatchNormAct, setNumThreads, type Tensor } from '../src/torch/index.js';
import { createModel } from '../src/models/index.js';
import { SGD, toChannelsLast_, trainStep } from '../src/train/index.js';
import { median } from './util.js';

interface Variant {
  readonly name: string;
  readonly fused: boolean;
  readonly bf16: boolean;
}

async function ab(batch: number, size: number, pairs: number, a: Variant, b: Variant): Promise<number[]> {
  const g = new Generator(0);
  const model = await createModel('tf_efficientnet_b0', { numClasses: 10, generator: g });
  model.train();
  toChannelsLast_(model);
  const opt = new SGD([{ params: [...model.namedParameters()] }], { lr: 0.01, momentum: 0.9 });
  const x = randn([batch, 3, size, size], { generator: g });
  const y = randint(0, 10, [batch], { generator: g });
  const state = { step: 0 };
  const lossFn = (l: Tensor, bt: { target: Tensor }): Tensor => F.crossEntropy(l, bt.target);
  const step = (v: Variant): number => {
    setFusedBatchNormAct(v.fused);
    const t0 = process.hrtime.bigint();
    trainStep(
      model,
      [{ x, target: y }],
      { optimizer: opt, lossFn, channelsLast: true, context: { autocast: v.bf16 ? 'bfloat16' : null } },
      state,
    );
    return Number(process.hrtime.bigint() - t0) / 1e9;
  };
  step(a);
  step(b);
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    // Alternate the order so neither side always runs right after the other's allocations.
    let ta: number;
    let tb: number;
    if (i % 2 === 0) {
      ta = step(a);
      tb = step(b);
    } else {
      tb = step(b);
      ta = step(a);
    }
    ratios.push(tb / ta);
  }
  setFusedBatchNormAct(true);
  opt.dispose();
  model.dispose();
  x.dispose();
  y.dispose();
  g.dispose();
  return ratios;
}

export async function main(): Promise<void> {
  setNumThreads(2);
  const pairs = Number(process.env['BENCH_AB_PAIRS'] ?? 8);
  const sizes = (process.env['BENCH_TRAIN_SIZES'] ?? '64,224').split(',');
  const fp32Fused = { name: 'fp32 fused BN', fused: true, bf16: false };
  const fp32Aten = { name: 'fp32 aten BN', fused: false, bf16: false };
  const bf16 = { name: 'bf16 autocast', fused: true, bf16: true };
  for (const s of sizes) {
    const [batch, size] = s === '224' ? [32, 224] : [64, 64];
    for (const [a, b] of [
      [fp32Fused, fp32Aten],
      [bf16, fp32Fused],
    ] as const) {
      const r = await ab(batch!, size!, pairs, a, b);
      console.log(
        `b0 train step, batch ${batch} at ${size}x${size}, channels_last: ${a.name} is ${median(r).toFixed(3)}x the speed of ${b.name} ` +
          `(per pair ${r.map((v) => v.toFixed(3)).join(' ')})`,
      );
    }
  }
}
