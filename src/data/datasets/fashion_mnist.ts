// Fashion-MNIST from the gzip IDX files of Debian's `dataset-fashion-mnist` package
// (/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz).
// Samples are 28x28 one-channel ImageU8 views into one buffer (no copy per sample): a transform with
// inputSize [1, 32, 32] resizes/pads them for the demo's 1-channel 32x32 model, and a 3-channel
// model gets them replicated to RGB by the transform's channel step.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { ImageU8 } from '../image.js';
import { DatasetError, type ImageDataset, type SampleSource, checkIndex } from './dataset.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

export interface FashionMnistDataset extends ImageDataset {
  readonly classes: readonly string[];
  readonly split: 'train' | 'test';
  /** All pixels, N x 28 x 28 row-major. */
  readonly pixels: Uint8Array;
  readonly labels: Uint8Array;
  readonly rows: number;
  readonly cols: number;
}

function readIdx(path: string, magic: number, dims: number): { shape: number[]; data: Uint8Array } {
  if (!existsSync(path)) {
    throw new DatasetError(
      `Fashion-MNIST file ${path} is missing: install the Debian package (apt-get install dataset-fashion-mnist) ` +
        'or pass { dir } pointing at a folder with the four *-ubyte.gz files',
    );
  }
  let buf: Buffer;
  try {
    buf = gunzipSync(readFileSync(path));
  } catch (e) {
    throw new DatasetError(`Fashion-MNIST file ${path} is not valid gzip: ${(e as Error).message}`);
  }
  if (buf.length < 4 + 4 * dims || buf.readUInt32BE(0) !== magic) {
    throw new DatasetError(
      `${path}: bad IDX magic 0x${buf.length >= 4 ? buf.readUInt32BE(0).toString(16) : '?'} (expected 0x${magic.toString(16).padStart(8, '0')})`,
    );
  }
  const shape: number[] = [];
  for (let i = 0; i < dims; i++) shape.push(buf.readUInt32BE(4 + 4 * i));
  const n = shape.reduce((a, b) => a * b, 1);
  const off = 4 + 4 * dims;
  if (buf.length !== off + n)
    throw new DatasetError(`${path}: IDX header says ${shape.join('x')} (${n} bytes) but the file has ${buf.length - off}`);
  return { shape, data: new Uint8Array(buf.buffer, buf.byteOffset + off, n) };
}

export function fashionMnist(split: 'train' | 'test', opts: { readonly dir?: string } = {}): FashionMnistDataset {
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  const prefix = split === 'train' ? 'train' : 't10k';
  const images = readIdx(join(dir, `${prefix}-images-idx3-ubyte.gz`), 0x00000803, 3);
  const labels = readIdx(join(dir, `${prefix}-labels-idx1-ubyte.gz`), 0x00000801, 1);
  const [n, rows, cols] = images.shape as [number, number, number];
  if (labels.shape[0] !== n) throw new DatasetError(`Fashion-MNIST ${split}: ${n} images but ${labels.shape[0]} labels`);
  for (let i = 0; i < n; i++) {
    if (labels.data[i]! >= FASHION_MNIST_CLASSES.length)
      throw new DatasetError(`Fashion-MNIST ${split}: label ${labels.data[i]} at ${i} is out of range`);
  }
  const px = rows * cols;
  return {
    length: n,
    classes: FASHION_MNIST_CLASSES,
    split,
    pixels: images.data,
    labels: labels.data,
    rows,
    cols,
    label(i) {
      checkIndex(this, i);
      return labels.data[i]!;
    },
    source(i): SampleSource {
      checkIndex(this, i);
      const image: ImageU8 = { width: cols, height: rows, channels: 1, data: images.data.subarray(i * px, (i + 1) * px) };
      return { kind: 'image', image };
    },
  };
}
