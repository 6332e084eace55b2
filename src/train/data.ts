// From datasets to training batches: a DataLoader's Float32Array batches become tensors on the main
// thread (workers cannot hold libtorch tensors), labels become int64 targets.
import { fromTypedArray, type Tensor } from '../torch/index.js';
import type { BatchResult, DataLoader } from '../data/index.js';
import type { TrainBatch } from './loop.js';

/** A loader batch as tensors: x [N, C, H, W] float32, target [N] int64. */
export function batchToTensors(r: BatchResult): { x: Tensor; target: Tensor } {
  const x = fromTypedArray(r.data, r.shape);
  const target = fromTypedArray(
    BigInt64Array.from(r.labels, (l) => BigInt(l)),
    [r.labels.length],
  );
  return { x, target };
}

/** fit()'s trainBatches over a DataLoader (shuffled per epoch by its seed, resumable by batch). */
export function loaderBatches(loader: DataLoader): (epoch: number, startBatch: number) => AsyncIterable<TrainBatch> {
  return async function* (epoch, startBatch) {
    for await (const r of loader.epoch(epoch, startBatch)) yield batchToTensors(r);
  };
}
