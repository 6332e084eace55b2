// Every output file is written to a temporary name beside its destination, flushed, then renamed over
// it, and the directory is fsynced so the rename itself survives a power cut: a reader (or a resumed
// job after a kill) sees either the old file or the whole new one. A failed write (a full disk)
// removes its temporary file and leaves the old file as it was.
import { closeSync, copyFileSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { faultPoint } from './fault_points.js';

let counter = 0;

/** Pieces of at most this size per write(), so a kill point can fall in the middle of a large file. */
export const WRITE_PIECE_BYTES = 1 << 20;

/** Temporary names are `.<name>.<pid>.<n>.tmp`: the pid says whether their writer can still be alive. */
const TMP_RE = /^\..+\.(\d+)\.\d+\.tmp$/;

/** A temporary name beside `path` (a dot file with our pid: whose it is, and whether its writer is alive). */
export function tempPathBeside(path: string, tag = ''): string {
  return join(dirname(path), `.${basename(path)}${tag ? `.${tag}` : ''}.${process.pid}.${++counter}.tmp`);
}

/**
 * The one way a file is put in place: `fill` writes the whole content into a temporary file beside
 * `path` and fsyncs it, then it is renamed over `path`, so readers see the old file or the whole new
 * one. `fill` counts the bytes it wrote into `written`, for the disk-full message.
 */
function replaceAtomically(path: string, fill: (tmp: string, written: { bytes: number }) => void): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = tempPathBeside(path);
  const written = { bytes: 0 };
  try {
    fill(tmp, written);
    faultPoint(`rename ${tmp}`);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw diskFullError(e, path, written.bytes) ?? e;
  }
  fsyncDir(dir);
}

/** fsync an open file and close it (closed also when the fsync throws). */
function syncAndClose(fd: number): void {
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function atomicWriteFile(path: string, chunks: string | Uint8Array | readonly (string | Uint8Array)[]): void {
  const list = typeof chunks === 'string' || chunks instanceof Uint8Array ? [chunks] : chunks;
  replaceAtomically(path, (tmp, written) => {
    const fd = openSync(tmp, 'w');
    try {
      for (const c of list) {
        const buf = typeof c === 'string' ? Buffer.from(c, 'utf8') : c;
        let off = 0;
        while (off < buf.byteLength) {
          off += writeSync(fd, buf, off, Math.min(WRITE_PIECE_BYTES, buf.byteLength - off));
          faultPoint(`write ${tmp}`);
        }
        written.bytes += buf.byteLength;
      }
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    syncAndClose(fd);
  });
}

/**
 * Copy a file into place atomically: readers (another rank of the job among them, copying the same
 * bytes) see the old file or the whole new one, never a truncated copy.
 */
export function atomicCopyFile(src: string, path: string): void {
  replaceAtomically(path, (tmp) => {
    copyFileSync(src, tmp);
    syncAndClose(openSync(tmp, 'r+'));
  });
}

export function atomicWriteJson(path: string, value: unknown): void {
  atomicWriteFile(path, JSON.stringify(value, null, 2) + '\n');
}

/** Make the renames and removals in `dir` durable (a rename lives in the directory, not the file). */
export function fsyncDir(dir: string): void {
  faultPoint(`fsync ${dir}`);
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A full disk (or quota) said as such: which file, and that the previous one is intact. */
export function diskFullError(e: unknown, path: string, bytesWritten: number): Error | null {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (code !== 'ENOSPC' && code !== 'EDQUOT') return null;
  return new Error(
    `the disk is full: writing ${path} failed after ${bytesWritten} bytes (${code}); the previous version of the file, if any, ` +
      `is intact and nothing partial was left. Free space on the disk holding ${dirname(path)} (or write elsewhere) and run the same command again`,
    { cause: e },
  );
}

/** Whether `e` (or its cause) is a full disk or quota: ENOSPC or EDQUOT. */
export function isDiskFull(e: unknown): boolean {
  const codes = [(e as NodeJS.ErrnoException | null)?.code, ((e as Error | null)?.cause as NodeJS.ErrnoException | undefined)?.code];
  return codes.some((c) => c === 'ENOSPC' || c === 'EDQUOT');
}

/** Whether a process with this pid is gone (a pid that exists, or ours, is taken as alive). */
export function processGone(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Remove the temporary files atomicWriteFile left under `root` (recursively) when its process was
 * killed: only names of our pattern whose writer is gone, so a live writer's file (another job
 * sharing a cache) is never touched. Returns the paths removed.
 */
export function removeStaleTemps(root: string): string[] {
  const removed: string[] = [];
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const m = TMP_RE.exec(e.name);
        if (m && processGone(Number(m[1]))) {
          rmSync(p, { force: true });
          removed.push(p);
        }
      }
    }
  };
  walk(root);
  return removed;
}
