// The student stage's batches data parallel: 2 ranks x (4 labeled + 8 pseudo-labeled) per step
// train to the weights of 1 process x (8 + 16), the ratio kept on each rank, through trainModel
// joining the launcher's group by itself (as the student stage and `run` call it).
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distributedAvailable } from '../../src/distributed/index.js';
import { here, lastJson, runRanks } from './spawn.js';
import { weightGap } from './model_dirs.js';

const worker = join(here, 'student_worker.ts');
const skip = distributedAvailable() ? false : 'the c10d addon is not built';
const base = mkdtempSync(join(tmpdir(), 'ns-dps-'));
after(() => rmSync(base, { recursive: true, force: true }));

describe('data-parallel student batches (labeled + pseudo-labeled)', { skip }, () => {
  it('2 ranks = 1 process with the global batch', async () => {
    const [one] = await runRanks(worker, [join(base, 'one'), '8'], { world: 1 });
    assert.equal(one!.code, 0, one!.stderr);
    const two = await runRanks(worker, [join(base, 'two'), '4'], { world: 2 });
    for (const r of two) assert.equal(r.code, 0, `rank ${r.rank}: ${r.stderr}`);
    // 48 pseudo-labeled ids at 16 per global step: 3 steps per epoch, 2 epochs, on every rank.
    assert.deepEqual(lastJson<{ steps: number }>(one!).steps, 6);
    for (const r of two) assert.equal(lastJson<{ steps: number }>(r).steps, 6);
    const g = weightGap(join(base, 'two'), join(base, 'one'));
    assert.ok(g < 1e-4, `weights differ by ${g} (relative L2)`);
    // Rank 0 alone logged the steps.
    const steps = readFileSync(join(base, 'two', 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .filter((l) => (JSON.parse(l) as { loss?: number }).loss !== undefined);
    assert.equal(steps.length, 6);
  });
});
