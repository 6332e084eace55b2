// Job locks and waiting file locks between real processes: a second job on a locked folder fails at
// once naming the holder; a lock left by a killed process is taken over (by exactly one of several
// processes racing for it); locks go on release, on a throw, and on SIGTERM.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireJobLock, JOB_LOCK_FILE, LockedError, takeOver, withFileLock, withJobLock } from '../../src/util/lock.js';
import { REPO_ROOT } from '../helpers/paths.js';

const LOCK_TS = join(REPO_ROOT, 'src/util/lock.ts');
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ns-lock-'));
  dirs.push(d);
  return d;
};
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A child process running `body` with `lock` imported from src/util/lock.ts; resolves with its output once it prints `until` or exits. */
function child(body: string, until?: string): Promise<{ proc: ChildProcess; out: string; err: string; code: number | null }> {
  const code = `const lock = await import(${JSON.stringify(LOCK_TS)});\n${body}`;
  const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: REPO_ROOT });
  children.push(proc);
  let out = '';
  let err = '';
  return new Promise((resolve) => {
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (until !== undefined && out.includes(until)) resolve({ proc, out, err, code: null });
    });
    proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('exit', (c) => resolve({ proc, out, err, code: c }));
  });
}
const exited = (p: ChildProcess): Promise<void> =>
  p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.on('exit', () => r()));

/** Hold the job lock on `dir` until killed. */
const holdJobLock = (dir: string, what: string): string =>
  `lock.acquireJobLock(${JSON.stringify(dir)}, ${JSON.stringify(what)}); console.log('held'); setInterval(() => {}, 1000);`;

describe('job locks', () => {
  it('a second process on a locked folder fails at once, naming the holder; SIGTERM releases the lock', async () => {
    const dir = tmp();
    const a = await child(holdJobLock(dir, 'train --output A'), 'held');
    const b = await child(
      `try { lock.acquireJobLock(${JSON.stringify(dir)}, 'train --output B'); console.log('acquired'); }
       catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message, pid: e.holder?.pid })); }`,
    );
    assert.equal(b.code, 0, b.err);
    const r = JSON.parse(b.out) as { code: string; message: string; pid: number };
    assert.equal(r.code, 'E_LOCKED');
    assert.equal(r.pid, a.proc.pid);
    assert.ok(r.message.includes(`pid ${a.proc.pid}`), r.message);
    assert.ok(r.message.includes('train --output A'), r.message);
    assert.ok(r.message.includes(join(dir, JOB_LOCK_FILE)), r.message);
    const info = JSON.parse(readFileSync(join(dir, JOB_LOCK_FILE), 'utf8')) as { pid: number; host: string; command: string };
    assert.deepEqual([info.pid, info.host, info.command], [a.proc.pid, hostname(), 'train --output A']);
    a.proc.kill('SIGTERM');
    await exited(a.proc);
    assert.equal(a.proc.signalCode, 'SIGTERM', 'the process still ends by the signal');
    assert.ok(!existsSync(join(dir, JOB_LOCK_FILE)), 'SIGTERM released the lock');
  });

  it('a lock left by a SIGKILLed process is stale: taken over with a warning', async () => {
    const dir = tmp();
    const dead = await child(`${holdJobLock(dir, 'train --output dead')} process.kill(process.pid, 'SIGKILL');`);
    assert.equal(dead.proc.signalCode, 'SIGKILL');
    assert.ok(existsSync(join(dir, JOB_LOCK_FILE)), 'a SIGKILL leaves the lock file behind');
    const warnings: string[] = [];
    const l = acquireJobLock(dir, 'train --output again', { onWarning: (m) => warnings.push(m) });
    assert.equal(JSON.parse(readFileSync(l.path, 'utf8')).pid, process.pid);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, new RegExp(`stale lock .* of pid ${dead.proc.pid} \\("train --output dead"`));
    l.release();
    assert.ok(!existsSync(l.path));
  });

  it('of several processes racing for one stale lock, exactly one gets it', async () => {
    const dir = tmp();
    // A stale lock: a pid of this host that is certainly gone (a process that has exited).
    const gone = await child('');
    writeFileSync(
      join(dir, JOB_LOCK_FILE),
      JSON.stringify({ pid: gone.proc.pid, host: hostname(), command: 'old', startedAt: '', token: 'x', procStart: null }),
    );
    const race = `try { lock.acquireJobLock(${JSON.stringify(dir)}, 'racer', { onWarning: () => {} }); console.log('WON'); setInterval(() => {}, 1000); }
      catch (e) { console.log(e.code); }`;
    const results = await Promise.all(Array.from({ length: 5 }, () => child(race, 'WON')));
    const outs = results.map((r) => r.out.trim());
    assert.equal(outs.filter((o) => o === 'WON').length, 1, outs.join(', '));
    assert.equal(outs.filter((o) => o === 'E_LOCKED').length, 4, outs.join(', '));
  });

  it('a takeover never removes a lock that replaced the stale one it found, nor races a takeover in progress', async () => {
    const dir = tmp();
    const path = join(dir, JOB_LOCK_FILE);
    const gone = await child('');
    const staleRaw = JSON.stringify({ pid: gone.proc.pid, host: hostname(), command: 'old', startedAt: '', token: 'x', procStart: null });
    // A slow process read the stale lock; meanwhile another one replaced it with its own live lock.
    const a = await child(holdJobLock(dir, 'the new holder'), 'held');
    const live = readFileSync(path, 'utf8');
    takeOver(path, staleRaw, null, () => assert.fail('no warning: nothing is removed'));
    assert.equal(readFileSync(path, 'utf8'), live, 'the live lock is untouched');
    a.proc.kill('SIGKILL');
    await exited(a.proc);
    // The stale lock is back, and a live process (this one's parent test runner stands in) is taking it over: leave it to that one.
    writeFileSync(path, staleRaw);
    const claim = `${path}.takeover-${createHash('sha256').update(staleRaw).digest('hex').slice(0, 16)}`;
    writeFileSync(claim, `${process.ppid}\n`);
    takeOver(path, staleRaw, null, () => assert.fail('no warning: the other takeover owns it'));
    assert.equal(readFileSync(path, 'utf8'), staleRaw);
    rmSync(claim);
    const warnings: string[] = [];
    takeOver(path, staleRaw, null, (m) => warnings.push(m));
    assert.ok(!existsSync(path) && !existsSync(claim) && warnings.length === 1);
  });

  it('is released when the job throws, and a second acquire in the same process is refused while held', async () => {
    const dir = tmp();
    await assert.rejects(
      withJobLock(dir, 'job 1', async () => {
        assert.throws(
          () => acquireJobLock(dir, 'job 2'),
          (e: unknown) => e instanceof LockedError && /this process/.test(e.message),
        );
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.ok(!existsSync(join(dir, JOB_LOCK_FILE)));
    acquireJobLock(dir, 'job 3').release();
  });

  it('a folder the lock created is removed again when the job wrote nothing; an existing one is kept', () => {
    const parent = tmp();
    const fresh = join(parent, 'new');
    acquireJobLock(fresh, 'fails at once').release();
    assert.ok(!existsSync(fresh));
    acquireJobLock(parent, 'existing').release();
    assert.ok(existsSync(parent));
  });
});

describe('waiting file locks', () => {
  it('waits while another process holds the lock, then runs', async () => {
    const dir = tmp();
    const path = join(dir, 'blob.lock');
    const a = await child(
      `await lock.withFileLock(${JSON.stringify(path)}, async () => {
         console.log('held');
         await new Promise((r) => setTimeout(r, 1000));
         (await import('node:fs')).writeFileSync(${JSON.stringify(join(dir, 'holder-done'))}, '');
       });`,
      'held',
    );
    let waitedFor: number | undefined;
    let holderWasDone = false;
    await withFileLock(
      path,
      async () => {
        holderWasDone = existsSync(join(dir, 'holder-done'));
      },
      { pollMs: 50, onWait: (h) => (waitedFor = h?.pid) },
    );
    await exited(a.proc);
    assert.equal(waitedFor, a.proc.pid, 'it waited for the holder');
    assert.ok(holderWasDone, "it ran only after the holder's critical section ended");
    assert.equal(a.proc.exitCode, 0);
    assert.ok(!existsSync(path));
  });

  it('gives up with a clear error when the holder makes no progress for timeoutMs', async () => {
    const dir = tmp();
    const path = join(dir, 'blob.lock');
    const a = await child(
      `await lock.withFileLock(${JSON.stringify(path)}, async () => { console.log('held'); await new Promise(() => setInterval(() => {}, 1000)); }, { what: 'stuck' });`,
      'held',
    );
    await assert.rejects(
      withFileLock(path, async () => assert.fail('must not run'), { timeoutMs: 300, pollMs: 50, what: 'the download of x' }),
      (e: unknown) =>
        e instanceof LockedError && e.message.includes('gave up waiting for the download of x') && e.message.includes(`pid ${a.proc.pid}`),
    );
    a.proc.kill('SIGKILL');
    await exited(a.proc);
  });
});

describe('jobs take the lock of their folder first', () => {
  const aborted = (): AbortSignal => {
    const c = new AbortController();
    c.abort(new Error('stopped by the test'));
    return c.signal;
  };
  const isLockError = (holder: number) => (e: unknown) =>
    e instanceof LockedError && e.holder?.pid === holder && e.message.includes('in use by another job');

  it('train (runTrainJob) on a folder a live process holds fails at once, touching nothing', async () => {
    const { resolveTrainConfig, runTrainJob } = await import('../../src/train/index.js');
    const dir = tmp();
    writeFileSync(join(dir, 'metrics.jsonl'), '{"step":1}\n');
    const a = await child(holdJobLock(dir, 'train --output X'), 'held');
    const cfg = resolveTrainConfig(
      {},
      { model: 'tinynet_e', data: 'fashion-mnist', labelsPerClass: 10, output: dir, resume: true, workers: 0 },
    );
    await assert.rejects(runTrainJob(cfg, { log: () => {}, signal: aborted() }), isLockError(a.proc.pid!));
    assert.ok(!existsSync(join(dir, 'config.json')), 'nothing was written');
    assert.equal(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'), '{"step":1}\n');
    a.proc.kill('SIGKILL');
    await exited(a.proc);
  });

  it('run (runNoisyStudent) on a run folder a live process holds fails at once, its config.json kept', async () => {
    const { resolveNoisyStudentConfig, runNoisyStudent } = await import('../../src/noisy/index.js');
    const dir = tmp();
    const base = {
      seed: 3,
      labeled: { data: 'fashion-mnist', perClass: 10 },
      unlabeled: { data: 'rest', limit: 30 },
      test: { data: 'default', limit: 20 },
      teacher: { model: 'tinynet_e', train: { epochs: 1, batchSize: 20 } },
      students: ['tinynet_e'],
      pseudoLabel: { perClass: 2 },
      workers: 0,
    };
    const first = JSON.stringify(resolveNoisyStudentConfig(base), null, 2) + '\n';
    writeFileSync(join(dir, 'config.json'), first);
    const a = await child(holdJobLock(dir, 'run --output X'), 'held');
    const next = resolveNoisyStudentConfig({ ...base, students: ['tinynet_e', 'tinynet_e'] });
    await assert.rejects(runNoisyStudent(next, dir, { signal: aborted() }), isLockError(a.proc.pid!));
    assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), first);
    a.proc.kill('SIGKILL');
    await exited(a.proc);
  });

  it('the stage commands (filter here) refuse an output folder a live process holds, before reading their inputs', async () => {
    const { runCli } = await import('../cli/run_cli.js');
    const dir = tmp();
    const a = await child(holdJobLock(dir, 'filter --output X'), 'held');
    const r = await runCli(['filter', '--pseudo', join(dir, 'no-such-pseudo'), '--per-class', '1', '--output', dir]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`in use by another job \\(pid ${a.proc.pid}, "filter --output X"`));
    a.proc.kill('SIGKILL');
    await exited(a.proc);
  });
});
