// The dataset contract shared by every source: a random-access list of samples, each either a file
// to decode or an image already in memory, with an integer label (-1 when unlabeled). Samples are
// described by plain data (SampleSource) so a loader can hand them to worker threads.
import type { ImageU8 } from '../image.js';
import { type LoadImageOptions, loadImage } from '../image_io.js';

export type SampleSource = { readonly kind: 'file'; readonly path: string } | { readonly kind: 'image'; readonly image: ImageU8 };

export const UNLABELED = -1;

export interface ImageDataset {
  readonly length: number;
  /** Class names by label index, or null for unlabeled datasets. */
  readonly classes: readonly string[] | null;
  /** Label of sample `index`, UNLABELED (-1) when it has none. */
  label(index: number): number;
  source(index: number): SampleSource;
}

export class DatasetError extends Error {
  readonly code = 'E_DATASET';
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

export function checkIndex(ds: { readonly length: number }, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= ds.length) {
    throw new RangeError(`sample index ${index} out of range [0, ${ds.length})`);
  }
}

/** Decode (or return) the image of one sample. */
export async function loadSample(source: SampleSource, opts?: LoadImageOptions): Promise<ImageU8> {
  return source.kind === 'file' ? loadImage(source.path, opts) : source.image;
}

/** A view of `ds` restricted to `indices` (in that order). */
export function subset(ds: ImageDataset, indices: ArrayLike<number>): ImageDataset {
  const idx = Int32Array.from(indices as ArrayLike<number>);
  for (const i of idx) checkIndex(ds, i);
  return {
    length: idx.length,
    classes: ds.classes,
    label: (i) => {
      checkIndex({ length: idx.length }, i);
      return ds.label(idx[i]!);
    },
    source: (i) => {
      checkIndex({ length: idx.length }, i);
      return ds.source(idx[i]!);
    },
  };
}

/** The same samples with their labels hidden (e.g. the unlabeled part of a split). */
export function withoutLabels(ds: ImageDataset): ImageDataset {
  return { length: ds.length, classes: null, label: () => UNLABELED, source: (i) => ds.source(i) };
}

/** A dataset of image files with integer labels (ImageFolder and list files share it). */
export interface FileDataset extends ImageDataset {
  readonly paths: readonly string[];
  readonly labels: Int32Array;
}

export function fileDataset(paths: readonly string[], labels: Int32Array, classes: readonly string[] | null): FileDataset {
  return {
    length: paths.length,
    classes,
    paths,
    labels,
    label(i) {
      checkIndex(this, i);
      return labels[i]!;
    },
    source(i): SampleSource {
      checkIndex(this, i);
      return { kind: 'file', path: paths[i]! };
    },
  };
}
