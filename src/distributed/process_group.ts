// A c10d process group for our tensors: TCPStore rendezvous at MASTER_ADDR:MASTER_PORT (rank 0
// hosts the store), then ProcessGroupGloo (or NCCL with a CUDA build). It is the ProcessGroupLike
// an ExecutionContext carries (nn/context.ts).
//
// Every collective works in place on the tensors given. The Promise forms run on c10d's threads and
// settle on the event loop; the `Sync` forms block the JS thread (the training step uses them
// between backward and the update, where nothing else could run anyway). A rank that died or hangs
// makes the collective fail within the timeout with the rank named (native/distributed explains how).
import { availableParallelism } from 'node:os';
import { fromTypedArray, getNumThreads, setNumThreads, type Tensor } from '../torch/index.js';
import type { ProcessGroupLike } from '../nn/index.js';
import { distributedNative, type NativeGroup, type NativeStore, type ReduceOpName } from './native.js';
import { detectDistEnv, type DistEnv } from './env.js';

export type Backend = 'gloo' | 'nccl';

export interface InitProcessGroupOptions {
  /** Where this process sits; read from the launcher's variables by default (env.ts). */
  readonly env?: DistEnv;
  readonly backend?: Backend;
  /** How long a collective (and the rendezvous) may wait for a peer before failing. Default 30 min, or NOISY_STUDENT_DIST_TIMEOUT (seconds). */
  readonly timeoutMs?: number;
  /**
   * libtorch threads for this rank. Default: OMP_NUM_THREADS when set, else the cores this process
   * may use divided by the ranks on this node (at least 1), so N local ranks do not oversubscribe.
   */
  readonly threads?: number;
}

/** The timeout a job asked for: NOISY_STUDENT_DIST_TIMEOUT seconds, else 30 minutes (torch's default). */
export function defaultTimeoutMs(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const v = env['NOISY_STUDENT_DIST_TIMEOUT'];
  if (v === undefined || v === '') return 30 * 60 * 1000;
  const s = Number(v);
  if (!Number.isFinite(s) || s <= 0)
    throw new Error(`NOISY_STUDENT_DIST_TIMEOUT=${JSON.stringify(v)} must be a positive number of seconds`);
  return Math.round(s * 1000);
}

/** Threads per rank when nobody said: the cores this process may use / local ranks. */
export function threadsPerRank(localWorldSize: number, env: Readonly<Record<string, string | undefined>> = process.env): number {
  const omp = Number(env['OMP_NUM_THREADS']);
  if (Number.isInteger(omp) && omp > 0) return omp;
  return Math.max(1, Math.floor(availableParallelism() / Math.max(1, localWorldSize)));
}

function handles(tensors: readonly Tensor[], what: string): number[] {
  return tensors.map((t, i) => {
    if (t.isDisposed) throw new Error(`${what}: tensor ${i} was disposed`);
    return t.h;
  });
}

export class ProcessGroup implements ProcessGroupLike {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly localWorldSize: number;
  readonly backend: Backend;
  /** The rendezvous store, for small shared values (keys under "user/" are free for callers). */
  readonly store: NativeStore;
  private closed = false;

  private constructor(
    private readonly pg: NativeGroup,
    store: NativeStore,
    env: DistEnv,
  ) {
    this.rank = pg.rank;
    this.worldSize = pg.worldSize;
    this.localRank = env.localRank;
    this.localWorldSize = env.localWorldSize;
    this.backend = pg.backend;
    this.store = store;
  }

  /** Rendezvous with the other ranks and build the group (all ranks call it, any order). */
  static async init(o: InitProcessGroupOptions = {}): Promise<ProcessGroup> {
    const env = o.env ?? detectDistEnv();
    const timeoutMs = o.timeoutMs ?? defaultTimeoutMs();
    const threads = o.threads ?? threadsPerRank(env.localWorldSize);
    if (threads !== getNumThreads()) setNumThreads(threads);
    const d = distributedNative();
    const store = await d.connectStore(env.masterAddr, env.masterPort, env.rank === 0, env.worldSize, timeoutMs);
    const pg = await d.newGroup(store, env.rank, env.worldSize, { backend: o.backend ?? 'gloo', timeoutMs, prefix: 'ns/' });
    return new ProcessGroup(pg, store, env);
  }

  /** The native group, for the SyncBatchNorm binding. @internal */
  get native(): NativeGroup {
    if (this.closed) throw new Error('ProcessGroup: closed');
    return this.pg;
  }

  allreduce(tensors: readonly Tensor[], op: ReduceOpName = 'sum'): Promise<void> {
    return this.native.allreduce(handles(tensors, 'allreduce'), op);
  }
  allreduceSync(tensors: readonly Tensor[], op: ReduceOpName = 'sum'): void {
    this.native.allreduce(handles(tensors, 'allreduce'), op, true);
  }
  broadcast(tensors: readonly Tensor[], root: number): Promise<void> {
    return this.native.broadcast(handles(tensors, 'broadcast'), root);
  }
  broadcastSync(tensors: readonly Tensor[], root: number): void {
    this.native.broadcast(handles(tensors, 'broadcast'), root, true);
  }
  /** outputs[r] receives rank r's `input` (same shape and dtype on every rank). */
  allgather(outputs: readonly Tensor[], input: Tensor): Promise<void> {
    return this.native.allgather(handles(outputs, 'allgather'), handles([input], 'allgather')[0]!);
  }
  barrier(): Promise<void> {
    return this.native.barrier();
  }
  barrierSync(): void {
    this.native.barrier(true);
  }

  /** Reduce plain numbers (metrics, counts) across ranks, in float64. */
  async allreduceNumbers(values: readonly number[], op: ReduceOpName = 'sum'): Promise<number[]> {
    const t = fromTypedArray(Float64Array.from(values), [values.length]);
    try {
      await this.allreduce([t], op);
      return t.toArray();
    } finally {
      t.dispose();
    }
  }
  allreduceNumbersSync(values: readonly number[], op: ReduceOpName = 'sum'): number[] {
    const t = fromTypedArray(Float64Array.from(values), [values.length]);
    try {
      this.allreduceSync([t], op);
      return t.toArray();
    } finally {
      t.dispose();
    }
  }

  /** Leave the group (stops the heartbeat; the other ranks see this rank as gone). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pg.close();
  }
}

/**
 * The job's process group, or null for a single process (no launcher variables, or a world of 1):
 * what every command calls, so the same command line runs alone or under a launcher. One group per
 * process, made on the first call and kept until exit: the stages of a `run` (train, pseudo-label,
 * student) share it, as they share rank 0's TCPStore port.
 */
export function initProcessGroupFromEnv(o: Omit<InitProcessGroupOptions, 'env'> = {}): Promise<ProcessGroup | null> {
  if (shared) return shared;
  const env = detectDistEnv();
  shared = env.worldSize <= 1 ? Promise.resolve(null) : ProcessGroup.init({ ...o, env });
  // A failed rendezvous is not cached: the error goes to this caller, a later call tries again.
  shared.catch(() => (shared = null));
  return shared;
}

let shared: Promise<ProcessGroup | null> | null = null;
