// `--backend auto`: time each candidate backend on a random batch once per (architecture, batch,
// input size, threads, precision, machine, runtime versions) and remember the faster in a small JSON
// cache, so that later runs (and a resumed job) pick the same one without measuring. Weights do not
// change the speed, so the key holds the architecture's spec, not a weights hash.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, homedir } from 'node:os';
import { join } from 'node:path';
import type { EfficientNet, InferenceModel } from '../models/index.js';
import { environmentInfo, getNumThreads } from '../torch/index.js';
import { atomicWriteJson } from '../util/atomic_write.js';
import { loadOrt } from './ort.js';
import { measureInference } from './measure.js';

export interface BackendChoice {
  readonly backend: string;
  readonly precision: string;
  /** true when this call timed the candidates; false when the choice came from the cache or was pinned. */
  readonly measured: boolean;
  readonly reason: string;
  /** Median ms per batch of each candidate, when measured (or as cached). */
  readonly timingsMs?: Readonly<Record<string, number>>;
}

/** The cache file: NOISY_STUDENT_CACHE, else XDG_CACHE_HOME/noisy-student, else ~/.cache/noisy-student. */
export function backendCachePath(): string {
  const dir = process.env['NOISY_STUDENT_CACHE'] ?? join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'noisy-student');
  return join(dir, 'backend-choice.json');
}

interface CacheEntry {
  backend: string;
  timingsMs: Record<string, number>;
  at: string;
}
type Cache = Record<string, CacheEntry>;

function readCache(path: string): Cache {
  if (!existsSync(path)) return {};
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Cache;
  } catch {
    // fall through
  }
  process.emitWarning(`backend choice cache ${path} is not valid JSON; measuring again and replacing it`);
  return {};
}

async function runtimeVersions(candidates: readonly string[]): Promise<string> {
  const ort = candidates.includes('ort') ? (await loadOrt()).env.versions.common : '-';
  return `libtorch ${environmentInfo().libtorch} | ort ${ort}`;
}

export interface ChooseOptions {
  readonly batchSize?: number;
  readonly inputSize?: readonly [number, number];
  readonly threads?: number;
  readonly cacheFile?: string;
  readonly remeasure: boolean;
  readonly open: (backend: string) => Promise<InferenceModel>;
  /** Timed runs per candidate after one warm-up (default 3). */
  readonly reps?: number;
}

export async function chooseBackend(
  model: EfficientNet,
  candidates: readonly string[],
  precision: string,
  o: ChooseOptions,
): Promise<BackendChoice> {
  if (candidates.length === 0) throw new Error(`no available backend runs ${precision}`);
  if (candidates.length === 1) return { backend: candidates[0]!, precision, measured: false, reason: 'the only available backend' };
  const batch = o.batchSize ?? 1;
  const cfg = model.pretrainedCfg;
  const [h, w] = o.inputSize ?? ([cfg?.inputSize[1] ?? 224, cfg?.inputSize[2] ?? 224] as const);
  const threads = o.threads ?? getNumThreads();
  const specHash = createHash('sha256').update(JSON.stringify(model.spec)).digest('hex').slice(0, 16);
  const key = [
    `spec ${specHash}`,
    `batch ${batch}`,
    `input ${model.spec.inChans}x${h}x${w}`,
    `threads ${threads}`,
    `precision ${precision}`,
    // The SIMD flags decide which kernels oneDNN and ONNX Runtime pick (a VM may hide some of the host's).
    `cpu ${cpus()[0]?.model ?? '?'} x${cpus().length} ${environmentInfo().cpu.flags.join(',')}`,
    await runtimeVersions(candidates),
    `candidates ${candidates.join(',')}`,
  ].join(' | ');
  const file = o.cacheFile ?? backendCachePath();
  const cache = readCache(file);
  const hit = cache[key];
  if (hit && !o.remeasure && candidates.includes(hit.backend)) {
    return { backend: hit.backend, precision, measured: false, reason: `cached in ${file}`, timingsMs: hit.timingsMs };
  }
  const reps = o.reps ?? 3;
  const timings: Record<string, number> = {};
  for (const b of candidates) {
    const m = await o.open(b);
    try {
      const r = await measureInference(m, { batch, chans: model.spec.inChans, height: h, width: w, warmup: 1, iters: reps });
      timings[b] = r.latencyMs.p50;
    } finally {
      await m.dispose();
    }
  }
  const best = Object.entries(timings).sort((a, c) => a[1] - c[1])[0]![0];
  atomicWriteJson(file, { ...cache, [key]: { backend: best, timingsMs: timings, at: new Date().toISOString() } });
  const fmt = Object.entries(timings)
    .map(([b, t]) => `${b} ${t.toFixed(1)} ms`)
    .join(', ');
  return { backend: best, precision, measured: true, reason: `fastest at batch ${batch}, ${h}x${w}: ${fmt}`, timingsMs: timings };
}
