// Shared benchmark plumbing: medians, the Python reference runner, result printing.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Debian's python3 (with python3-torch), the reference runtime the benchmarks compare against. */
export const PYTHON = '/usr/bin/python3';

export function pythonTorchAvailable(): boolean {
  if (!existsSync(PYTHON)) return false;
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function runPython<T>(script: string, args: string[], env: Record<string, string> = {}): T {
  const out = execFileSync(PYTHON, [script, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}

export function hrMs(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/**
 * The malloc settings the addon applies to itself (native/src/addon.cc), as glibc environment
 * variables: the reference side gets them too, so a comparison measures kernels, not page faults.
 */
export const SAME_MALLOC: Readonly<Record<string, string>> = {
  MALLOC_MMAP_THRESHOLD_: String(256 << 20),
  MALLOC_TRIM_THRESHOLD_: String(1 << 30),
  MALLOC_TOP_PAD_: String(64 << 20),
};
