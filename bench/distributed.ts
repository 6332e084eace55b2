// Data-parallel training throughput: tf_efficientnet_b0 training steps (SGD, random batch) in 1
// process and in 2 processes (Gloo on 127.0.0.1, gradients averaged by DataParallel), 1 thread
// each, at 64 px and 224 px, run side by side; plus the communication per step (DataParallel's
// bucketed gradient allreduce) and a bare allreduce of b0's gradient bytes.
//   node --import tsx bench/distributed.ts [--steps N] [--sizes 64,224] [--model NAME --in-chans C --batch B]
// --batch: the batch per rank (default 32 at <= 64 px, 8 above); the 1-process x 2-threads row then
// runs the 2 ranks' global batch (2B), the question a run on one machine asks: 2 ranks or 2 threads.
// With RANK set it is one rank of a measurement (the orchestrator starts those).
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { F, fromTypedArray, noGrad, randn, zeros, type Tensor } from '../src/torch/index.js';
import { createModel } from '../src/models/index.js';
import { SGD, trainStep } from '../src/train/index.js';
import { DataParallel } from '../src/train/data_parallel.js';
import { ProcessGroup } from '../src/distributed/index.js';

interface Measure {
  world: number;
  threads: number;
  size: number;
  batchPerRank: number;
  steps: number;
  stepMs: number;
  imagesPerSec: number;
  commMsPerStep: number;
  /** Waiting for the slower rank before the allreduce. */
  skewMsPerStep: number;
  gradBytes: number;
  bareAllreduceMs: number | null;
}

function arg(name: string, d: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : d;
}

async function rankMain(): Promise<void> {
  const size = Number(process.env['BENCH_SIZE']);
  const B = Number(process.env['BENCH_BATCH']);
  const steps = Number(process.env['BENCH_STEPS']);
  const world = Number(process.env['WORLD_SIZE'] ?? 1);
  const pg = world > 1 ? await ProcessGroup.init({ timeoutMs: 600_000 }) : null;
  const dp = pg ? new DataParallel(pg) : null;
  const inChans = Number(process.env['BENCH_IN_CHANS'] ?? 3);
  const model = await createModel(process.env['BENCH_MODEL'] ?? 'tf_efficientnet_b0', { numClasses: 1000, inChans });
  dp?.broadcastModel(model);
  model.train();
  const params = [...model.namedParameters()];
  const opt = new SGD([{ params }], { lr: 0.01, momentum: 0.9 });
  const x = randn([B, inChans, size, size]).keep();
  const target = fromTypedArray(
    BigInt64Array.from({ length: B }, (_, i) => BigInt(i % 1000)),
    [B],
  ).keep();
  let commMs = 0;
  let skewMs = 0;
  // A barrier first (bench only) so the time in afterBackward is the communication itself, not
  // the wait for a peer whose backward ran longer (on a shared machine that wait dominates).
  const afterBackward = dp
    ? (ps: Tensor[]) => {
        const t = performance.now();
        pg!.barrierSync();
        const u = performance.now();
        dp.afterBackward(ps);
        skewMs += u - t;
        commMs += performance.now() - u;
      }
    : undefined;
  const state = { step: 0 };
  const step = () =>
    trainStep(
      model,
      [{ x, target }],
      { optimizer: opt, lossFn: (l, b) => F.crossEntropy(l, b.target), ...(afterBackward ? { afterBackward } : {}) },
      state,
    );
  step(); // warm-up (oneDNN primitives, allocator)
  commMs = 0;
  skewMs = 0;
  await pg?.barrier();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  await pg?.barrier();
  const ms = performance.now() - t0;
  const gradBytes = params.reduce((a, [, p]) => a + p.numel() * 4, 0);
  let bare: number | null = null;
  if (pg) {
    const flat = zeros([gradBytes / 4]);
    pg.allreduceSync([flat]);
    const t = performance.now();
    for (let i = 0; i < 3; i++) noGrad(() => pg.allreduceSync([flat]));
    bare = (performance.now() - t) / 3;
    flat.dispose();
  }
  const m: Measure = {
    world,
    threads: Number(process.env['OMP_NUM_THREADS'] ?? 1),
    size,
    batchPerRank: B,
    steps,
    stepMs: ms / steps,
    imagesPerSec: (world * B * steps) / (ms / 1000),
    commMsPerStep: commMs / steps,
    skewMsPerStep: skewMs / steps,
    gradBytes,
    bareAllreduceMs: bare,
  };
  if (!pg || pg.rank === 0) console.log(JSON.stringify(m));
  pg?.close();
  process.exit(0);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 29500));
    });
  });
}

interface Net {
  model: string;
  inChans: number;
}

async function measure(world: number, threads: number, size: number, batch: number, steps: number, net: Net): Promise<Measure> {
  const port = await freePort();
  const script = fileURLToPath(import.meta.url);
  const outs = await Promise.all(
    Array.from(
      { length: world },
      (_, rank) =>
        new Promise<string>((resolve, reject) => {
          const c = spawn(process.execPath, ['--import', 'tsx', script], {
            env: {
              ...process.env,
              RANK: String(rank),
              WORLD_SIZE: String(world),
              LOCAL_RANK: String(rank),
              LOCAL_WORLD_SIZE: String(world),
              MASTER_ADDR: '127.0.0.1',
              MASTER_PORT: String(port),
              OMP_NUM_THREADS: String(threads),
              BENCH_SIZE: String(size),
              BENCH_BATCH: String(batch),
              BENCH_STEPS: String(steps),
              BENCH_MODEL: net.model,
              BENCH_IN_CHANS: String(net.inChans),
            },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          c.stdout.on('data', (d: Buffer) => (out += d.toString()));
          c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`rank ${rank} exited with ${code}`))));
        }),
    ),
  );
  return JSON.parse(outs[0]!.trim().split('\n').pop()!) as Measure;
}

export async function main(): Promise<void> {
  const steps = Number(arg('--steps', '4'));
  const sizes = arg('--sizes', '64,224').split(',').map(Number);
  const net: Net = { model: arg('--model', 'tf_efficientnet_b0'), inChans: Number(arg('--in-chans', '3')) };
  const given = process.argv.includes('--batch') ? Number(arg('--batch', '0')) : null;
  const batchFor = (s: number) => given ?? (s <= 64 ? 32 : 8);
  for (const size of sizes) {
    const B = batchFor(size);
    // Interleaved so drift on a shared machine hits every configuration alike.
    const one = await measure(1, 1, size, B, steps, net);
    const two = await measure(2, 1, size, B, steps, net);
    const oneT2 = await measure(1, 2, size, given ? 2 * B : B, steps, net);
    console.log(`${net.model} @ ${size}px, batch ${B} per rank${given ? ` (${2 * B} in the 2-thread row)` : ''}, ${steps} steps:`);
    for (const [name, m] of [
      ['1 process x 1 thread ', one],
      ['2 processes x 1 thread', two],
      ['1 process x 2 threads', oneT2],
    ] as const) {
      const comm =
        m.world > 1
          ? `, comm ${m.commMsPerStep.toFixed(0)} ms/step + ${m.skewMsPerStep.toFixed(0)} ms waiting for the other rank (bare allreduce of ${(m.gradBytes / 2 ** 20).toFixed(1)} MiB: ${m.bareAllreduceMs!.toFixed(0)} ms)`
          : '';
      console.log(`  ${name}: ${m.imagesPerSec.toFixed(2)} img/s, ${m.stepMs.toFixed(0)} ms/step${comm}`);
    }
    console.log(
      `  speedup 2 processes / 1: ${(two.imagesPerSec / one.imagesPerSec).toFixed(2)}x; 1 process x 2 threads / 1: ${(oneT2.imagesPerSec / one.imagesPerSec).toFixed(2)}x`,
    );
  }
}

if (process.env['RANK'] !== undefined) await rankMain();
else if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
