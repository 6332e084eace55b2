// Process-wide engine facts and settings: threads, live tensor count, build info, BLAS in use.
import { readFileSync } from 'node:fs';
import { native } from './native.js';

/** Number of native tensors alive (not yet disposed or collected). Tests assert it returns to its start. */
export function liveTensorCount(): number {
  return native.liveCount();
}

/** Intra-op threads. Defaults to every core (or OMP_NUM_THREADS), not ATen's half of them. */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}

export function buildInfo(): { torchVersion: string; config: string; parallelInfo: string; mkldnn: boolean; openmp: boolean } {
  return native.buildInfo();
}

/**
 * The BLAS library actually mapped into this process. Debian's libtorch links the generic
 * libblas.so.3, which Debian's alternatives point at the reference BLAS (slow) or OpenBLAS.
 */
export function blasInUse(): string {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const libs = new Set<string>();
    for (const line of maps.split('\n')) {
      const m = /\s(\/\S*(?:blas|mkl|lapack)\S*\.so[^\s]*)$/i.exec(line);
      if (m) libs.add(m[1]!);
    }
    return libs.size > 0 ? [...libs].join(', ') : 'unknown (no BLAS library mapped)';
  } catch {
    return 'unknown (/proc/self/maps unreadable)';
  }
}
