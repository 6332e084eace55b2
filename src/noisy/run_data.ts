// The data of a Noisy Student run, resolved from its config: the labeled split, the unlabeled
// images (with their true labels when they are the rest of a labeled set), the test set and the
// data config every stage shares. The pipeline and `evaluate` resolve it the same way.
import { flatFolder, labeledSplit, subset, type DataConfig, type ImageDataset } from '../data/index.js';
import { resolveDataSpec, specDataConfig } from '../train/data_spec.js';
import type { NoisyStudentConfig } from './config.js';

export interface RunData {
  classes: readonly string[];
  labeled: ImageDataset;
  unlabeled: ImageDataset;
  /** True label of unlabeled image `id` when known (the unlabeled rest of a labeled set). */
  trueLabel: ((id: number) => number | undefined) | null;
  test: ImageDataset;
  /** The first `curveEvalLimit` test images, evaluated after each epoch for the curves. */
  curveSet: ImageDataset;
  dataConfig: DataConfig;
  inChans: number;
  imgSize: number;
}

/** The first `n` images of a data set (all of them when it has fewer). */
export const firstN = (ds: ImageDataset, n: number): ImageDataset =>
  subset(
    ds,
    Array.from({ length: Math.min(n, ds.length) }, (_, i) => i),
  );

export function resolveRunData(cfg: NoisyStudentConfig): RunData {
  const data = resolveDataSpec(cfg.labeled.data);
  const classes = data.classes;
  if (!classes) throw new Error(`labeled data ${cfg.labeled.data} has no classes`);
  const ds = data.dataset;
  const split = cfg.labeled.perClass ? labeledSplit(ds, cfg.labeled.perClass, cfg.seed) : null;
  const labeled = split ? subset(ds, split.labeled) : ds;
  let unlabeled: ImageDataset;
  let trueLabel: RunData['trueLabel'] = null;
  if (cfg.unlabeled.data === 'rest') {
    if (!split) throw new Error("unlabeled.data 'rest' needs labeled.perClass (the rest of the labeled set)");
    const ids = cfg.unlabeled.limit ? split.unlabeled.subarray(0, cfg.unlabeled.limit) : split.unlabeled;
    unlabeled = subset(ds, ids);
    trueLabel = (id) => ds.label(ids[id]!);
  } else {
    const f = flatFolder(cfg.unlabeled.data);
    unlabeled = cfg.unlabeled.limit ? firstN(f, cfg.unlabeled.limit) : f;
  }
  const testFull = cfg.test.data === 'default' ? (data.defaultVal?.() ?? null) : resolveDataSpec(cfg.test.data).dataset;
  if (!testFull) throw new Error(`no test set: give test.data (the labeled data ${cfg.labeled.data} has no held-out split)`);
  const test = cfg.test.limit ? firstN(testFull, cfg.test.limit) : testFull;
  const dataConfig = specDataConfig(data.defaults, {
    ...(cfg.inChans !== undefined ? { inChans: cfg.inChans } : {}),
    ...(cfg.imgSize !== undefined ? { imgSize: cfg.imgSize } : {}),
  });
  const [inChans, imgSize] = dataConfig.inputSize;
  return { classes, labeled, unlabeled, trueLabel, test, curveSet: firstN(test, cfg.curveEvalLimit), dataConfig, inChans, imgSize };
}
