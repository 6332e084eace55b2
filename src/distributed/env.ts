// Where this process sits in a multi-process job, read from whichever launcher started it, with
// torchrun's variable names as the common language (our own `launch` sets exactly those):
//   torchrun / `noisy-student launch`: RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT
//   Slurm `srun`: SLURM_PROCID, SLURM_NTASKS (the step's SLURM_STEP_NUM_TASKS when set), SLURM_LOCALID,
//     tasks per node, the first host of SLURM_JOB_NODELIST; only inside a step (SLURM_STEP_ID)
//   a Kubernetes indexed Job: JOB_COMPLETION_INDEX (one process per pod) plus WORLD_SIZE and MASTER_ADDR given
//   (without WORLD_SIZE, a pod of an indexed Job is a single process: a Job of independent pods)
// Explicit torchrun variables win (a launcher inside an allocation sets them); nothing found is a
// single process.

export type LauncherKind = 'torchrun' | 'slurm' | 'kubernetes' | 'none';

export interface DistEnv {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly localWorldSize: number;
  readonly masterAddr: string;
  readonly masterPort: number;
  readonly launcher: LauncherKind;
}

export const DEFAULT_MASTER_PORT = 29500;

/**
 * Whether this process writes a job's shared files: rank 0 under a launcher, or a process run on
 * its own. The other ranks compute the same records and keep them in memory.
 */
export function isWriterRank(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return detectDistEnv(env).rank === 0;
}

type Env = Readonly<Record<string, string | undefined>>;

function int(env: Env, name: string, min: number): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v.trim())) throw new Error(`${name}=${JSON.stringify(v)} is not a non-negative integer`);
  const n = Number(v.trim());
  if (n < min) throw new Error(`${name}=${n} must be at least ${min}`);
  return n;
}

function port(env: Env): number {
  const p = int(env, 'MASTER_PORT', 1) ?? DEFAULT_MASTER_PORT;
  if (p > 65535) throw new Error(`MASTER_PORT=${p} is not a TCP port`);
  return p;
}

/**
 * The first host of a Slurm node list: `node[03-05,9],gpu1` -> `node03` (zero padding kept),
 * `a1,b2` -> `a1`, `login` -> `login`.
 */
export function firstSlurmHost(nodelist: string): string {
  const s = nodelist.trim();
  if (s === '') throw new Error('SLURM_JOB_NODELIST is empty');
  // The first entry at bracket depth 0.
  let depth = 0;
  let end = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === ',' && depth === 0) {
      end = i;
      break;
    }
  }
  const entry = s.slice(0, end);
  const m = /^([^[]*)\[([^\]]+)\](.*)$/.exec(entry);
  if (!m) return entry;
  const first = m[2]!.split(',')[0]!.split('-')[0]!;
  // Only the first bracket expands here; a second one (rare: rack[1-2]-node[1-4]) expands the same way.
  return m[1]! + first + (m[3]!.includes('[') ? firstSlurmHost(m[3]!) : m[3]!);
}

/** Slurm's tasks on this node: SLURM_NTASKS_PER_NODE, else the first count of SLURM_TASKS_PER_NODE (`2(x3),1`). */
function slurmTasksPerNode(env: Env): number {
  const explicit = int(env, 'SLURM_NTASKS_PER_NODE', 1);
  if (explicit !== undefined) return explicit;
  const t = env['SLURM_STEP_TASKS_PER_NODE'] ?? env['SLURM_TASKS_PER_NODE'];
  const m = t ? /^(\d+)/.exec(t.trim()) : null;
  return m ? Number(m[1]) : 1;
}

/** This process's place in the job (a single process when no launcher variables are set). */
export function detectDistEnv(env: Env = process.env): DistEnv {
  if (env['RANK'] !== undefined && env['WORLD_SIZE'] !== undefined) {
    const worldSize = int(env, 'WORLD_SIZE', 1)!;
    const rank = int(env, 'RANK', 0)!;
    if (rank >= worldSize) throw new Error(`RANK=${rank} must be below WORLD_SIZE=${worldSize}`);
    const localRank = int(env, 'LOCAL_RANK', 0) ?? 0;
    const localWorldSize = int(env, 'LOCAL_WORLD_SIZE', 1) ?? 1;
    if (localRank >= localWorldSize) throw new Error(`LOCAL_RANK=${localRank} must be below LOCAL_WORLD_SIZE=${localWorldSize}`);
    return {
      rank,
      worldSize,
      localRank,
      localWorldSize,
      masterAddr: env['MASTER_ADDR'] || '127.0.0.1',
      masterPort: port(env),
      launcher: 'torchrun',
    };
  }
  // Only inside an srun step (SLURM_STEP_ID): the batch script itself has SLURM_PROCID=0 and the
  // allocation's SLURM_NTASKS too, but is one process. The step's task count wins over the job's.
  const slurmStep = env['SLURM_STEP_ID'] ?? env['SLURM_STEPID'];
  const slurmTasks = env['SLURM_STEP_NUM_TASKS'] !== undefined ? 'SLURM_STEP_NUM_TASKS' : 'SLURM_NTASKS';
  if (env['SLURM_PROCID'] !== undefined && slurmStep !== undefined && env[slurmTasks] !== undefined) {
    const worldSize = int(env, slurmTasks, 1)!;
    const rank = int(env, 'SLURM_PROCID', 0)!;
    if (rank >= worldSize) throw new Error(`SLURM_PROCID=${rank} must be below ${slurmTasks}=${worldSize}`);
    const nodelist = env['SLURM_JOB_NODELIST'] ?? env['SLURM_NODELIST'];
    if (worldSize > 1 && !env['MASTER_ADDR'] && !nodelist) throw new Error('Slurm: neither MASTER_ADDR nor SLURM_JOB_NODELIST is set');
    return {
      rank,
      worldSize,
      localRank: int(env, 'SLURM_LOCALID', 0) ?? 0,
      localWorldSize: slurmTasksPerNode(env),
      masterAddr: env['MASTER_ADDR'] || (nodelist ? firstSlurmHost(nodelist) : '127.0.0.1'),
      masterPort: port(env),
      launcher: 'slurm',
    };
  }
  // An indexed Job is a distributed one only when given a world size: a Job of independent pods
  // (a sweep) has JOB_COMPLETION_INDEX too, and each of its pods is a single process.
  if (env['JOB_COMPLETION_INDEX'] !== undefined && env['WORLD_SIZE'] !== undefined) {
    const rank = int(env, 'JOB_COMPLETION_INDEX', 0)!;
    const worldSize = int(env, 'WORLD_SIZE', 1)!;
    if (rank >= worldSize) throw new Error(`JOB_COMPLETION_INDEX=${rank} must be below WORLD_SIZE=${worldSize}`);
    if (worldSize > 1 && !env['MASTER_ADDR']) {
      throw new Error("Kubernetes indexed Job: set MASTER_ADDR (e.g. the index-0 pod's name under the Job's headless service)");
    }
    return {
      rank,
      worldSize,
      localRank: 0,
      localWorldSize: 1,
      masterAddr: env['MASTER_ADDR'] || '127.0.0.1',
      masterPort: port(env),
      launcher: 'kubernetes',
    };
  }
  return {
    rank: 0,
    worldSize: 1,
    localRank: 0,
    localWorldSize: 1,
    masterAddr: '127.0.0.1',
    masterPort: DEFAULT_MASTER_PORT,
    launcher: 'none',
  };
}
