// Test-only kill points in the write primitives (atomic_write.ts, checkpoint.ts): every write of a
// piece of a file, every rename and every directory fsync is an event, numbered across the process.
//
//   NOISY_STUDENT_KILL_AT=N        the process SIGKILLs itself at event N (a crash at that instant:
//                                  mid-file, between write and rename, between two renames...)
//   NOISY_STUDENT_FAULT_COUNT=FILE at exit, the number of events seen is written to FILE
//
// Nothing here is for users: test/noisy/fault_injection.test.ts kills a run at chosen events and
// checks that resuming it ends as an uninterrupted run does. With neither variable set (and no
// listener) an event is one comparison.
import { writeFileSync } from 'node:fs';

const killAt = Number(process.env['NOISY_STUDENT_KILL_AT'] ?? 0) || 0;
const countFile = process.env['NOISY_STUDENT_FAULT_COUNT'] ?? '';
let listener: ((event: string) => void) | null = null;
let active = killAt > 0 || countFile !== '' || listener !== null;
let seen = 0;

if (countFile !== '') process.on('exit', () => writeFileSync(countFile, String(seen)));

/** One write, rename or directory fsync; `what` names it (for listeners), e.g. `rename ckpt-…`. */
export function faultPoint(what: string): void {
  if (!active) return;
  seen++;
  listener?.(what);
  if (seen === killAt) process.kill(process.pid, 'SIGKILL');
}

/** In-process tests: see every event as it happens (null to stop). */
export function setFaultListener(fn: ((event: string) => void) | null): void {
  listener = fn;
  active = killAt > 0 || countFile !== '' || listener !== null;
}
