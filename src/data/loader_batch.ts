// One batch of work, shared by the in-thread path and the worker threads: decode each sample, run the
// transform with the sample's own Rng (seed, epoch, dataset index), pack CHW floats back to back.
// Corrupt samples are skipped and reported, so a batch can come back smaller than requested.
import { Rng } from './rng.js';
import type { DataConfig } from './data_config.js';
import type { ImageU8 } from './image.js';
import { type LoadImageOptions, ImageDecodeError, loadImage } from './image_io.js';
import type { SampleSource } from './datasets/dataset.js';
import type { DecodeBudget } from './decode_budget.js';
import { type TrainTransformOptions, createTransform } from './transforms_factory.js';

/** Plain-data transform description (functions cannot cross to worker threads). */
export interface TransformSpec {
  readonly config: DataConfig;
  readonly isTraining?: boolean;
  readonly train?: TrainTransformOptions;
}

export interface BatchRequest {
  readonly batch: number;
  readonly epoch: number;
  readonly seed: number;
  readonly indices: readonly number[];
  readonly labels: readonly number[];
  readonly sources: readonly SampleSource[];
}

export interface SampleError {
  readonly index: number;
  readonly path: string | null;
  readonly message: string;
}

export interface BatchResult {
  readonly batch: number;
  /** N x C x H x W float32, N = indices.length. */
  readonly data: Float32Array;
  readonly shape: [number, number, number, number];
  readonly indices: Int32Array;
  readonly labels: Int32Array;
  readonly errors: readonly SampleError[];
}

/**
 * The batch function. Each sample's read and decode start while the previous sample is being
 * transformed (the decode runs on the libuv pool, the transform on this thread: without the overlap
 * a worker thread sat idle ~60% of the time, measured), so at most two decoded images are alive per
 * running batch; `budget`, when given, bounds the bytes of decodes in flight across all running
 * batches.
 */
export function makeBatchRunner(
  spec: TransformSpec,
  decode: LoadImageOptions = {},
  budget?: DecodeBudget,
): (req: BatchRequest) => Promise<BatchResult> {
  const transform = createTransform(spec.config, { ...spec.train, isTraining: spec.isTraining === true });
  const [c, h, w] = spec.config.inputSize;
  const per = c * h * w;
  return async (req) => {
    // Each sample is converted straight into its slot of the batch buffer (no per-sample arrays);
    // a skipped sample's slot is reused by the next one.
    const data = new Float32Array(req.indices.length * per);
    const idx: number[] = [];
    const lab: number[] = [];
    const errors: SampleError[] = [];
    const load = (k: number): Promise<ImageU8> => {
      const src = req.sources[k]!;
      const p = src.kind === 'file' ? loadImage(src.path, decode, budget) : Promise.resolve(src.image);
      p.catch(() => undefined); // awaited (and reported) in its turn below
      return p;
    };
    let next = req.indices.length > 0 ? load(0) : null;
    for (let k = 0; k < req.indices.length; k++) {
      const index = req.indices[k]!;
      const src = req.sources[k]!;
      const current = next!;
      next = k + 1 < req.indices.length ? load(k + 1) : null;
      try {
        const img = await current;
        const slot = data.subarray(idx.length * per, (idx.length + 1) * per);
        const x = transform.toFloatInto(img, Rng.forSample(req.seed, req.epoch, index), slot);
        if (x.data.length !== per || x.shape[0] !== c || x.shape[1] !== h || x.shape[2] !== w)
          throw new RangeError(`transform gave [${x.shape.join(', ')}], expected [${c}, ${h}, ${w}]`);
        idx.push(index);
        lab.push(req.labels[k]!);
      } catch (e) {
        const message = e instanceof ImageDecodeError ? e.message : `${(e as Error).name}: ${(e as Error).message}`;
        errors.push({ index, path: src.kind === 'file' ? src.path : null, message });
      }
    }
    const n = idx.length;
    return {
      batch: req.batch,
      data: n === req.indices.length ? data : data.slice(0, n * per),
      shape: [n, c, h, w],
      indices: Int32Array.from(idx),
      labels: Int32Array.from(lab),
      errors,
    };
  };
}
