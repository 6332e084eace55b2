// A folder of unlabeled images, searched recursively, any extension sharp's prebuilt libvips decodes.
// Files are ordered by timm's natural sort of their path so indices are stable across runs.
import { existsSync, statSync } from 'node:fs';
import { extname, relative, resolve } from 'node:path';
import { DatasetError, type ImageDataset, type SampleSource, UNLABELED, checkIndex } from './dataset.js';
import { naturalCompare } from './natural_sort.js';
import { walkFiles } from './walk.js';

/** Extensions of formats sharp's prebuilt binaries read. */
export const SHARP_IMAGE_EXTENSIONS: readonly string[] = [
  '.jpg',
  '.jpeg',
  '.jpe',
  '.jfif',
  '.png',
  '.webp',
  '.gif',
  '.tif',
  '.tiff',
  '.avif',
];

export interface FlatFolderDataset extends ImageDataset {
  readonly paths: readonly string[];
  /** Root-relative paths of the files skipped for their extension (never decoded, never counted as corrupt). */
  readonly ignoredFiles: readonly string[];
}

export function flatFolder(root: string, opts: { readonly extensions?: readonly string[] } = {}): FlatFolderDataset {
  const dir = resolve(root);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DatasetError(`image folder ${dir} does not exist or is not a directory`);
  const exts = new Set((opts.extensions ?? SHARP_IMAGE_EXTENSIONS).map((e) => e.toLowerCase()));
  const paths: string[] = [];
  const ignoredFiles: string[] = [];
  for (const f of walkFiles(dir)) {
    if (exts.has(extname(f.name).toLowerCase())) paths.push(f.path);
    else ignoredFiles.push(relative(dir, f.path));
  }
  paths.sort(naturalCompare);
  ignoredFiles.sort(naturalCompare);
  return {
    length: paths.length,
    classes: null,
    paths,
    ignoredFiles,
    label(i) {
      checkIndex(this, i);
      return UNLABELED;
    },
    source(i): SampleSource {
      checkIndex(this, i);
      return { kind: 'file', path: paths[i]! };
    },
  };
}
