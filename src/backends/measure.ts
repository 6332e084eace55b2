// Timing one InferenceModel on a fixed random batch: warm-up runs, then timed runs, their latency
// percentiles and the throughput at the median. What `benchmark` and `auto` measure.
import type { Calibration } from './calibration.js';
import type { InferenceModel } from '../models/index.js';

export interface LatencyStats {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

export interface Measurement {
  readonly latencyMs: LatencyStats;
  /** Images per second at the median latency. */
  readonly imgPerSec: number;
  readonly iters: number;
}

/** The q-quantile of sorted values, by linear interpolation between the closest ranks (numpy's default). */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('quantile of no values');
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** A deterministic pseudo-random [batch, C, H, W] batch: speed depends on the shape, not the values. */
export function randomBatch(
  batch: number,
  chans: number,
  h: number,
  w: number,
): { data: Float32Array; shape: [number, number, number, number] } {
  const data = new Float32Array(batch * chans * h * w);
  let s = 12345;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = s / 2 ** 32 - 0.5;
  }
  return { data, shape: [batch, chans, h, w] };
}

export async function measureInference(
  model: InferenceModel,
  o: { batch: number; height: number; width: number; chans: number; warmup: number; iters: number },
): Promise<Measurement> {
  if (!Number.isInteger(o.iters) || o.iters < 1) throw new RangeError(`iters must be a positive integer, got ${o.iters}`);
  const input = randomBatch(o.batch, o.chans, o.height, o.width);
  for (let i = 0; i < o.warmup; i++) await model.run(input);
  const runs: number[] = [];
  for (let i = 0; i < o.iters; i++) {
    const t0 = process.hrtime.bigint();
    await model.run(input);
    runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  runs.sort((a, b) => a - b);
  const latencyMs = { p50: quantile(runs, 0.5), p90: quantile(runs, 0.9), p99: quantile(runs, 0.99) };
  return { latencyMs, imgPerSec: (o.batch * 1000) / latencyMs.p50, iters: o.iters };
}

/** int8 calibration on `images` random inputs (randomBatch's): for speed measurements, where the ranges do not matter. */
export function randomCalibration(images: number, chans: number, h: number, w: number): Calibration {
  return {
    images,
    describe: { data: 'random inputs', images },
    async *batches() {
      const { data, shape } = randomBatch(images, chans, h, w);
      yield { data, dims: shape };
    },
  };
}
