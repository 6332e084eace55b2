// Calibration images for int8 (ONNX Runtime on a QDQ export, src/onnx/quantize.ts): N images of the
// user's own data, preprocessed exactly as the images the model will then see (the same DataConfig and
// DataLoader transform), taken evenly across the data set. Evenly strided rather than the first N: a
// class-sorted folder's first 64 images are one class, and activation ranges from one class clip others.
// Images that cannot be read are left out (the data set's own job reports them when it labels them).
import { DataLoader, type DataConfig, type ImageDataset } from '../data/index.js';
import type { EfficientNet } from '../models/index.js';
import type { CalibrationBatch, QuantizeOptions } from '../onnx/index.js';

export const DEFAULT_CALIBRATION_IMAGES = 64;
const CALIBRATION_BATCH = 16;

/** What int8 calibrates on: batches made for the model being quantized (its input config known only then). */
export interface Calibration {
  /** How many images (for the records and the pseudo-labels' key). */
  readonly images: number;
  /** Activation range method (calibrationFromDataset's default: percentile). */
  readonly method?: 'minmax' | 'percentile';
  readonly percentile?: number;
  /** A short description for the records: which data, which images. */
  readonly describe: Readonly<Record<string, unknown>>;
  batches(model: EfficientNet): AsyncIterable<CalibrationBatch>;
}

/** `count` evenly strided indices of [0, n): 0, n/count, 2n/count, ... (all of them when n <= count). */
export function calibrationIndices(n: number, count: number): number[] {
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`calibration images must be a positive integer, got ${count}`);
  const k = Math.min(n, count);
  return Array.from({ length: k }, (_, i) => Math.floor((i * n) / k));
}

/**
 * Calibration on `dataset`, each image preprocessed with `config` (or with the config the function
 * gives for the model being quantized, when the caller only knows it from the model).
 */
export function calibrationFromDataset(
  dataset: ImageDataset,
  config: DataConfig | ((model: EfficientNet) => DataConfig),
  o: { images?: number; method?: 'minmax' | 'percentile'; percentile?: number; describe?: Readonly<Record<string, unknown>> } = {},
): Calibration {
  const count = o.images ?? DEFAULT_CALIBRATION_IMAGES;
  // Percentile ranges by default: on a b0 trained on Fashion-MNIST at 64 px (bench/precision.ts),
  // minmax ranges cost 0.73 pt of top-1 against fp32, percentile (99.99) ranges 0.01 pt.
  const method = o.method ?? 'percentile';
  const indices = calibrationIndices(dataset.length, count);
  if (indices.length === 0) throw new RangeError('int8 calibration: the calibration data set has no images');
  return {
    images: indices.length,
    method,
    ...(o.percentile !== undefined ? { percentile: o.percentile } : {}),
    describe: { images: indices.length, of: dataset.length, pick: 'evenly strided', method, ...o.describe },
    async *batches(model: EfficientNet): AsyncIterable<CalibrationBatch> {
      const cfg = typeof config === 'function' ? config(model) : config;
      const loader = new DataLoader(dataset, { batchSize: CALIBRATION_BATCH, numWorkers: 0, transform: { config: cfg } });
      let got = 0;
      try {
        for (let b = 0; b < indices.length; b += CALIBRATION_BATCH) {
          const r = await loader.fetch(0, b, indices.slice(b, b + CALIBRATION_BATCH));
          if (r.indices.length === 0) continue;
          got += r.indices.length;
          const [n, c, h, w] = r.shape as [number, number, number, number];
          yield { data: r.data, dims: [n, c, h, w] };
        }
      } finally {
        await loader.close();
      }
      if (got === 0) throw new Error(`int8 calibration: none of the ${indices.length} calibration images could be read`);
    },
  };
}

/** The exporter's quantize options for `model` calibrated on `calibration` (its batches, range method and percentile). */
export function quantizeOptions(calibration: Calibration, model: EfficientNet): QuantizeOptions {
  return {
    calibration: () => calibration.batches(model),
    ...(calibration.method ? { method: calibration.method } : {}),
    ...(calibration.percentile !== undefined ? { percentile: calibration.percentile } : {}),
  };
}
