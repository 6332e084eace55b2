// Real images for the int8 checks: Fashion-MNIST (Debian's dataset-fashion-mnist) 28x28 grey images
// upsampled (nearest, 8x) to 224x224, replicated to RGB and normalised with the model's mean/std.
// Not ImageNet, but real photographs' statistics (flat backgrounds, edges), which random inputs lack.
import { fashionMnist } from '../../src/data/datasets/fashion_mnist.js';

export const SIZE = 224;

export function fashionInputs(
  split: 'train' | 'test',
  start: number,
  n: number,
  mean: readonly number[],
  std: readonly number[],
): Float32Array {
  const ds = fashionMnist(split);
  const scale = SIZE / ds.rows;
  const plane = SIZE * SIZE;
  const out = new Float32Array(n * 3 * plane);
  for (let k = 0; k < n; k++) {
    const px = ds.pixels.subarray((start + k) * ds.rows * ds.cols);
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        const v = px[Math.floor(y / scale) * ds.cols + Math.floor(x / scale)]! / 255;
        for (let c = 0; c < 3; c++) out[(k * 3 + c) * plane + y * SIZE + x] = (v - mean[c]!) / std[c]!;
      }
    }
  }
  return out;
}

export function argmaxRows(a: Float32Array, classes: number): number[] {
  const rows: number[] = [];
  for (let off = 0; off < a.length; off += classes) {
    let best = 0;
    for (let i = 1; i < classes; i++) if (a[off + i]! > a[off + best]!) best = i;
    rows.push(best);
  }
  return rows;
}
