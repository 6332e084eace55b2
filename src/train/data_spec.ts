// The one place where a data spec becomes datasets and a data config. `--data` specs:
// 'fashion-mnist' (Debian's dataset-fashion-mnist; ':train' / ':test' picks the split), a folder of
// class sub-folders (ImageFolder), a .csv / .jsonl list of (path, label), or, for unlabeled images,
// a folder of images. train, validate, pseudo-label, student, evaluate and `run` all resolve their
// data here, so the same spec and options always give the same images, and the same content key.
//
// Keys hold no paths: a built-in set is keyed by its name and split, files by their paths relative
// to the data root with their sizes (and labels). A run moved to another folder, or a data folder
// mounted elsewhere, keeps its keys; a changed file changes them.
import { existsSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import {
  fashionMnist,
  flatFolder,
  imageFolder,
  imageList,
  labeledSplit,
  mapClassesByName,
  resolveDataConfig,
  subset,
  type DataConfig,
  type ImageDataset,
  type ImageFolderDataset,
  type ImageListDataset,
  type PretrainedCfgLike,
} from '../data/index.js';

/** Data-config defaults of a built-in set (channels, size, normalisation). */
export interface DataDefaults {
  readonly inChans: number;
  readonly imgSize: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export interface ResolvedData {
  readonly dataset: ImageDataset;
  readonly classes: readonly string[] | null;
  /** The held-out split that goes with a built-in set (Fashion-MNIST's test split), if any. */
  readonly defaultVal: (() => ImageDataset) | null;
  /** The spec of that held-out split, for keys. */
  readonly defaultValSpec: string | null;
  readonly defaults: DataDefaults | null;
  /** What the images are, without paths (see the file comment). */
  readonly key: Readonly<Record<string, unknown>>;
  /** Warnings for the user about the set (empty class folders, ignored non-image files). */
  readonly notes: readonly string[];
}

// Fashion-MNIST statistics over the train split (pixel/255).
const FMNIST_DEFAULTS: DataDefaults = { inChans: 1, imgSize: 32, mean: [0.286], std: [0.353] };
const BUILT_IN = /^fashion-mnist(?::(train|test))?$/;

export const isBuiltInSpec = (spec: string): boolean => BUILT_IN.test(spec);

/** Paths relative to `root` with sizes and labels, hashed: a folder's identity wherever it is mounted. */
function filesKey(root: string, paths: readonly string[], label: (i: number) => number, classes: readonly string[] | null) {
  const h = createHash('sha256');
  paths.forEach((p, i) => h.update(`${relative(root, p)}\0${statSync(p).size}\0${label(i)}\n`));
  return { files: paths.length, digest: h.digest('hex').slice(0, 16), ...(classes ? { classes } : {}) };
}

export function resolveDataSpec(spec: string): ResolvedData {
  const m = BUILT_IN.exec(spec);
  if (m) {
    const split = (m[1] ?? 'train') as 'train' | 'test';
    const ds = fashionMnist(split);
    return {
      dataset: ds,
      classes: ds.classes,
      defaultVal: split === 'train' ? () => fashionMnist('test') : null,
      defaultValSpec: split === 'train' ? 'fashion-mnist:test' : null,
      defaults: FMNIST_DEFAULTS,
      key: { set: 'fashion-mnist', split },
      notes: [],
    };
  }
  if (!existsSync(spec)) throw new Error(`data ${spec}: no such file or folder (or use 'fashion-mnist')`);
  // A folder of class folders, or a list file whose paths are relative to its own folder.
  const fromFiles = (ds: ImageFolderDataset | ImageListDataset, root: string): ResolvedData => ({
    dataset: ds,
    classes: ds.classes,
    defaultVal: null,
    defaultValSpec: null,
    defaults: null,
    key: filesKey(root, ds.paths, (i) => ds.label(i), ds.classes),
    notes: 'ignoredFiles' in ds ? folderNotes(spec, ds) : [],
  });
  if (statSync(spec).isDirectory()) return fromFiles(imageFolder(spec), resolve(spec));
  if (/\.(csv|jsonl)$/i.test(spec)) return fromFiles(imageList(spec), dirname(resolve(spec)));
  throw new Error(`data ${spec}: expected 'fashion-mnist', a folder of class folders, or a .csv/.jsonl list`);
}

const firstNames = (names: readonly string[], n = 5): string =>
  names.slice(0, n).join(', ') + (names.length > n ? `, ... (${names.length - n} more)` : '');

/** What a user should hear about a folder: class folders without images, files that are not images. */
function folderNotes(spec: string, ds: { readonly emptyClasses?: readonly string[]; readonly ignoredFiles: readonly string[] }): string[] {
  const notes: string[] = [];
  const empty = ds.emptyClasses ?? [];
  if (empty.length > 0)
    notes.push(
      `data ${spec}: ${empty.length} empty class folder(s) (no images): ${firstNames(empty)}; ` +
        'each keeps its class index (the classes after it are not renumbered) but has nothing to train or score on',
    );
  const ign = ds.ignoredFiles;
  if (ign.length > 0) notes.push(`data ${spec}: ignored ${ign.length} non-image file(s): ${firstNames(ign)}`);
  return notes;
}

/**
 * `sel` with its labels in the indices of `classes` (a model's label_names), matched by name: a
 * class the model does not have is an error naming it, a class of the model without images is a
 * note. Without names on either side the set is returned as it is (indices are all there is).
 */
export function mapSelectedClasses(sel: SelectedData, classes: readonly string[] | null | undefined, what: string): SelectedData {
  if (!classes || !sel.classes) return sel;
  const m = mapClassesByName(sel.dataset, classes, what);
  const notes = [...sel.notes];
  if (m.missing.length > 0)
    notes.push(
      `${what}: no images of ${m.missing.length} of the model's ${classes.length} classes: ${firstNames(m.missing)} ` +
        '(the score covers the classes it has)',
    );
  if (m.dataset === sel.dataset) return notes.length === sel.notes.length ? sel : { ...sel, notes };
  const ds = m.dataset;
  return {
    ...sel,
    dataset: ds,
    classes,
    trueLabel: sel.trueLabel ? (i) => ds.label(i) : null,
    key: { ...sel.key, classesAs: classes },
    notes,
  };
}

/** The first `n` images of a data set (all of them when it has fewer). */
export function firstN(ds: ImageDataset, n: number | undefined): ImageDataset {
  if (n === undefined || n >= ds.length) return ds;
  return subset(
    ds,
    Array.from({ length: n }, (_, i) => i),
  );
}

export interface DataSelection {
  readonly spec: string;
  /** Split a labeled set by seed: N labeled images per class, the rest unlabeled. */
  readonly labelsPerClass?: number | undefined;
  /** Which part: the whole set (default), the labeled split, or the rest ('unlabeled'). */
  readonly part?: 'all' | 'labeled' | 'unlabeled';
  readonly seed?: number;
  /** Keep the first N images (after the split). */
  readonly limit?: number | undefined;
}

export interface SelectedData {
  readonly dataset: ImageDataset;
  readonly classes: readonly string[] | null;
  readonly defaults: DataDefaults | null;
  /** True label of image `i` when known (the unlabeled rest of a labeled set keeps them for scoring). */
  readonly trueLabel: ((i: number) => number) | null;
  readonly key: Readonly<Record<string, unknown>>;
  readonly resolved: ResolvedData | null;
  /** Warnings for the user about the set (ResolvedData.notes, class mapping). */
  readonly notes: readonly string[];
}

/**
 * Images for a stage. 'unlabeled' is the rest of a labeled set after its labeled split when
 * `labelsPerClass` is given (or the spec is a built-in set), otherwise a plain folder of images.
 */
export function selectData(sel: DataSelection): SelectedData {
  const part = sel.part ?? 'all';
  const seed = sel.seed ?? 0;
  const splitKey = sel.labelsPerClass ? { labelsPerClass: sel.labelsPerClass, seed } : {};
  const limitKey = sel.limit !== undefined ? { limit: sel.limit } : {};
  if (part === 'unlabeled' && !sel.labelsPerClass && !isBuiltInSpec(sel.spec)) {
    const f = flatFolder(sel.spec);
    const ds = firstN(f, sel.limit);
    return {
      dataset: ds,
      classes: null,
      defaults: null,
      trueLabel: null,
      key: { ...filesKey(resolve(sel.spec), f.paths, () => -1, null), part, ...limitKey },
      resolved: null,
      notes: folderNotes(sel.spec, f),
    };
  }
  const r = resolveDataSpec(sel.spec);
  let ds = r.dataset;
  if (sel.labelsPerClass) {
    const split = labeledSplit(ds, sel.labelsPerClass, seed);
    if (part !== 'all') ds = subset(ds, part === 'labeled' ? split.labeled : split.unlabeled);
  } else if (part === 'labeled') throw new Error(`data ${sel.spec}: the labeled part needs labelsPerClass`);
  const base = firstN(ds, sel.limit);
  return {
    dataset: base,
    classes: r.classes,
    defaults: r.defaults,
    // The rest of a labeled set keeps its true labels for scoring (a list without class names may not have them).
    trueLabel: part !== 'unlabeled' || r.classes ? (i) => base.label(i) : null,
    key: { ...r.key, part, ...splitKey, ...limitKey },
    resolved: r,
    notes: r.notes,
  };
}

export interface DataConfigOverrides {
  readonly inChans?: number | undefined;
  readonly imgSize?: number | undefined;
}

/**
 * The data config a model trains with: its pretrained cfg (timm's interpolation, crop), overridden
 * by a built-in set's channels, size and statistics (the whole image: crop_pct 1), then by explicit
 * sizes. The trainer saves it as the model folder's config.json, so evaluation and pseudo-labelling
 * read it back from there (inferenceDataConfig).
 */
export function trainingDataConfig(
  model: { readonly pretrainedCfg?: PretrainedCfgLike | null } | null,
  defaults: DataDefaults | null,
  o: DataConfigOverrides = {},
): DataConfig {
  const modelChans = (model?.pretrainedCfg?.inputSize as readonly number[] | undefined)?.[0];
  const inChans = o.inChans ?? defaults?.inChans ?? modelChans ?? 3;
  const imgSize = o.imgSize ?? defaults?.imgSize;
  return resolveDataConfig(
    {
      ...(imgSize ? { inputSize: [inChans, imgSize, imgSize] } : { inChans }),
      ...(defaults ? { mean: defaults.mean, std: defaults.std, cropPct: 1 } : {}),
    },
    model ?? undefined,
  );
}

/** The data config of a trained model: its own config (config.json), with an explicit size if given. */
export function inferenceDataConfig(model: { readonly pretrainedCfg?: PretrainedCfgLike | null }, o: DataConfigOverrides = {}): DataConfig {
  const own = resolveDataConfig({}, model);
  const [c, h, w] = own.inputSize;
  if (o.imgSize === undefined && (o.inChans ?? c) === c) return own;
  return resolveDataConfig({ inputSize: [o.inChans ?? c, o.imgSize ?? h, o.imgSize ?? w] }, model);
}
