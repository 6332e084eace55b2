// Sharded pseudo-labelling: 2 ranks split the shards of one folder; every file (shards, index,
// manifest) is byte for byte the one a single process writes, dense and top-k, and the filtered,
// balanced selection (threshold and per-class K over the merged set) is the same on every rank.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distributedAvailable } from '../../src/distributed/index.js';
import { here, lastJson, runRanks } from './spawn.js';

const worker = join(here, 'pl_worker.ts');
const skip = distributedAvailable() ? false : 'the c10d addon is not built';
const base = mkdtempSync(join(tmpdir(), 'ns-dpl-'));
after(() => rmSync(base, { recursive: true, force: true }));

function sameFiles(a: string, b: string): void {
  const fa = readdirSync(a).sort();
  assert.deepEqual(readdirSync(b).sort(), fa);
  assert.ok(fa.filter((f) => f.startsWith('shard-')).length === 6, `expected 6 shards in ${a}: ${fa.join(', ')}`);
  for (const f of fa) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} differs`);
}

describe('sharded pseudo-labels (2 ranks = 1 process, byte for byte)', { skip }, () => {
  it('shards, index and selection', async () => {
    const [one] = await runRanks(worker, [join(base, 'd1'), join(base, 'k1')], { world: 1 });
    assert.equal(one!.code, 0, one!.stderr);
    const two = await runRanks(worker, [join(base, 'd2'), join(base, 'k2')], { world: 2 });
    for (const r of two) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
    sameFiles(join(base, 'd1'), join(base, 'd2'));
    sameFiles(join(base, 'k1'), join(base, 'k2'));
    const ref = lastJson<Record<string, { ids: number[] }>>(one!);
    assert.ok(ref['dense']!.ids.length > 0 && ref['topk']!.ids.length > 0, 'the filter kept images');
    for (const r of two) assert.deepEqual(lastJson(r), ref, `rank ${r.rank}'s selection`);
  });
});
