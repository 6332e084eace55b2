// Top-1/top-5 and mean cross-entropy of an InferenceModel on a labeled data set: what `validate`,
// the Noisy Student stages and `evaluate` score with, whichever backend runs the model.
import { fromTypedArray, noGrad, scope } from '../torch/index.js';
import { inferenceDataConfig } from './data_spec.js';
import { DataLoader, type DataConfig, type ImageDataset } from '../data/index.js';
import type { InferenceModel } from '../models/index.js';
import { accuracy } from './metrics.js';
import { throwIfAborted, type ProgressListener } from './events.js';
import type { EvalResult } from './loop.js';

export interface EvaluateModelOptions {
  /** Default: the model's own (its config.json). */
  readonly dataConfig?: DataConfig;
  readonly batchSize?: number;
  readonly workers?: number;
  readonly signal?: AbortSignal | undefined;
  readonly stage?: string;
  readonly onEvent?: ProgressListener | undefined;
}

export async function evaluateModel(model: InferenceModel, data: ImageDataset, o: EvaluateModelOptions = {}): Promise<EvalResult> {
  const config = o.dataConfig ?? inferenceDataConfig(model);
  const stage = o.stage ?? 'evaluate';
  const loader = new DataLoader(data, { batchSize: o.batchSize ?? 256, numWorkers: o.workers ?? 0, transform: { config } });
  let n = 0;
  let c1 = 0;
  let c5 = 0;
  let lossSum = 0;
  try {
    for await (const b of loader.epoch(0)) {
      throwIfAborted(o.signal, stage);
      const out = await model.run({ data: b.data, shape: b.shape }, 'logits');
      noGrad(() =>
        scope(() => {
          const logits = fromTypedArray(out.data, out.shape);
          const target = fromTypedArray(
            BigInt64Array.from(b.labels, (l) => BigInt(l)),
            [b.labels.length],
          );
          const k = Math.min(5, logits.shape[1]!);
          const [a1, a5] = accuracy(logits, target, [1, k]);
          const bn = b.labels.length;
          c1 += (a1! / 100) * bn;
          c5 += (a5! / 100) * bn;
          lossSum += logits.logSoftmax(1).gather(1, target.unsqueeze(1)).neg().sum().item();
          n += bn;
        }),
      );
      o.onEvent?.({ type: 'items', stage, done: n, total: data.length, unit: 'img' });
    }
  } finally {
    await loader.close();
  }
  return { top1: n ? c1 / n : 0, top5: n ? c5 / n : 0, loss: n ? lossSum / n : 0, n };
}
