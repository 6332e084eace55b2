// `--data` specs: 'fashion-mnist' (Debian's dataset-fashion-mnist; ':train' / ':test' picks the
// split), a folder of class sub-folders (ImageFolder), or a .csv / .jsonl list of (path, label).
import { existsSync, statSync } from 'node:fs';
import { fashionMnist, imageFolder, imageList, resolveDataConfig, type DataConfig, type ImageDataset } from '../data/index.js';

export interface ResolvedData {
  readonly dataset: ImageDataset;
  readonly classes: readonly string[] | null;
  /** The held-out split that goes with a built-in set (Fashion-MNIST's test split), if any. */
  readonly defaultVal: (() => ImageDataset) | null;
  /** Data-config defaults for built-in sets (channels, size, mean/std). */
  readonly defaults: { inChans: number; imgSize: number; mean: number[]; std: number[] } | null;
}

// Fashion-MNIST statistics over the train split (pixel/255).
const FMNIST_DEFAULTS = { inChans: 1, imgSize: 32, mean: [0.286], std: [0.353] };

export function resolveDataSpec(spec: string): ResolvedData {
  const m = /^fashion-mnist(?::(train|test))?$/.exec(spec);
  if (m) {
    const split = (m[1] ?? 'train') as 'train' | 'test';
    const ds = fashionMnist(split);
    return {
      dataset: ds,
      classes: ds.classes,
      defaultVal: split === 'train' ? () => fashionMnist('test') : null,
      defaults: FMNIST_DEFAULTS,
    };
  }
  if (!existsSync(spec)) throw new Error(`--data ${spec}: no such file or folder (or use 'fashion-mnist')`);
  if (statSync(spec).isDirectory()) {
    const ds = imageFolder(spec);
    return { dataset: ds, classes: ds.classes, defaultVal: null, defaults: null };
  }
  if (/\.(csv|jsonl)$/i.test(spec)) {
    const ds = imageList(spec);
    return { dataset: ds, classes: ds.classes, defaultVal: null, defaults: null };
  }
  throw new Error(`--data ${spec}: expected 'fashion-mnist', a folder of class folders, or a .csv/.jsonl list`);
}

/**
 * The data config for training on a spec without a model's pretrained cfg: the built-in set's
 * channels, size and statistics (overridable), the whole image (crop_pct 1), bicubic.
 */
export function specDataConfig(defaults: ResolvedData['defaults'], o: { inChans?: number; imgSize?: number } = {}): DataConfig {
  const inChans = o.inChans ?? defaults?.inChans ?? 3;
  const imgSize = o.imgSize ?? defaults?.imgSize ?? 224;
  return resolveDataConfig({
    inputSize: [inChans, imgSize, imgSize],
    ...(defaults ? { mean: defaults.mean, std: defaults.std } : {}),
    cropPct: 1,
    interpolation: 'bicubic',
  });
}
