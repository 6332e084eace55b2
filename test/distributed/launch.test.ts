// `noisy-student launch` as a user runs it: the ranks get torchrun's variables, a failing rank ends
// the others and the launch exits non-zero naming it, and two launches (--nnodes 2, node ranks 0
// and 1) on 127.0.0.1 form one job.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { distributedAvailable } from '../../src/distributed/index.js';
import { freePort, here, root } from './spawn.js';

const cli = join(root, 'src/cli/main.ts');

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: root, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

describe('noisy-student launch', () => {
  it("gives each rank torchrun's variables and threads = cores / local ranks", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ns-launch-'));
    try {
      const script =
        "const e=process.env; require('fs').writeFileSync(e.OUT+'/'+e.RANK+'.json', JSON.stringify({RANK:e.RANK,WORLD_SIZE:e.WORLD_SIZE," +
        'LOCAL_RANK:e.LOCAL_RANK,LOCAL_WORLD_SIZE:e.LOCAL_WORLD_SIZE,MASTER_ADDR:e.MASTER_ADDR,MASTER_PORT:e.MASTER_PORT,OMP:e.OMP_NUM_THREADS}))';
      const env: Record<string, string> = { OUT: dir };
      const r = await run(
        [
          'launch',
          '--nproc-per-node',
          '2',
          '--nnodes',
          '2',
          '--node-rank',
          '1',
          '--master-port',
          '4321',
          '--',
          process.execPath,
          '-e',
          script,
        ],
        env,
      );
      assert.equal(r.code, 0, r.stderr);
      const got = readdirSync(dir)
        .sort()
        .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, string>);
      const omp = process.env['OMP_NUM_THREADS'];
      assert.deepEqual(
        got.map((g) => ({ ...g, OMP: omp ? 'given' : g['OMP'] })),
        [2, 3].map((rank) => ({
          RANK: String(rank),
          WORLD_SIZE: '4',
          LOCAL_RANK: String(rank - 2),
          LOCAL_WORLD_SIZE: '2',
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: '4321',
          OMP: omp ? 'given' : String(Math.max(1, Math.floor(availableParallelism() / 2))),
        })),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failing rank ends the others; launch exits non-zero naming it', async () => {
    const script = "if (process.env.RANK === '1') process.exit(7); setTimeout(() => {}, 60000);";
    const r = await run(['launch', '--nproc-per-node', '2', '--grace', '2', '--', process.execPath, '-e', script]);
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stderr, /rank 1 \(local rank 1, pid \d+\) exited with code 7; ending rank 0/);
    assert.match(r.stderr, /launch: rank 1 exited with code 7/);
    assert.ok(r.ms < 30_000, `took ${r.ms} ms: the sleeping rank was not ended`);
  });

  it('refuses a node rank outside the job', async () => {
    const r = await run(['launch', '--nnodes', '2', '--node-rank', '2', '--', 'true']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--node-rank 2 must be below --nnodes 2/);
  });

  it('two launches with --nnodes 2 on 127.0.0.1 form one job', { skip: distributedAvailable() ? false : 'no c10d addon' }, async () => {
    const port = await freePort();
    const worker = join(here, 'collectives_worker.ts');
    const node = (rank: number) =>
      run(
        [
          'launch',
          '--nproc-per-node',
          '1',
          '--nnodes',
          '2',
          '--node-rank',
          String(rank),
          '--master-addr',
          '127.0.0.1',
          '--master-port',
          String(port),
          '--',
        ].concat([process.execPath, '--import', 'tsx', worker, 'basic']),
        { OMP_NUM_THREADS: '1' },
      );
    const rs = await Promise.all([node(0), node(1)]);
    for (const [i, r] of rs.entries()) {
      assert.equal(r.code, 0, r.stderr);
      const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as { rank: number; world: number; sum: number[] };
      assert.equal(o.rank, i);
      assert.equal(o.world, 2);
      assert.deepEqual(o.sum, [3, 30, -1]);
    }
  });
});
