// c10d from Node: two real processes on 127.0.0.1 (TCPStore + ProcessGroupGloo), each collective
// checked against values worked out here, and the failure modes: a killed rank and a hung one make
// the survivor fail within the timeout with the guilty rank named.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { distributedAvailable } from '../../src/distributed/index.js';
import { here, lastJson, runRanks } from './spawn.js';

const worker = join(here, 'collectives_worker.ts');
const skip = distributedAvailable() ? false : 'the c10d addon is not built (node scripts/build-dist-addon.mjs)';

interface Basic {
  rank: number;
  world: number;
  sum: number[];
  max: number[];
  bcast: number[];
  gathered: number[][];
  sync: number[];
  nums: number[];
}

describe('c10d collectives (2 processes, Gloo)', { skip }, () => {
  it('allreduce (sum, max), broadcast, allgather, barrier, sync allreduce, numbers', async () => {
    const W = 2;
    const rs = await runRanks(worker, ['basic'], { world: W });
    const ranks = [0, 1];
    for (const r of rs) {
      assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
      const o = lastJson<Basic>(r);
      assert.equal(o.rank, r.rank);
      assert.equal(o.world, W);
      const sum = (f: (k: number) => number) => ranks.reduce((s, k) => s + f(k), 0);
      assert.deepEqual(o.sum, [sum((k) => 1 + k), sum((k) => 10 * (k + 1)), sum((k) => -k)]);
      assert.deepEqual(o.max, [Math.max(...ranks.map((k) => 2 * k + 1))]);
      assert.deepEqual(o.bcast, [101, 201], 'rank 1 is the root');
      assert.deepEqual(
        o.gathered,
        ranks.map((k) => [k, k * k]),
      );
      assert.deepEqual(o.sync, [sum((k) => k + 0.5)]);
      assert.deepEqual(o.nums, [sum((k) => k), W]);
    }
  });

  for (const die of [1, 0]) {
    it(`a killed rank ${die} makes the other fail fast, naming it`, async () => {
      const rs = await runRanks(worker, ['die'], { world: 2, env: { TEST_TIMEOUT_MS: '20000', DIE_RANK: String(die) } });
      const dead = rs[die]!;
      const alive = rs[1 - die]!;
      assert.equal(dead.signal, 'SIGKILL');
      assert.equal(alive.code, 3, `survivor: ${alive.stdout} ${alive.stderr}`);
      const { error } = lastJson<{ error: string }>(alive);
      assert.match(error, new RegExp(`rank ${die} `));
      assert.match(error, die === 0 ? /TCPStore .*unreachable/ : /stopped answering/);
      // Well inside the 20 s collective timeout: the closed connection is seen at once.
      assert.ok(alive.ms < 15000, `took ${alive.ms} ms`);
    });
  }

  it('a hung rank makes the other time out, naming it', async () => {
    const rs = await runRanks(worker, ['hang'], { world: 2, env: { TEST_TIMEOUT_MS: '3000' } });
    const r0 = rs[0]!;
    assert.equal(r0.code, 3, r0.stderr);
    const { error } = lastJson<{ error: string }>(r0);
    assert.match(error, /rank 1 did not answer: it is alive but never reached collective #2/);
    assert.match(error, /Timed out/);
  });
});
