// Process-wide engine facts and settings: threads, live tensor count, build info, BLAS in use.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { native, type NativeBinding } from './native.js';
import { cudaAvailable, cudaDeviceCount } from './device.js';

/** Number of native tensors alive (not yet disposed or collected). Tests assert it returns to its start. */
export function liveTensorCount(): number {
  return native.liveCount();
}

/**
 * Bytes of CPU tensor storage that live tensor handles keep alive, as the addon reports them to V8
 * (napi_adjust_external_memory; they show in process.memoryUsage().external). Each storage counts
 * once however many tensors view it; tensors sharing a JS buffer (fromTypedArray with copy: false)
 * and GPU tensors are not counted. V8 weighs this when deciding to collect, so an undisposed large
 * tensor makes the GC (and the tensor's finalizer, the backstop) run sooner.
 */
export function externalTensorBytes(): number {
  return native.externalBytes();
}

/** Intra-op threads. Defaults to every core (or OMP_NUM_THREADS), not ATen's half of them. */
export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}

export function buildInfo(): ReturnType<NativeBinding['buildInfo']> {
  return native.buildInfo();
}

/** Where a run happened, as plain JSON for artifact records (see environmentInfo). */
export interface EnvironmentInfo {
  /** libtorch's version (TORCH_VERSION of the headers the addon was built with). */
  libtorch: string;
  cuda: boolean;
  cudaDevices: number;
  /** Intra-op threads in use now. */
  threads: number;
  cpu: { model: string; flags: string[] };
  /** Whether this libtorch has oneDNN (MKL-DNN) kernels. */
  mkldnn: boolean;
}

// The CPU features that decide which kernels libtorch and oneDNN can use (and so the speed and, for
// bf16/fp16 paths, the exact numerics of a run).
const SIMD_FLAGS = [
  'sse4_2',
  'fma',
  'f16c',
  'avx',
  'avx2',
  'avx_vnni',
  'avx512f',
  'avx512bw',
  'avx512vl',
  'avx512dq',
  'avx512_vnni',
  'avx512_bf16',
  'avx512_fp16',
  'amx_tile',
  'amx_bf16',
  'amx_int8',
  'amx_fp16',
  'asimd',
  'sve',
  'sve2',
  'bf16',
] as const;

// Read once: every artifact record embeds it, and the CPU does not change under a process.
let cpuInfoCache: { model: string; flags: string[] } | null = null;
function cpuInfo(): { model: string; flags: string[] } {
  return (cpuInfoCache ??= readCpuInfo());
}

function readCpuInfo(): { model: string; flags: string[] } {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return { model: cpus()[0]?.model ?? 'unknown', flags: [] };
  }
  const field = (name: string): string | undefined => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();
  // x86 names the CPU "model name" and its features "flags"; arm64 has "Features" and no name.
  const model = field('model name') ?? cpus()[0]?.model ?? 'unknown';
  const have = new Set((field('flags') ?? field('Features') ?? '').split(/\s+/));
  return { model, flags: SIMD_FLAGS.filter((f) => have.has(f)) };
}

/**
 * Facts about the engine and machine that a result depends on (libtorch version, CUDA, threads,
 * CPU features, oneDNN), as plain JSON to embed in every artifact record.
 */
export function environmentInfo(): EnvironmentInfo {
  const info = native.buildInfo();
  return {
    libtorch: info.torchVersion,
    cuda: cudaAvailable(),
    cudaDevices: cudaDeviceCount(),
    threads: native.getNumThreads(),
    cpu: cpuInfo(),
    mkldnn: info.mkldnn,
  };
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
