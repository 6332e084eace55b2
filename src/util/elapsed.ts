// Wall time of a resumable job summed over its attempts: a killed attempt's time would otherwise
// vanish from the figures. The running total is saved every few seconds, so a kill loses at most
// that much of it.
import { existsSync, readFileSync } from 'node:fs';
import { atomicWriteJson } from './atomic_write.js';

/**
 * Run fn, keeping its running total in `file` (null: time it without a record, as the ranks other
 * than 0 of a data-parallel job do: the folder is rank 0's to write).
 */
export async function withElapsed<T>(file: string | null, fn: () => Promise<T>, everyMs = 5000): Promise<{ result: T; seconds: number }> {
  let before = 0;
  if (file !== null && existsSync(file)) {
    const v = (JSON.parse(readFileSync(file, 'utf8')) as { seconds?: unknown }).seconds;
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) before = v;
  }
  const t0 = Date.now();
  const total = (): number => before + (Date.now() - t0) / 1000;
  const timer = file === null ? null : setInterval(() => atomicWriteJson(file, { seconds: total() }), everyMs);
  timer?.unref();
  try {
    const result = await fn();
    const seconds = total();
    if (file !== null) atomicWriteJson(file, { seconds });
    return { result, seconds };
  } finally {
    if (timer) clearInterval(timer);
  }
}
