// Locks between processes, as lock files. Two kinds:
//
//   acquireJobLock(dir, what)      one job owns an output or run folder: DIR/.noisy-student.lock. A
//                                  second job on the same folder gets a LockedError at once, naming
//                                  the holder (pid, host, command) and the lock file.
//   withFileLock(path, fn)         a short critical section (a hub download): a second process waits
//                                  for the first, then runs fn (which finds the finished file).
//
// A lock file holds JSON {pid, host, command, startedAt, token, procStart} and appears complete or not
// at all: it is written under a temporary name and hard-linked to its final name, which fails with
// EEXIST when another process holds it (O_EXCL, 'wx', where hard links are unsupported). A lock whose
// pid is dead on this host (or whose pid now belongs to a newer process: /proc start time) is stale
// and taken over with a warning. Taking over is race-free: the one process that creates the
// takeover claim for that exact stale content removes it, and only if the lock still holds that
// content; everyone else retries. A lock from another host cannot be checked and counts as held.
// Locks are released by release(), at exit, and on SIGINT/SIGTERM/SIGHUP when nothing else handles
// them; a SIGKILLed holder leaves a stale lock that the next job replaces.
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** The job lock's file name inside the folder it locks (a folder check for "empty" ignores it). */
export const JOB_LOCK_FILE = '.noisy-student.lock';

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** What holds it, e.g. `train --output runs/a`. */
  readonly command: string;
  readonly startedAt: string;
  /** Unique per acquisition: tells this lock from an earlier one of the same pid. */
  readonly token: string;
  /** The holder's start time (Linux /proc/<pid>/stat field 22), to tell a reused pid; null elsewhere. */
  readonly procStart: string | null;
}

export class LockedError extends Error {
  readonly code = 'E_LOCKED';
  constructor(
    readonly lockPath: string,
    readonly holder: LockHolder | null,
    message: string,
  ) {
    super(message);
    this.name = 'LockedError';
  }
}

export interface LockHandle {
  readonly path: string;
  readonly holder: LockHolder;
  /** Remove the lock (once; later calls do nothing). */
  release(): void;
}

export interface LockOptions {
  /** Told when a stale lock is replaced. Default process.emitWarning. */
  readonly onWarning?: (message: string) => void;
}

const defaultWarn = (m: string): void => process.emitWarning(m, { code: 'NOISY_STUDENT_LOCK' });

/** The locks this process holds, by token: released at exit and on a terminating signal. */
const held = new Map<string, { path: string; createdDir: string | null }>();
let tmpCounter = 0;

export const jobLockPath = (dir: string): string => join(dir, JOB_LOCK_FILE);

/**
 * Lock `dir` (created if missing) for one job. Throws LockedError at once when another live job
 * holds it; a stale lock (dead pid on this host) is replaced with a warning.
 * @example const lock = acquireJobLock(out, `train --output ${out}`); try { ... } finally { lock.release(); }
 */
export function acquireJobLock(dir: string, what: string, o: LockOptions = {}): LockHandle {
  let createdDir: string | null = null;
  try {
    statSync(dir);
  } catch {
    createdDir = dir;
  }
  mkdirSync(dir, { recursive: true });
  const path = jobLockPath(dir);
  const r = tryLock(path, what, o.onWarning ?? defaultWarn, createdDir);
  if ('handle' in r) return r.handle;
  if (createdDir) removeIfEmpty(createdDir);
  throw new LockedError(
    path,
    r.holder,
    `${dir} is in use by another job (${describeHolder(r.holder)}); two jobs on one folder would overwrite each other's files. ` +
      `Wait for it to finish or use another folder; if no such job is running any more (e.g. it ran on a machine that is gone), delete ${path}`,
  );
}

export interface FileLockOptions extends LockOptions {
  /** Give up after waiting this long without progress (ms). Default 10 minutes. */
  readonly timeoutMs?: number;
  /** How often to look again (ms). Default 200. */
  readonly pollMs?: number;
  /** What is waited for, for the messages. Default the lock path. */
  readonly what?: string;
  /** A number that changes while the holder makes progress (e.g. the size of its partial file): each change restarts the timeout. */
  readonly progress?: () => number | undefined;
  /** Called once when this call starts waiting for another holder. */
  readonly onWait?: (holder: LockHolder | null) => void;
  readonly signal?: AbortSignal;
}

/**
 * Run `fn` holding the lock file `path`: while another live process (or another call in this one)
 * holds it, wait and poll; a stale lock is taken over. Gives up with LockedError when the holder has
 * made no progress for `timeoutMs`, so a wedged holder never makes this wait forever.
 */
export async function withFileLock<T>(path: string, fn: () => Promise<T>, o: FileLockOptions = {}): Promise<T> {
  const timeoutMs = o.timeoutMs ?? 10 * 60_000;
  const pollMs = o.pollMs ?? 200;
  const what = o.what ?? path;
  mkdirSync(dirname(path), { recursive: true });
  let deadline = Date.now() + timeoutMs;
  let lastProgress = o.progress?.();
  let waited = false;
  for (;;) {
    o.signal?.throwIfAborted();
    const r = tryLock(path, what, o.onWarning ?? defaultWarn, null);
    if ('handle' in r) {
      try {
        return await fn();
      } finally {
        r.handle.release();
      }
    }
    if (!waited) {
      waited = true;
      o.onWait?.(r.holder);
    }
    const p = o.progress?.();
    if (p !== lastProgress) {
      lastProgress = p;
      deadline = Date.now() + timeoutMs;
    }
    if (Date.now() >= deadline)
      throw new LockedError(
        path,
        r.holder,
        `gave up waiting for ${what}: ${describeHolder(r.holder)} has held ${path} for ${Math.round(timeoutMs / 1000)} s without progress. ` +
          `If that process is stuck, stop it (or, if it is gone, delete ${path}) and try again`,
      );
    await sleep(pollMs, o.signal);
  }
}

function describeHolder(h: LockHolder | null): string {
  if (!h) return 'a process that is still writing its lock file';
  const here = h.host === hostname() ? (h.pid === process.pid ? ' (this process)' : '') : ` on host ${h.host}`;
  return `pid ${h.pid}${here}, "${h.command}", since ${h.startedAt}`;
}

type TryResult = { handle: LockHandle } | { holder: LockHolder | null };

function tryLock(path: string, what: string, warn: (m: string) => void, createdDir: string | null): TryResult {
  for (let attempt = 0; attempt < 20; attempt++) {
    const holder: LockHolder = {
      pid: process.pid,
      host: hostname(),
      command: what,
      startedAt: new Date().toISOString(),
      token: randomBytes(8).toString('hex'),
      procStart: procStartOf(process.pid),
    };
    if (createExclusive(path, `${JSON.stringify(holder)}\n`)) return { handle: register(path, holder, createdDir) };
    let raw: string;
    try {
      raw = readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile: try again
      throw e;
    }
    const other = parseHolder(raw);
    if (other === null) {
      // Only the 'wx' fallback can show a half-written lock, and only for a moment.
      if (ageMs(path) < 5000) return { holder: null };
    } else if (isAlive(other)) {
      return { holder: other };
    }
    takeOver(path, raw, other, warn);
    if (attempt > 2) sleepSync(5); // another process is between its claim and its removal
  }
  return { holder: parseHolder(safeRead(path)) };
}

/** Create `path` with `content`, complete, unless it exists (false). */
function createExclusive(path: string, content: string): boolean {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${++tmpCounter}.tmp`);
  writeFileSync(tmp, content);
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // No hard links here (some network or FUSE filesystems): O_EXCL, then write.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS' || code === 'EXDEV') {
      return createWx(path, content);
    }
    throw e;
  } finally {
    rmSync(tmp, { force: true });
  }
}

function createWx(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

/**
 * Remove the stale lock whose content is `raw` (exported for the tests; acquireJobLock and
 * withFileLock call it). The takeover claim is named after that content, so
 * of all processes that found this same stale lock exactly one creates the claim; it removes the lock
 * only if it still holds `raw` (a lock taken since is never touched).
 */
export function takeOver(path: string, raw: string, stale: LockHolder | null, warn: (m: string) => void): void {
  const claim = `${path}.takeover-${createHash('sha256').update(raw).digest('hex').slice(0, 16)}`;
  if (!createExclusive(claim, `${process.pid}\n`)) {
    // Someone else is taking this one over; a claim left by a process that died in that instant goes.
    const pid = Number(safeRead(claim).trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processGone(pid)) rmSync(claim, { force: true });
    return;
  }
  try {
    if (safeRead(path) !== raw) return;
    unlinkSync(path);
    warn(
      stale
        ? `removed the stale lock ${path} of pid ${stale.pid} ("${stale.command}", since ${stale.startedAt}), which is no longer running`
        : `removed the unreadable lock file ${path}`,
    );
  } finally {
    rmSync(claim, { force: true });
  }
}

function register(path: string, holder: LockHolder, createdDir: string | null): LockHandle {
  held.set(holder.token, { path, createdDir });
  installHandlers();
  let released = false;
  return {
    path,
    holder,
    release(): void {
      if (released) return;
      released = true;
      releaseOne(holder.token);
    },
  };
}

function releaseOne(token: string): void {
  const h = held.get(token);
  if (!h) return;
  held.delete(token);
  // Remove it only while it is still ours (never another job's lock that replaced it).
  const current = parseHolder(safeRead(h.path));
  if (current?.token === token) rmSync(h.path, { force: true });
  if (h.createdDir) removeIfEmpty(h.createdDir);
  if (held.size === 0) removeHandlers();
}

function releaseAll(): void {
  for (const token of [...held.keys()]) releaseOne(token);
}

/** A folder this lock created for a job that then wrote nothing (it failed at once) goes again. */
function removeIfEmpty(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    /* not empty (the job wrote something), or gone: keep it */
  }
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let installed = false;

function onSignal(sig: NodeJS.Signals): void {
  releaseAll();
  // Nobody else handles it: end the process as the signal would have.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function installHandlers(): void {
  if (installed) return;
  installed = true;
  process.on('exit', releaseAll);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function removeHandlers(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', releaseAll);
  for (const s of SIGNALS) process.off(s, onSignal);
}

function parseHolder(raw: string): LockHolder | null {
  try {
    const v = JSON.parse(raw) as Partial<LockHolder>;
    if (typeof v.pid !== 'number' || typeof v.host !== 'string' || typeof v.token !== 'string') return null;
    return {
      pid: v.pid,
      host: v.host,
      command: String(v.command ?? ''),
      startedAt: String(v.startedAt ?? ''),
      token: v.token,
      procStart: typeof v.procStart === 'string' ? v.procStart : null,
    };
  } catch {
    return null;
  }
}

function isAlive(h: LockHolder): boolean {
  if (h.host !== hostname()) return true; // cannot be checked from here
  // Our own pid: held by this process only if the lock is one we took (a container restarted with the
  // same pid left the other).
  if (h.pid === process.pid) return held.has(h.token);
  if (processGone(h.pid)) return false;
  const now = procStartOf(h.pid);
  return !(h.procStart !== null && now !== null && now !== h.procStart);
}

/** Whether a process with this pid is gone (EPERM: it exists, under another user). */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function procStartOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses); starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort(): void {
      clearTimeout(t);
      reject(signal!.reason);
    }
    signal?.addEventListener('abort', abort, { once: true });
  });
}

/** Run `fn` holding the job lock on `dir`; the lock goes when fn returns or throws. */
export async function withJobLock<T>(dir: string, what: string, fn: () => Promise<T>, o: LockOptions = {}): Promise<T> {
  const lock = acquireJobLock(dir, what, o);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
