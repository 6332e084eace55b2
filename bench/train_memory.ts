// Training memory benchmark (issue 14): peak RSS of a tf_efficientnet_b0 training run at batch 64,
// 64x64 input, against timm's on Python torch (same libtorch, same threads, same malloc settings as
// bench/train.ts: SAME_MALLOC). Each side is a child process of its own and reads its own peak
// (/proc/self/status VmHWM), so neither counts the other's or this driver's memory.
//
// Rows (STEPS steps each, a fresh random batch per step, SGD with momentum, 2 intra-op threads):
//   random fp32 / bf16: ours (createModel + trainStep) vs timm (create_model + the same step);
//   fmnist fp32: ours with the real input path, Fashion-MNIST through the DataLoader and the
//     training transform (RandomResizedCrop to 64, flip), loader workers from the thread plan; what
//     it adds over the random row is the loader's (worker threads, their batch buffers, the data set).
// Reported per row: RSS after loading the engine, after building the model, and the peak, in MiB,
// with ours/timm for the peak. The target (issue 14) is a peak within 1.2x of timm's.
// Usage: TIMM_SRC=/path/to/pytorch-image-models npm run bench -- train-memory
//   STEPS=n (default 30), BENCH_TRAIN_MEMORY_MODES=fp32,bf16,fmnist (the rows; default all)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pythonTorchAvailable, runPython, SAME_MALLOC } from './util.js';

const SELF = fileURLToPath(import.meta.url);
const REF = fileURLToPath(new URL('./python/train_memory_ref.py', import.meta.url));
const BATCH = 64;
const SIZE = 64;
const THREADS = 2;

interface MemResult {
  importedMb: number;
  builtMb: number;
  peakMb: number;
  endMb: number;
}

function statusMb(key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** The child: one training run of ours, printing MemResult as its last line. */
async function child(mode: string, steps: number): Promise<void> {
  const { F, Generator, fromTypedArray, randint, randn, setNumThreads } = await import('../src/torch/index.js');
  const { createModel } = await import('../src/models/index.js');
  const { SGD, trainStep } = await import('../src/train/index.js');
  setNumThreads(THREADS);
  const importedMb = statusMb('VmRSS');
  const g = new Generator(0);
  const model = await createModel('tf_efficientnet_b0', { numClasses: 10, generator: g });
  model.train();
  const opt = new SGD([{ params: [...model.namedParameters()] }], { lr: 0.01, momentum: 0.9 });
  const builtMb = statusMb('VmRSS');
  const state = { step: 0 };
  const lossFn = (l: import('../src/torch/index.js').Tensor, b: { target: import('../src/torch/index.js').Tensor }) =>
    F.crossEntropy(l, b.target);
  const context = { autocast: mode === 'bf16' ? ('bfloat16' as const) : null };
  if (mode === 'fmnist') {
    const { DataLoader, fashionMnist, resolveDataConfig } = await import('../src/data/index.js');
    const { threadPlan } = await import('../src/util/cpu_budget.js');
    const ds = fashionMnist('train');
    const config = resolveDataConfig({ inputSize: [3, SIZE, SIZE], interpolation: 'bilinear' });
    const loader = new DataLoader(ds, {
      batchSize: BATCH,
      numWorkers: threadPlan('train').loaderWorkers,
      shuffle: true,
      dropLast: true,
      transform: { config, isTraining: true },
    });
    let done = 0;
    for (let epoch = 0; done < steps; epoch++) {
      for await (const b of loader.epoch(epoch)) {
        const x = fromTypedArray(b.data, b.shape);
        const target = fromTypedArray(
          BigInt64Array.from(b.labels, (v) => BigInt(v)),
          [b.labels.length],
        );
        try {
          trainStep(model, [{ x, target }], { optimizer: opt, lossFn, context }, state);
        } finally {
          x.dispose();
          target.dispose();
        }
        if (++done >= steps) break;
      }
    }
    await loader.close();
  } else {
    for (let i = 0; i < steps; i++) {
      const x = randn([BATCH, 3, SIZE, SIZE], { generator: g });
      const target = randint(0, 10, [BATCH], { generator: g });
      try {
        trainStep(model, [{ x, target }], { optimizer: opt, lossFn, context }, state);
      } finally {
        x.dispose();
        target.dispose();
      }
    }
  }
  const r: MemResult = { importedMb, builtMb, peakMb: statusMb('VmHWM'), endMb: statusMb('VmRSS') };
  opt.dispose();
  model.dispose();
  g.dispose();
  console.log(JSON.stringify(r));
}

function runOurs(mode: string, steps: number): MemResult {
  const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, '--child', mode, String(steps)], {
    encoding: 'utf8',
    env: { ...process.env, ...SAME_MALLOC },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return JSON.parse(out.trim().split('\n').pop()!) as MemResult;
}

const fmt = (r: MemResult): string => `engine ${r.importedMb.toFixed(0)}, model ${r.builtMb.toFixed(0)}, peak ${r.peakMb.toFixed(0)} MiB`;

export async function main(): Promise<void> {
  const steps = Number(process.env['STEPS'] ?? 30);
  const timmSrc = process.env['TIMM_SRC'];
  const ref = pythonTorchAvailable() && timmSrc !== undefined && existsSync(join(timmSrc, 'timm'));
  if (!ref) console.log('reference skipped: set TIMM_SRC (python3-torch and timm)');
  console.log(
    `tf_efficientnet_b0 training, batch ${BATCH} at ${SIZE}x${SIZE}, ${steps} steps, ${THREADS} threads, peak RSS (VmHWM) of each process`,
  );
  const all = ['fp32', 'bf16', 'fmnist'];
  const modes = (process.env['BENCH_TRAIN_MEMORY_MODES'] ?? all.join(',')).split(',').map((m) => m.trim());
  for (const m of modes) if (!all.includes(m)) throw new Error(`BENCH_TRAIN_MEMORY_MODES: unknown "${m}"; known: ${all.join(', ')}`);
  for (const mode of modes) {
    const ours = runOurs(mode, steps);
    const theirs =
      ref && mode !== 'fmnist'
        ? runPython<MemResult>(REF, [String(BATCH), String(SIZE), String(steps), String(THREADS), mode], {
            ...SAME_MALLOC,
            PYTHONPATH: timmSrc ?? '',
          })
        : null;
    const label = mode === 'fmnist' ? 'fp32, Fashion-MNIST through the loader' : `${mode}, random batches`;
    console.log(
      `${label}: ours ${fmt(ours)}` + (theirs ? `; timm ${fmt(theirs)}; peak ours/timm ${(ours.peakMb / theirs.peakMb).toFixed(2)}x` : ''),
    );
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]!, Number(process.argv[4]));
