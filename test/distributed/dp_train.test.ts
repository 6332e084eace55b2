// The `train` command data parallel, end to end on Fashion-MNIST with tinynet_e:
//  - 2 ranks under `noisy-student launch`, batch 4 each, SyncBatchNorm, reach the weights (and the
//    logged losses) of 1 process with batch 8, up to float rounding. The run is kept short: SGD on a
//    net this small amplifies rounding ~10x per step (one process at 1 vs 2 threads drifts apart the
//    same way), so only a few steps can be compared tightly.
//  - rank 0 wrote everything; nothing else wrote.
//  - rank 0 killed mid-run (at a checkpoint write) makes rank 1 fail naming it; the same command
//    again with --resume ends with exactly the weights of the uninterrupted 2-rank run.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distributedAvailable } from '../../src/distributed/index.js';
import { latestCheckpoint } from '../../src/train/checkpoint.js';
import { freePort, root, runRanks } from './spawn.js';
import { stepLosses, weightGap } from './model_dirs.js';

const cli = join(root, 'src/cli/main.ts');
const skip = distributedAvailable() ? false : 'the c10d addon is not built';
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ns-dp-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// 20 labeled images, global batch 8 (drop last): 2 steps per epoch, 2 epochs.
const COMMON = ['train', '--quiet', '--model', 'tinynet_e', '--data', 'fashion-mnist', '--labels-per-class', '2', '--epochs', '2'];
const RECIPE = [
  '--val-limit',
  '20',
  '--sync-bn',
  '--opt',
  'sgd',
  '--lr',
  '0.01',
  '--zero-head',
  '--sched',
  'none',
  '--checkpoint-every',
  '1',
];

function cliRun(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
      cwd: root,
      env: { ...process.env, OMP_NUM_THREADS: '1', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('data-parallel train (2 ranks = 1 process with the global batch)', { skip }, () => {
  const one = tmp();
  const two = tmp();
  const faults = join(tmp(), 'faults');

  it('2 ranks x batch 4 with SyncBatchNorm reach the weights of 1 process x batch 8', async () => {
    // Its write events are counted for the fault test below (rank 0 of 2 writes the same files).
    const a = await cliRun([...COMMON, ...RECIPE, '--batch-size', '8', '--output', one], { NOISY_STUDENT_FAULT_COUNT: faults });
    assert.equal(a.code, 0, a.stderr);
    const port = String(await freePort());
    const b = await cliRun([
      'launch',
      '--nproc-per-node',
      '2',
      '--master-port',
      port,
      '--',
      ...COMMON,
      ...RECIPE,
      '--batch-size',
      '4',
      '--output',
      two,
    ]);
    assert.equal(b.code, 0, b.stderr);
    const gap = weightGap(two, one);
    assert.ok(gap < 1e-4, `weights differ by ${gap} (relative L2)`);
    const l1 = stepLosses(one);
    const l2 = stepLosses(two);
    assert.equal(l2.length, 4, 'rank 0 logged each of the 4 steps once');
    assert.equal(l1.length, 4);
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(l1[i]! - l2[i]!) < 1e-4 * Math.abs(l1[i]!), `step ${i + 1}: loss ${l2[i]} vs ${l1[i]}`);
    // The evaluation covered the whole validation set once (counts summed over the ranks' shards).
    const evals = readFileSync(join(two, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { evalLoss?: number })
      .filter((l) => l.evalLoss !== undefined);
    const evals1 = readFileSync(join(one, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { evalLoss?: number; top1?: number })
      .filter((l) => l.evalLoss !== undefined);
    assert.equal(evals.length, 2);
    for (let e = 0; e < 2; e++) assert.ok(Math.abs(evals[e]!.evalLoss! - evals1[e]!.evalLoss!) < 1e-3, 'val loss over the whole set');
  });

  it('rank 0 killed mid-run makes rank 1 fail naming it; the same command with --resume ends as the uninterrupted run', async () => {
    const out = tmp();
    const events = Number(readFileSync(faults, 'utf8'));
    assert.ok(events > 10, `rank 0 made only ${events} write events`);
    const args = [cli, ...COMMON, ...RECIPE, '--batch-size', '4', '--output', out];
    // runRanks starts `node --import tsx <script> ...` per rank: the script is the CLI itself.
    const killed = await runRanks(args[0]!, args.slice(1), {
      world: 2,
      perRankEnv: (r): Record<string, string> => (r === 0 ? { NOISY_STUDENT_KILL_AT: String(Math.floor(events / 2)) } : {}),
      env: { NOISY_STUDENT_DIST_TIMEOUT: '60' },
    });
    assert.equal(killed[0]!.signal, 'SIGKILL', 'rank 0 was killed at its fault point');
    assert.notEqual(killed[1]!.code, 0);
    assert.match(killed[1]!.stderr, /rank 0 \(the host of the TCPStore at 127\.0\.0\.1:\d+\) is unreachable|rank 0 stopped answering/);
    // A resume point from before the kill, short of the end: the restart must continue from it.
    const ckpt = latestCheckpoint(join(out, 'checkpoints'));
    assert.ok(ckpt && ckpt.step >= 1 && ckpt.step < 4, `checkpoint at step ${ckpt?.step}`);
    const resumed = await runRanks(args[0]!, [...args.slice(1), '--resume'], { world: 2 });
    for (const r of resumed) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
    assert.ok(weightGap(out, two) < 1e-6, "the resumed run ends with the uninterrupted run's weights");
  });
});
