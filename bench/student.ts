// Student-training throughput (issue 6): steps/s of the Noisy Student student stage (tinynet_d at
// 32 px, batches of 32 labeled + 96 pseudo-labeled images, RandAugment in a loader worker process)
// under thread settings, as ratios to the default (intra-op threads = every core). On 2 cores the
// loader worker and the intra-op threads share the CPU, so this is where the thread count matters.
// Usage: npm run bench -- student
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './util.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const PER_CLASS = 2000;
const RATIO = 3;
const BATCH = 32;

const config = {
  labeled: { data: 'fashion-mnist', perClass: 100 },
  unlabeled: { data: 'rest', limit: 30000 },
  test: { data: 'default', limit: 500 },
  teacher: { model: 'tinynet_e', train: { epochs: 1, batchSize: 32 } },
  students: [{ model: 'tinynet_d', warmStart: false }],
  // Threshold 0 with up-sampling: every class is filled to PER_CLASS, whatever the teacher says.
  pseudoLabel: { perClass: PER_CLASS, kind: 'hard', threshold: 0 },
  student: {
    train: { epochs: 1, batchSize: BATCH, lr: 2e-3 },
    ratio: RATIO,
    randAugment: 'rand-m5-n2-mstd0.5',
    dropRate: 0.1,
    dropPathRate: 0.1,
  },
  curveEvalLimit: 200,
};

function run(out: string, cfgFile: string, env: Record<string, string>): number {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(REPO, 'src/cli/main.ts'), 'run', '--quiet', '--config', cfgFile, '--output', out],
    { cwd: REPO, encoding: 'utf8', env: { ...process.env, ...env } },
  );
  if (r.status !== 0) throw new Error(`run failed: ${r.stderr}`);
  const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as { seconds: Record<string, number> };
  return summary.seconds['gen1.student']!;
}

export async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-student-'));
  try {
    const cfgFile = join(dir, 'ns.json');
    writeFileSync(cfgFile, JSON.stringify(config));
    // The teacher and its pseudo-labels once; each measured run copies them and trains a student.
    const base = join(dir, 'base');
    run(base, cfgFile, {});
    rmSync(join(base, 'gen-1', 'student'), { recursive: true, force: true });
    const steps = Math.ceil((PER_CLASS * 10) / (BATCH * RATIO));
    const settings: [string, Record<string, string>][] = [
      ['threads = cores (default)', {}],
      ['threads = 1', { OMP_NUM_THREADS: '1' }],
      ['threads = cores, OMP_WAIT_POLICY=passive', { OMP_WAIT_POLICY: 'passive' }],
    ];
    const times = new Map<string, number[]>(settings.map(([n]) => [n, []]));
    for (let rep = 0; rep < 3; rep++)
      for (const [name, env] of settings) {
        const out = join(dir, `r${rep}-${times.get(name)!.length}-${settings.findIndex((s) => s[0] === name)}`);
        cpSync(base, out, { recursive: true });
        times.get(name)!.push(run(out, cfgFile, env));
        rmSync(out, { recursive: true, force: true });
      }
    const ref = median(times.get(settings[0]![0])!);
    for (const [name] of settings) {
      const t = median(times.get(name)!);
      console.log(
        `${name.padEnd(44)} ${(steps / t).toFixed(2)} steps/s  (${((steps * BATCH * (1 + RATIO)) / t).toFixed(0)} img/s; ` +
          `${(ref / t).toFixed(2)}x the default; ${steps} steps, median of ${times.get(name)!.length})`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
