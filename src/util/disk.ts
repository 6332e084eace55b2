// Free space, looked at before a stage starts: a stage that cannot fit stops at once with what it
// needs and what is free, instead of filling the disk an hour in. (A write that still runs out of
// space fails cleanly in atomicWriteFile: the previous file stays, the error says the disk is full.)
import { existsSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Test-only: pretend the disk has this many bytes free (the tests cannot fill a real disk everywhere). */
const FREE_OVERRIDE = 'NOISY_STUDENT_FREE_BYTES';

/** Bytes an unprivileged writer may still use on the file system holding `dir` (or its nearest existing parent). */
export function freeBytes(dir: string): number {
  const forced = process.env[FREE_OVERRIDE];
  if (forced !== undefined && forced !== '') return Number(forced);
  let d = resolve(dir);
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  const s = statfsSync(d);
  return Number(s.bavail) * Number(s.bsize);
}

export class DiskSpaceError extends Error {
  constructor(
    message: string,
    readonly needed: number,
    readonly free: number,
  ) {
    super(message);
    this.name = 'DiskSpaceError';
  }
}

/**
 * Throw a DiskSpaceError unless `dir`'s disk has `bytesNeeded` free (plus a 5% / 64 MiB margin for
 * everything else that writes there). `what` names the writes, e.g. "pseudo-labels for 1,281,167 images".
 */
export function ensureFreeSpace(dir: string, bytesNeeded: number, what: string): void {
  const free = freeBytes(dir);
  const margin = Math.min(64 * 2 ** 20, bytesNeeded * 0.05);
  if (free >= bytesNeeded + margin) return;
  throw new DiskSpaceError(
    `not enough disk space: ${what} need ~${formatBytes(bytesNeeded)} in ${dir}, ${formatBytes(free)} free there; ` +
      'free some space or give an output folder on a larger disk, then run the same command again',
    bytesNeeded,
    free,
  );
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

/**
 * What pseudo-labelling `images` images writes: per image its id (int64) and either C float32
 * probabilities or top-k (k float32 probabilities, k int64 classes, the top-1 float32); shard headers;
 * and index.json, which lists each image (`indexed`, default `images`) as a small JSON record.
 */
export function pseudoLabelBytes(o: { images: number; numClasses: number; topk: number; shards: number; indexed?: number }): number {
  const perImage = 8 + (o.topk ? o.topk * (4 + 8) + 4 : o.numClasses * 4);
  const INDEX_PER_IMAGE = 160;
  const SHARD_HEADER = 1024;
  return o.images * perImage + o.shards * SHARD_HEADER + (o.indexed ?? o.images) * INDEX_PER_IMAGE;
}
