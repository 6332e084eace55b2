// timm's ImageFolder reader (readers/reader_image_folder.py, find_images_and_targets): walk the root
// recursively, keep files whose lower-cased extension is an image extension (timm: .png .jpg .jpeg),
// label each by the name of the folder that contains it (leaf name only; files directly in the root
// get the class "" as in timm), order classes and files with timm's natural sort. For the usual
// class names (equal-length synset ids, plain words) this is the same order as torchvision's sorted().
//
// Class indices must not depend on which folders happen to hold images: a class folder directly
// under the root with no images keeps its place in the class list (as torchvision's find_classes
// lists every class folder), so one emptied class does not renumber every later one; it is listed
// in `emptyClasses` for a warning. Files that are not images (notes.txt, .DS_Store) are never
// decoded, and are listed in `ignoredFiles`.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, extname, join, relative, resolve } from 'node:path';
import { DatasetError, type ImageDataset, fileDataset } from './dataset.js';
import { naturalCompare } from './natural_sort.js';
import { walkFiles } from './walk.js';

/** timm's IMG_EXTENSIONS. */
export const TIMM_IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg'];

export interface ImageFolderOptions {
  /** Lower-case extensions with the dot (default timm's .png .jpg .jpeg). */
  readonly extensions?: readonly string[];
  /**
   * Fixed class order (like timm's class_map). An image in a class folder that is not in the list is
   * an error naming those classes: dropping it would score (or train on) a different set than asked.
   */
  readonly classes?: readonly string[];
}

export interface ImageFolderDataset extends ImageDataset {
  readonly classes: readonly string[];
  readonly classToIdx: ReadonlyMap<string, number>;
  readonly paths: readonly string[];
  readonly labels: Int32Array;
  /** Class folders (directly under the root) without images: in `classes`, with no samples. */
  readonly emptyClasses: readonly string[];
  /** With `classes`: listed classes without images. */
  readonly missingClasses: readonly string[];
  /** Root-relative paths of the files skipped for their extension. */
  readonly ignoredFiles: readonly string[];
}

export function imageFolder(root: string, opts: ImageFolderOptions = {}): ImageFolderDataset {
  const dir = resolve(root);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new DatasetError(`image folder ${dir} does not exist or is not a directory`);
  const exts = new Set((opts.extensions ?? TIMM_IMAGE_EXTENSIONS).map((e) => e.toLowerCase()));
  const found: { path: string; label: string }[] = [];
  const ignoredFiles: string[] = [];
  // Top-level folders that hold an image somewhere below them (the others are empty classes).
  const topWithImages = new Set<string>();
  for (const f of walkFiles(dir)) {
    if (exts.has(extname(f.name).toLowerCase())) {
      found.push({ path: f.path, label: f.relDir ? basename(f.relDir) : '' });
      if (f.relDir) topWithImages.add(f.relDir.split(/[\\/]/)[0]!);
    } else ignoredFiles.push(relative(dir, f.path));
  }
  ignoredFiles.sort(naturalCompare);
  const labelsFound = new Set(found.map((f) => f.label));
  const emptyFolders = topLevelDirs(dir).filter((d) => !topWithImages.has(d) && !labelsFound.has(d));
  let classes: string[];
  let missingClasses: string[] = [];
  if (opts.classes) {
    classes = [...opts.classes];
    const listed = new Set(classes);
    const other = new Map<string, { n: number; first: string }>();
    for (const f of found) {
      if (listed.has(f.label)) continue;
      const o = other.get(f.label);
      if (o) o.n++;
      else other.set(f.label, { n: 1, first: relative(dir, f.path) });
    }
    if (other.size > 0) {
      const names = [...other.keys()].sort(naturalCompare);
      const n = [...other.values()].reduce((a, o) => a + o.n, 0);
      throw new DatasetError(
        `${dir} has ${n} images of ${names.length === 1 ? 'a class' : 'classes'} not in the class list: ` +
          `${names.map((c) => `"${c}" (${other.get(c)!.n} images, e.g. ${other.get(c)!.first})`).join(', ')}; ` +
          `the classes are ${classes.join(', ')}: add ${names.length === 1 ? 'it' : 'them'} to the list or move those images out`,
      );
    }
    missingClasses = classes.filter((c) => !labelsFound.has(c));
  } else classes = [...new Set([...labelsFound, ...emptyFolders])].sort(naturalCompare);
  const classToIdx = new Map(classes.map((c, i) => [c, i] as const));
  const kept = found.sort((a, b) => naturalCompare(a.path, b.path));
  if (kept.length === 0) throw new DatasetError(`no images (${[...exts].join(' ')}) found under ${dir}`);
  const paths = kept.map((f) => f.path);
  const labels = Int32Array.from(kept, (f) => classToIdx.get(f.label)!);
  const emptyClasses = classes.filter((c) => !labelsFound.has(c) && emptyFolders.includes(c));
  return { ...fileDataset(paths, labels, classes), classes, classToIdx, emptyClasses, missingClasses, ignoredFiles };
}

/** The folders directly under `dir` (following links), hidden ones left out. */
function topLevelDirs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => !e.name.startsWith('.'))
    .filter((e) => {
      if (e.isDirectory()) return true;
      if (!e.isSymbolicLink()) return false;
      try {
        return statSync(join(dir, e.name)).isDirectory();
      } catch {
        return false;
      }
    })
    .map((e) => e.name);
}
