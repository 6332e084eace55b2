// Top-1/top-5 and mean cross-entropy of an InferenceModel on a labeled data set: what `validate`,
// the Noisy Student stages and `evaluate` score with, whichever backend runs the model.
import { fromTypedArray, noGrad, scope } from '../torch/index.js';
import { inferenceDataConfig } from './data_spec.js';
import { DataLoader, type DataConfig, type ImageDataset, type SampleError } from '../data/index.js';
import type { InferenceModel } from '../models/index.js';
import { throwIfAborted, type ProgressListener } from './events.js';
import { ClassificationScore, type EvalResult } from './loop.js';

export interface EvaluateModelOptions {
  /** Default: the model's own (its config.json). */
  readonly dataConfig?: DataConfig;
  readonly batchSize?: number;
  readonly workers?: number;
  readonly signal?: AbortSignal | undefined;
  readonly stage?: string;
  readonly onEvent?: ProgressListener | undefined;
  /** Each image that could not be read (left out of the score); may throw to stop (--max-skipped). */
  readonly onSampleError?: ((e: SampleError) => void) | undefined;
  /** Each batch's logits ([n, classes], row-major) with its labels: for tallies beyond top-k (a confusion matrix). */
  readonly onLogits?: ((logits: Float32Array, labels: ArrayLike<number>) => void) | undefined;
}

export async function evaluateModel(model: InferenceModel, data: ImageDataset, o: EvaluateModelOptions = {}): Promise<EvalResult> {
  const config = o.dataConfig ?? inferenceDataConfig(model);
  const stage = o.stage ?? 'evaluate';
  const loader = new DataLoader(data, {
    batchSize: o.batchSize ?? 256,
    numWorkers: o.workers ?? 0,
    transform: { config },
    ...(o.onSampleError ? { onSampleError: o.onSampleError } : {}),
  });
  const score = new ClassificationScore();
  try {
    for await (const b of loader.epoch(0)) {
      throwIfAborted(o.signal, stage);
      const out = await model.run({ data: b.data, shape: b.shape }, 'logits');
      o.onLogits?.(out.data, b.labels);
      noGrad(() =>
        scope(() =>
          score.add(
            fromTypedArray(out.data, out.shape),
            fromTypedArray(
              BigInt64Array.from(b.labels, (l) => BigInt(l)),
              [b.labels.length],
            ),
          ),
        ),
      );
      o.onEvent?.({ type: 'items', stage, done: score.count, total: data.length, unit: 'img' });
    }
  } finally {
    await loader.close();
  }
  return score.result();
}
