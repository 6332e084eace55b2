// Which split of the cores between libtorch's intra-op threads and loader workers is fastest (issue
// 14; the thread plan in src/util/cpu_budget.ts encodes the answer). Two jobs, each split run in
// interleaved rounds (the machine is shared: only ratios within a round mean much), medians kept:
//   - pseudo-labelling N JPEGs (~500x375, bench/data_jpegs.ts) at 224 with b0: `benchmark --data`
//     (decode, model alone, end to end) with --threads T --workers W;
//   - teacher training on Fashion-MNIST: `train` (b0, 1 epoch over 100 labelled images per class),
//     wall time with OMP_NUM_THREADS=T and --workers W.
//   npm run bench -- data-plan      (BENCH_PLAN_JPEGS=1000, BENCH_PLAN_ROUNDS=3, BENCH_PLAN_SPLITS="2:1,1:1,2:0,2:2")
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { noiseJpegFolder } from './data_jpegs.js';
import { median } from './util.js';
import { cpuBudget, threadPlan } from '../src/util/cpu_budget.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const JPEGS = Number(process.env['BENCH_PLAN_JPEGS'] ?? 1000);
const ROUNDS = Number(process.env['BENCH_PLAN_ROUNDS'] ?? 3);
const JOBS = (process.env['BENCH_PLAN_JOBS'] ?? 'pseudo-label,train').split(',');

function splits(): [number, number][] {
  const env = process.env['BENCH_PLAN_SPLITS'];
  if (env) return env.split(',').map((s) => s.split(':').map(Number) as [number, number]);
  const n = cpuBudget().cpus;
  const out: [number, number][] = [];
  for (const t of new Set([n, Math.max(1, n - 1)])) for (const w of new Set([0, 1, Math.max(1, Math.floor(n / 2)), n])) out.push([t, w]);
  return out;
}

function cli(args: string[], env: Record<string, string> = {}): { seconds: number; stdout: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`noisy-student ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, stdout: r.stdout };
}

interface PlRow {
  decode: number;
  model: number;
  e2e: number;
  ideal: number;
}

function pseudoLabelRow(dir: string, t: number, w: number): PlRow {
  const out = JSON.parse(
    cli([
      'benchmark',
      '--model',
      'tf_efficientnet_b0',
      '--backend',
      process.env['BENCH_PLAN_BACKEND'] ?? 'torch-fused',
      '--precision',
      'fp32',
      '--batch-sizes',
      '32',
      '--iters',
      '5',
      '--no-timm',
      '--threads',
      String(t),
      '--workers',
      String(w),
      '--data',
      dir,
      '--json',
    ]).stdout,
  ) as { data: { decodeImgPerSec: number; modelImgPerSec: number; pseudoLabelImgPerSec: number; idealImgPerSec: number } };
  const d = out.data;
  return { decode: d.decodeImgPerSec, model: d.modelImgPerSec, e2e: d.pseudoLabelImgPerSec, ideal: d.idealImgPerSec };
}

function trainSeconds(t: number, w: number): number {
  const out = mkdtempSync(join(tmpdir(), 'ns-bench-plan-train-'));
  try {
    const args = ['train', '--quiet', '--model', 'tf_efficientnet_b0', '--data', 'fashion-mnist', '--labels-per-class', '100'];
    return cli([...args, '--epochs', '1', '--val-limit', '200', '--workers', String(w), '--output', out], { OMP_NUM_THREADS: String(t) })
      .seconds;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export async function main(): Promise<void> {
  const plan = (k: 'pseudo-label' | 'train'): string => {
    const p = threadPlan(k, { env: {} });
    return `${p.intraOpThreads}:${p.loaderWorkers}`;
  };
  const todo = splits();
  console.log(
    `${cpuBudget().cpus} cpus; splits (threads:workers) ${todo.map((s) => s.join(':')).join(', ')}; plan now: pseudo-label ${plan('pseudo-label')}, train ${plan('train')}`,
  );
  const dir = JOBS.includes('pseudo-label') ? await noiseJpegFolder(JPEGS) : '';
  const pl = new Map<string, PlRow[]>();
  const tr = new Map<string, number[]>();
  for (let r = 0; r < ROUNDS; r++)
    for (const [t, w] of todo) {
      const key = `${t}:${w}`;
      if (JOBS.includes('pseudo-label')) {
        const row = pseudoLabelRow(dir, t, w);
        pl.set(key, [...(pl.get(key) ?? []), row]);
        console.log(
          `round ${r} pseudo-label ${key}: e2e ${row.e2e.toFixed(1)} img/s, decode ${row.decode.toFixed(1)}, model ${row.model.toFixed(1)}`,
        );
      }
      if (JOBS.includes('train')) {
        const s = trainSeconds(t, w);
        tr.set(key, [...(tr.get(key) ?? []), s]);
        console.log(`round ${r} train ${key}: ${s.toFixed(1)} s`);
      }
    }
  if (pl.size) {
    console.log(`pseudo-label, ${JPEGS} JPEGs at 224, b0 batch 32 (medians of ${ROUNDS}):`);
    console.log('threads:workers  e2e img/s  decode img/s  model img/s  decode/model  e2e/ideal');
    for (const [k, rows] of pl) {
      const m = (f: (x: PlRow) => number): number => median(rows.map(f));
      console.log(
        `${k.padEnd(15)} ${m((x) => x.e2e)
          .toFixed(1)
          .padStart(10)} ${m((x) => x.decode)
          .toFixed(1)
          .padStart(13)} ${m((x) => x.model)
          .toFixed(1)
          .padStart(12)} ` +
          `${m((x) => x.decode / x.model)
            .toFixed(2)
            .padStart(13)} ${m((x) => x.e2e / x.ideal)
            .toFixed(2)
            .padStart(10)}`,
      );
    }
  }
  if (tr.size) {
    console.log(`train, Fashion-MNIST 1000 images, 1 epoch, b0 (median wall s of ${ROUNDS}, process start included):`);
    for (const [k, s] of tr) console.log(`${k.padEnd(15)} ${median(s).toFixed(1).padStart(8)} s`);
  }
}
