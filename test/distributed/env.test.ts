// Where a process sits in the job, from each launcher's own variables (set here, as each sets them).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detectDistEnv, firstSlurmHost, launchDefaults, rankEnv } from '../../src/distributed/index.js';

describe('launcher variables', () => {
  it('torchrun (and our launch)', () => {
    const e = detectDistEnv({ RANK: '3', WORLD_SIZE: '8', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: 'n0', MASTER_PORT: '1234' });
    assert.deepEqual(e, {
      rank: 3,
      worldSize: 8,
      localRank: 1,
      localWorldSize: 2,
      masterAddr: 'n0',
      masterPort: 1234,
      launcher: 'torchrun',
    });
  });

  it('Slurm srun: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the first host of the node list', () => {
    const e = detectDistEnv({
      SLURM_STEP_ID: '0',
      SLURM_PROCID: '5',
      SLURM_NTASKS: '8',
      SLURM_LOCALID: '1',
      SLURM_TASKS_PER_NODE: '2(x4)',
      SLURM_JOB_NODELIST: 'gpu[07-10],login1',
    });
    assert.deepEqual(e, {
      rank: 5,
      worldSize: 8,
      localRank: 1,
      localWorldSize: 2,
      masterAddr: 'gpu07',
      masterPort: 29500,
      launcher: 'slurm',
    });
    // MASTER_ADDR/PORT given by the batch script win over the node list.
    const f = detectDistEnv({
      SLURM_STEP_ID: '1',
      SLURM_PROCID: '0',
      SLURM_NTASKS: '8',
      SLURM_STEP_NUM_TASKS: '2',
      SLURM_JOB_NODELIST: 'a,b',
      MASTER_ADDR: 'b',
      MASTER_PORT: '4000',
    });
    assert.equal(f.worldSize, 2, "the step's task count");
    assert.equal(f.masterAddr, 'b');
    assert.equal(f.masterPort, 4000);
    // The batch script itself (no srun step) is one process, whatever the allocation's task count.
    assert.equal(detectDistEnv({ SLURM_PROCID: '0', SLURM_NTASKS: '4', SLURM_JOB_NODELIST: 'a' }).launcher, 'none');
  });

  it('Slurm node lists', () => {
    assert.equal(firstSlurmHost('node[001-004]'), 'node001');
    assert.equal(firstSlurmHost('node[3,5-7]'), 'node3');
    assert.equal(firstSlurmHost('alpha,beta[1-2]'), 'alpha');
    assert.equal(firstSlurmHost('rack[2-3]-n[5-6]'), 'rack2-n5');
    assert.equal(firstSlurmHost('single'), 'single');
    assert.throws(() => firstSlurmHost(' '), /empty/);
  });

  it('Kubernetes indexed Job: JOB_COMPLETION_INDEX plus a given world size and master address', () => {
    const e = detectDistEnv({ JOB_COMPLETION_INDEX: '2', WORLD_SIZE: '4', MASTER_ADDR: 'train-0.train', MASTER_PORT: '23456' });
    assert.deepEqual(e, {
      rank: 2,
      worldSize: 4,
      localRank: 0,
      localWorldSize: 1,
      masterAddr: 'train-0.train',
      masterPort: 23456,
      launcher: 'kubernetes',
    });
    // Without a world size, a pod of an indexed Job (a sweep of independent pods) is one process.
    assert.equal(detectDistEnv({ JOB_COMPLETION_INDEX: '3' }).launcher, 'none');
    assert.throws(() => detectDistEnv({ JOB_COMPLETION_INDEX: '0', WORLD_SIZE: '2' }), /MASTER_ADDR/);
  });

  it('explicit torchrun variables win over an enclosing Slurm step; nothing set is one process', () => {
    const e = detectDistEnv({ RANK: '1', WORLD_SIZE: '2', SLURM_PROCID: '0', SLURM_NTASKS: '1' });
    assert.equal(e.launcher, 'torchrun');
    assert.equal(e.rank, 1);
    assert.deepEqual(detectDistEnv({}), {
      rank: 0,
      worldSize: 1,
      localRank: 0,
      localWorldSize: 1,
      masterAddr: '127.0.0.1',
      masterPort: 29500,
      launcher: 'none',
    });
  });

  it('refuses nonsense with the variable named', () => {
    assert.throws(() => detectDistEnv({ RANK: '2', WORLD_SIZE: '2' }), /RANK=2 must be below WORLD_SIZE=2/);
    assert.throws(() => detectDistEnv({ RANK: 'x', WORLD_SIZE: '2' }), /RANK="x"/);
    assert.throws(() => detectDistEnv({ RANK: '0', WORLD_SIZE: '2', MASTER_PORT: '70000' }), /MASTER_PORT/);
  });

  it("launch's defaults under Slurm and an indexed Job, and the variables each rank gets", () => {
    assert.deepEqual(launchDefaults({ SLURM_NNODES: '4', SLURM_NODEID: '2', SLURM_JOB_NODELIST: 'cn[10-13]' }), {
      nnodes: 4,
      nodeRank: 2,
      masterAddr: 'cn10',
      masterPort: 29500,
    });
    assert.equal(launchDefaults({ JOB_COMPLETION_INDEX: '1', MASTER_ADDR: 'j-0.svc' }).nodeRank, 1);
    const env = rankEnv({ nprocPerNode: 2, nnodes: 3, nodeRank: 1, masterAddr: 'h', masterPort: 99, command: ['x'] }, 1, {
      PATH: '/bin',
      OMP_NUM_THREADS: '3',
    });
    assert.deepEqual(
      { ...env },
      {
        PATH: '/bin',
        OMP_NUM_THREADS: '3',
        RANK: '3',
        WORLD_SIZE: '6',
        LOCAL_RANK: '1',
        LOCAL_WORLD_SIZE: '2',
        GROUP_RANK: '1',
        MASTER_ADDR: 'h',
        MASTER_PORT: '99',
      },
    );
  });
});
