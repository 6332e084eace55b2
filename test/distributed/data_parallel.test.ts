// Data parallel = one process on the concatenated batch: two real ranks (Gloo on 127.0.0.1), each
// backpropagating half of a batch of tinynet_e, average their gradients in buckets; rank 0 compares
// with one process on the whole batch. With training-mode BatchNorm that holds only with
// SyncBatchNorm, and the test checks that too (without it the difference must be large).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { distributedAvailable } from '../../src/distributed/index.js';
import { here, lastJson, runRanks } from './spawn.js';

const worker = join(here, 'dp_worker.ts');
const skip = distributedAvailable() ? false : 'the c10d addon is not built';

interface Out {
  rank: number;
  maxDiff: number;
  maxGrad: number;
  maxRel: number;
  maxSmall: number;
  count: number;
  maxBufDiff: number;
}

async function run(mode: string): Promise<Out> {
  const rs = await runRanks(worker, [mode], { world: 2 });
  for (const r of rs) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
  const o = lastJson<Out>(rs[0]!);
  assert.ok(o.count > 100, `only ${o.count} parameters compared`);
  return o;
}

describe('data parallel gradients (2 processes)', { skip }, () => {
  it('averaged gradients equal one process on the concatenated batch (BatchNorm on running statistics)', async () => {
    const o = await run('eval');
    assert.ok(o.maxRel < 1e-5, `relative gradient difference ${o.maxRel} (max |g| ${o.maxGrad})`);
    assert.ok(o.maxSmall < 1e-7, `near-zero gradients differ by ${o.maxSmall}`);
  });

  it('with SyncBatchNorm in training mode, gradients and running statistics equal one process', async () => {
    const o = await run('syncbn');
    assert.ok(o.maxRel < 1e-3, `relative gradient difference ${o.maxRel} (abs ${o.maxDiff}, max |g| ${o.maxGrad})`);
    assert.ok(o.maxSmall < 1e-4, `near-zero gradients differ by ${o.maxSmall}`);
    assert.ok(o.maxBufDiff < 1e-4, `running statistics differ by ${o.maxBufDiff}`);
  });

  it('without SyncBatchNorm, per-rank batch statistics give other gradients (the comparison can fail)', async () => {
    const o = await run('nosync');
    assert.ok(o.maxRel > 1e-2, `relative difference only ${o.maxRel}`);
  });
});
