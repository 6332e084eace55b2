// timm's ImageFolder reader (readers/reader_image_folder.py, find_images_and_targets): walk the root
// recursively, keep files whose lower-cased extension is an image extension (timm: .png .jpg .jpeg),
// label each by the name of the folder that contains it (leaf name only; files directly in the root
// get the class "" as in timm), order classes and files with timm's natural sort. For the usual
// class names (equal-length synset ids, plain words) this is the same order as torchvision's sorted().
import { existsSync, statSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { DatasetError, type ImageDataset, fileDataset } from './dataset.js';
import { naturalCompare } from './natural_sort.js';
import { walkFiles } from './walk.js';

/** timm's IMG_EXTENSIONS. */
export const TIMM_IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg'];

export interface ImageFolderOptions {
  /** Lower-case extensions with the dot (default timm's .png .jpg .jpeg). */
  readonly extensions?: readonly string[];
  /** Fixed class order (like timm's class_map): files of other classes are skipped. */
  readonly classes?: readonly string[];
}

export interface ImageFolderDataset extends ImageDataset {
  readonly classes: readonly string[];
  readonly classToIdx: ReadonlyMap<string, number>;
  readonly paths: readonly string[];
  readonly labels: Int32Array;
}

export function imageFolder(root: string, opts: ImageFolderOptions = {}): ImageFolderDataset {
  const dir = resolve(root);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DatasetError(`image folder ${dir} does not exist or is not a directory`);
  const exts = new Set((opts.extensions ?? TIMM_IMAGE_EXTENSIONS).map((e) => e.toLowerCase()));
  const found: { path: string; label: string }[] = [];
  for (const f of walkFiles(dir)) {
    if (exts.has(extname(f.name).toLowerCase())) found.push({ path: f.path, label: f.relDir ? basename(f.relDir) : '' });
  }
  const classes = opts.classes ? [...opts.classes] : [...new Set(found.map((f) => f.label))].sort(naturalCompare);
  const classToIdx = new Map(classes.map((c, i) => [c, i] as const));
  const kept = found.filter((f) => classToIdx.has(f.label)).sort((a, b) => naturalCompare(a.path, b.path));
  if (kept.length === 0) throw new DatasetError(`no images (${[...exts].join(' ')}) found under ${dir}`);
  const paths = kept.map((f) => f.path);
  const labels = Int32Array.from(kept, (f) => classToIdx.get(f.label)!);
  return { ...fileDataset(paths, labels, classes), classes, classToIdx };
}
