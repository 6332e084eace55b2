// Under a launcher only rank 0 writes a stage's shared files: the other ranks train and score with
// it and keep the record in memory (their own elapsed time would otherwise overwrite rank 0's, last
// writer winning). Shown on a model stage in this process, as rank 1 and as a lone process.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Generator } from '../../src/torch/index.js';
import { createModel, saveModel } from '../../src/models/index.js';
import { fashionMnist, subset } from '../../src/data/index.js';
import { isWriterRank } from '../../src/distributed/index.js';
import { modelStage } from '../../src/noisy/stages/model_stage.js';
import { withElapsed } from '../../src/util/elapsed.js';

const base = mkdtempSync(join(tmpdir(), 'ns-writer-'));
after(() => rmSync(base, { recursive: true, force: true }));

async function withEnv<T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const old = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(old))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

const stage = (parent: string) =>
  modelStage({
    parent,
    stage: 'teacher',
    model: 'tinynet_e',
    inputs: { what: 'writer test' },
    train: async (dir) => {
      const g = new Generator(1); // the same weights for both stages, so their scores agree
      const m = await createModel('tinynet_e', { numClasses: 10, inChans: 1, generator: g });
      g.dispose();
      // The preprocessing of a one-channel 32 px model, as the trainer records it.
      m.pretrainedCfg = { ...m.pretrainedCfg!, inputSize: [1, 32, 32], mean: [0.5], std: [0.5] };
      await saveModel(m, join(dir, 'model'));
      m.dispose();
      return [];
    },
    test: subset(fashionMnist('test'), [0, 1, 2, 3]),
    workers: 0,
  });

describe('one writer per job', () => {
  it('rank 1 writes no record and no elapsed time; a lone process writes both', async () => {
    assert.equal(isWriterRank({}), true);
    assert.equal(isWriterRank({ RANK: '1', WORLD_SIZE: '2' }), false);
    assert.equal(isWriterRank({ SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_JOB_NODELIST: 'a' }), true);
    const r1 = await withEnv({ RANK: '1', WORLD_SIZE: '2' }, () => stage(join(base, 'rank1')));
    assert.ok(r1.record.seconds >= 0, 'rank 1 has the record in memory');
    assert.ok(!existsSync(join(r1.dir, 'record.json')), 'rank 1 wrote record.json');
    assert.ok(!existsSync(join(r1.dir, 'elapsed.json')), 'rank 1 wrote elapsed.json');
    const r0 = await stage(join(base, 'alone'));
    assert.ok(existsSync(join(r0.dir, 'record.json')) && existsSync(join(r0.dir, 'elapsed.json')));
    assert.deepEqual(r0.record.eval, r1.record.eval, 'the same score on both');
  });

  it('withElapsed(null) times without a file', async () => {
    const r = await withElapsed(null, async () => 7, 1);
    assert.equal(r.result, 7);
    assert.ok(r.seconds >= 0);
  });
});
