// The job lock of an output folder when the job may be several ranks (torchrun, `noisy-student
// launch`, Slurm, an indexed Job). One job per folder, and under a launcher the job is all its ranks
// together: rank 0 takes the lock and writes the folder's own files (config, records, summary); the
// other ranks take none (each would find rank 0's lock and fail), and wait in ready() until rank 0
// has claimed and cleaned the folder, then read what it wrote. The same pattern as the train job
// (train/train_job.ts), for the commands that are not a train job: student, pseudo-label, run.
import { acquireJobLock, type LockHandle } from '../util/lock.js';
import { initProcessGroupFromEnv, type ProcessGroup } from './process_group.js';

export interface RankJobLock {
  /** The launcher's group (the one the stages join), or null for a single process. */
  readonly group: ProcessGroup | null;
  readonly rank: number;
  /** Rank 0 or the single process: it holds the lock, writes the folder's files and prints the summary. */
  readonly isWriter: boolean;
  /**
   * Every rank calls it once, where rank 0 has claimed the folder: the others go on from there. A
   * single process does not wait. When rank 0 failed before it (the lock is held by another job),
   * the others' barrier fails naming rank 0.
   */
  ready(): Promise<void>;
  /** Rank 0's lock goes (once; later calls and the other ranks do nothing). */
  release(): void;
}

/**
 * Take `dir`'s job lock for `what` (e.g. `student --output runs/a`) on rank 0 only. Joins the
 * launcher's process group first, so a rank 0 that cannot lock makes the others fail at ready()
 * rather than wait in the rendezvous.
 * @example const job = await acquireRankJobLock(out, `student --output ${out}`); try { await job.ready(); ... } finally { job.release(); }
 */
export async function acquireRankJobLock(dir: string, what: string): Promise<RankJobLock> {
  const group = await initProcessGroupFromEnv();
  const rank = group?.rank ?? 0;
  const lock: LockHandle | null = rank === 0 ? acquireJobLock(dir, what) : null;
  let waited = false;
  return {
    group,
    rank,
    isWriter: rank === 0,
    async ready(): Promise<void> {
      if (!group || waited) return;
      waited = true;
      await group.barrier();
    },
    release(): void {
      lock?.release();
    },
  };
}
