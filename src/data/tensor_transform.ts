// The public createTransform: timm's transform producing a libtorch tensor [C, H, W] (float32), as
// `transform(img).unsqueeze(0)` in the seed's example expects. The array form (no engine involved,
// used by worker threads) is createArrayTransform.
import { fromTypedArray, type Tensor } from '../torch/index.js';
import type { FloatCHW } from './image.js';
import type { DataConfig } from './data_config.js';
import { createTransform as createArrayTransform, type CreateTransformOptions, type Transform } from './transforms_factory.js';

/** A CHW float array as a [C, H, W] float32 tensor (copies). */
export function toTensor(x: FloatCHW): Tensor {
  return fromTypedArray(x.data, [...x.shape]);
}

/** A batch of CHW arrays (same shape) as one [N, C, H, W] tensor. */
export function batchToTensor(xs: readonly FloatCHW[]): Tensor {
  if (xs.length === 0) throw new Error('batchToTensor: empty batch');
  const [c, h, w] = xs[0]!.shape;
  const n = c * h * w;
  const out = new Float32Array(xs.length * n);
  xs.forEach((x, i) => {
    if (x.data.length !== n) throw new Error(`batchToTensor: sample ${i} has shape [${x.shape.join(', ')}], expected [${c}, ${h}, ${w}]`);
    out.set(x.data, i * n);
  });
  return fromTypedArray(out, [xs.length, c, h, w]);
}

/** timm's create_transform: ImageU8 in, [C, H, W] float32 tensor out. */
export function createTransform(config: DataConfig, opts: Omit<CreateTransformOptions<Tensor>, 'finalize'> = {}): Transform<Tensor> {
  return createArrayTransform(config, { ...opts, finalize: toTensor });
}
