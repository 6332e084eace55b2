// `noisy-student launch`: torchrun's job on one node. It starts --nproc-per-node copies of a
// command with torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT, GROUP_RANK) and OMP_NUM_THREADS (the cores this process may use / local ranks,
// unless set), waits for them, and when one fails ends the others (SIGTERM, then SIGKILL after a
// grace period) and fails with the rank named. Several nodes: one launch per node with the same
// --nnodes, --master-addr and --master-port and its own --node-rank. Under Slurm (one launch task
// per node) or a Kubernetes indexed Job the node rank, node count and master address default to
// what those set. Running the same command again resumes: the commands resume from their last
// checkpoint.
import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { constants } from 'node:os';
import { DEFAULT_MASTER_PORT, firstSlurmHost } from './env.js';

export interface LaunchOptions {
  readonly nprocPerNode: number;
  readonly nnodes: number;
  readonly nodeRank: number;
  readonly masterAddr: string;
  readonly masterPort: number;
  /** The program and its arguments. */
  readonly command: readonly string[];
  /** Environment the ranks start from (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** How long the other ranks get to end after SIGTERM before SIGKILL. Default 10 s. */
  readonly graceMs?: number;
  readonly log?: (line: string) => void;
}

export interface RankExit {
  readonly rank: number;
  readonly localRank: number;
  readonly pid: number | undefined;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface LaunchResult {
  /** 0 when every rank succeeded; else the first failed rank's code (128 + signal number for a signal). */
  readonly exitCode: number;
  /** The first rank that failed (the cause; the others were ended because of it), or null. */
  readonly failed: RankExit | null;
  readonly exits: readonly RankExit[];
}

type Env = Readonly<Record<string, string | undefined>>;

/** Defaults for --nnodes, --node-rank and --master-addr from an enclosing Slurm step or indexed Job. */
export function launchDefaults(env: Env = process.env): { nnodes: number; nodeRank: number; masterAddr: string; masterPort: number } {
  const num = (v: string | undefined, d: number) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : d);
  const nodelist = env['SLURM_JOB_NODELIST'] ?? env['SLURM_NODELIST'];
  return {
    nnodes: num(env['SLURM_NNODES'] ?? env['NNODES'], 1),
    nodeRank: num(env['SLURM_NODEID'] ?? env['JOB_COMPLETION_INDEX'] ?? env['NODE_RANK'], 0),
    masterAddr: env['MASTER_ADDR'] || (nodelist ? firstSlurmHost(nodelist) : '127.0.0.1'),
    masterPort: num(env['MASTER_PORT'], DEFAULT_MASTER_PORT),
  };
}

/** Checks the numbers the way torchrun does, with messages naming the flag. */
export function validateLaunch(o: Pick<LaunchOptions, 'nprocPerNode' | 'nnodes' | 'nodeRank' | 'masterPort' | 'command'>): void {
  const intAtLeast = (v: number, min: number, flag: string) => {
    if (!Number.isInteger(v) || v < min) throw new Error(`${flag} must be an integer >= ${min}, got ${v}`);
  };
  intAtLeast(o.nprocPerNode, 1, '--nproc-per-node');
  intAtLeast(o.nnodes, 1, '--nnodes');
  intAtLeast(o.nodeRank, 0, '--node-rank');
  if (o.nodeRank >= o.nnodes) throw new Error(`--node-rank ${o.nodeRank} must be below --nnodes ${o.nnodes}`);
  if (!Number.isInteger(o.masterPort) || o.masterPort < 1 || o.masterPort > 65535) {
    throw new Error(`--master-port must be a TCP port (1..65535), got ${o.masterPort}`);
  }
  if (o.command.length === 0) throw new Error('launch: no command given (launch [options] -- <command ...>)');
}

/** The variables rank `localRank` of this node gets. */
export function rankEnv(o: LaunchOptions, localRank: number, base: Env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) if (v !== undefined) env[k] = v;
  Object.assign(env, {
    RANK: String(o.nodeRank * o.nprocPerNode + localRank),
    WORLD_SIZE: String(o.nnodes * o.nprocPerNode),
    LOCAL_RANK: String(localRank),
    LOCAL_WORLD_SIZE: String(o.nprocPerNode),
    GROUP_RANK: String(o.nodeRank),
    MASTER_ADDR: o.masterAddr,
    MASTER_PORT: String(o.masterPort),
  });
  if (!env['OMP_NUM_THREADS']) env['OMP_NUM_THREADS'] = String(Math.max(1, Math.floor(availableParallelism() / o.nprocPerNode)));
  return env;
}

function describe(e: RankExit): string {
  return e.signal ? `was killed by ${e.signal}` : `exited with code ${e.code}`;
}

function exitCodeOf(e: RankExit): number {
  if (e.signal) return 128 + (constants.signals[e.signal] ?? 1);
  return e.code ?? 1;
}

/** Start the ranks of this node and wait for them (see the top of the file). */
export function launch(o: LaunchOptions): Promise<LaunchResult> {
  validateLaunch(o);
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const base = o.env ?? process.env;
  const grace = o.graceMs ?? 10_000;
  const children: { child: ChildProcess; rank: number; localRank: number; exit: RankExit | null }[] = [];
  return new Promise<LaunchResult>((resolve) => {
    let failed: RankExit | null = null;
    let ending = false;
    let killTimer: NodeJS.Timeout | null = null;
    const endOthers = (why: string) => {
      if (ending) return;
      ending = true;
      const live = children.filter((c) => c.exit === null);
      if (live.length > 0)
        log(`noisy-student launch: ${why}; ending rank${live.length > 1 ? 's' : ''} ${live.map((c) => c.rank).join(', ')}`);
      for (const c of live) c.child.kill('SIGTERM');
      killTimer = setTimeout(() => {
        for (const c of children) if (c.exit === null) c.child.kill('SIGKILL');
      }, grace);
      killTimer.unref();
    };
    const onSignal = (sig: NodeJS.Signals) => endOthers(`launch got ${sig}`);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const finish = () => {
      if (children.some((c) => c.exit === null)) return;
      if (killTimer) clearTimeout(killTimer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      const exits = children.map((c) => c.exit!);
      resolve({ exitCode: failed ? exitCodeOf(failed) : ending ? 1 : 0, failed, exits });
    };
    for (let localRank = 0; localRank < o.nprocPerNode; localRank++) {
      const rank = o.nodeRank * o.nprocPerNode + localRank;
      const child = spawn(o.command[0]!, o.command.slice(1), { env: rankEnv(o, localRank, base), stdio: 'inherit' });
      const entry = { child, rank, localRank, exit: null as RankExit | null };
      children.push(entry);
      const done = (code: number | null, signal: NodeJS.Signals | null) => {
        if (entry.exit) return;
        entry.exit = { rank, localRank, pid: child.pid, code, signal };
        if ((code !== 0 || signal) && !ending) {
          failed = entry.exit;
          endOthers(`rank ${rank} (local rank ${localRank}, pid ${child.pid}) ${describe(entry.exit)}`);
        }
        finish();
      };
      child.on('error', (err) => {
        log(`noisy-student launch: rank ${rank} could not start ${o.command[0]}: ${err.message}`);
        done(127, null);
      });
      child.on('exit', done);
    }
  });
}
