// How many libtorch threads a batch of one image gets. Every op of a small model at batch 1 is short,
// and the intra-op threads meet at a barrier after each: on a small machine one of them descheduled
// (a GC helper, the HTTP thread, another process) stalls the op for all. Measured on 2 vCPUs, b0 on
// torch-fused at 224: 2 threads p50 7.5 ms / p99 12.1 ms per call, 1 thread 7.1 / 8.5 ms. On a
// machine with many cores the opposite holds, so the server measures it once at startup: lone
// requests at concurrency 1 are what it decides, batches of two or more keep every thread.
// libtorch's thread count is process-wide; only the in-process libtorch backends are measured (ONNX
// Runtime's threads are fixed when its session is made).
import { getNumThreads, setNumThreads } from '../torch/index.js';
import type { InferenceModel } from '../models/index.js';

export interface LoneThreads {
  /** Threads for a batch of one image. */
  readonly lone: number;
  /** Threads for larger batches (the thread plan's). */
  readonly full: number;
  /** Mean ms per batch-1 call with `lone` and with `full` threads; null when nothing was measured. */
  readonly measured: { readonly loneMs: number; readonly fullMs: number } | null;
  readonly reason: string;
}

/** The in-process libtorch backends: their thread count is libtorch's. */
const LIBTORCH_BACKENDS = new Set(['torch', 'torch-fused']);

/** Time budget of the measurement; a model slower than SLOW_CALL_MS per image is not measured (its ops are long enough to share). */
const BUDGET_MS = 2_000;
const SLOW_CALL_MS = 250;

/**
 * Measure batch-1 calls with 1 thread and with all of them (interleaved rounds, so a burst of load
 * hits both alike) and keep 1 thread when its mean is not slower. `pinned` skips the measurement.
 */
export async function chooseLoneThreads(
  model: InferenceModel,
  inputSize: readonly [number, number, number],
  pinned?: number,
): Promise<LoneThreads> {
  const full = getNumThreads();
  const inProcess = LIBTORCH_BACKENDS.has(model.backend) && model.device === 'cpu';
  if (pinned !== undefined) {
    if (!Number.isInteger(pinned) || pinned < 1) throw new RangeError(`loneThreads must be a positive integer, got ${pinned}`);
    if (!inProcess && pinned !== full)
      throw new Error(`loneThreads: ${model.backend} fixes its threads when it is made; it cannot use ${pinned}`);
    return { lone: pinned, full, measured: null, reason: 'pinned' };
  }
  if (!inProcess || full === 1) {
    return { lone: full, full, measured: null, reason: inProcess ? 'one thread in all' : `${model.backend} keeps its own threads` };
  }
  const x = {
    data: new Float32Array(inputSize[0] * inputSize[1] * inputSize[2]),
    shape: [1, inputSize[0], inputSize[1], inputSize[2]] as const,
  };
  const call = async (): Promise<number> => {
    const t0 = performance.now();
    await model.run(x, 'logits');
    return performance.now() - t0;
  };
  try {
    setNumThreads(1);
    await call();
    const first1 = await call();
    setNumThreads(full);
    await call();
    const firstN = await call();
    const per = Math.max(first1, firstN);
    if (per > SLOW_CALL_MS) {
      return { lone: full, full, measured: null, reason: `a batch-1 call takes ${per.toFixed(0)} ms: long enough for every thread` };
    }
    const rounds = Math.max(2, Math.min(8, Math.floor(BUDGET_MS / (6 * (first1 + firstN)))));
    const t: Record<'one' | 'all', number[]> = { one: [], all: [] };
    for (let r = 0; r < rounds; r++) {
      for (const [k, n] of [
        ['one', 1],
        ['all', full],
      ] as const) {
        setNumThreads(n);
        for (let i = 0; i < 3; i++) t[k].push(await call());
      }
    }
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    const loneMs = mean(t.one);
    const fullMs = mean(t.all);
    const lone = loneMs <= fullMs ? 1 : full;
    return {
      lone,
      full,
      measured: { loneMs, fullMs },
      reason: `batch 1: ${loneMs.toFixed(1)} ms with 1 thread, ${fullMs.toFixed(1)} ms with ${full} (means of ${t.one.length} calls)`,
    };
  } finally {
    setNumThreads(full);
  }
}

/** Sets libtorch's thread count before each model call from the batch's size; a no-op when they agree. */
export function loneThreadSwitch(t: LoneThreads): ((batch: number) => void) | undefined {
  if (t.lone === t.full) return undefined;
  let current = t.full;
  return (batch) => {
    const want = batch === 1 ? t.lone : t.full;
    if (want === current) return;
    setNumThreads(want);
    current = want;
  };
}
