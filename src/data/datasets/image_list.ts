// A list of (path, label) samples from a CSV or JSONL file.
// CSV: RFC 4180 quoting, columns `path,label` (an optional header row naming them is skipped; a
// missing or empty label means unlabeled). JSONL: one object per line, {"path": ..., "label": ...}.
// Labels are integers, or class names mapped to indices in timm's natural order (or `classes`).
// Relative paths resolve against `root` (default: the list file's directory).
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { DatasetError, type ImageDataset, UNLABELED, fileDataset } from './dataset.js';
import { naturalCompare } from './natural_sort.js';

export interface ImageListOptions {
  readonly root?: string;
  readonly format?: 'csv' | 'jsonl';
  /** Class names by index, for string labels (default: sorted unique names). */
  readonly classes?: readonly string[];
}

export interface ImageListDataset extends ImageDataset {
  readonly paths: readonly string[];
  readonly labels: Int32Array;
}

/** Parse CSV text into rows of fields (quotes, doubled quotes, CRLF). */
export function parseCsv(text: string, file = '<csv>'): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      if (row.length > 1 || row[0] !== '') rows.push(row);
      row = [];
      field = '';
      line++;
    } else field += ch;
  }
  if (quoted) throw new DatasetError(`${file}: unterminated quoted field at line ${line}`);
  row.push(field);
  if (row.length > 1 || row[0] !== '') rows.push(row);
  return rows;
}

type RawLabel = number | string | null;

export function imageList(listFile: string, opts: ImageListOptions = {}): ImageListDataset {
  const file = resolve(listFile);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DatasetError(`cannot read image list ${file}: ${(e as Error).message}`);
  }
  const format = opts.format ?? (/\.jsonl?$/i.test(file) ? 'jsonl' : 'csv');
  const root = opts.root ? resolve(opts.root) : dirname(file);
  const entries: { path: string; label: RawLabel }[] = [];
  if (format === 'jsonl') {
    text.split(/\r?\n/).forEach((ln, i) => {
      if (ln.trim() === '') return;
      let obj: unknown;
      try {
        obj = JSON.parse(ln);
      } catch (e) {
        throw new DatasetError(`${file}:${i + 1}: invalid JSON (${(e as Error).message})`);
      }
      const o = obj as { path?: unknown; label?: unknown };
      if (typeof o !== 'object' || o === null || typeof o.path !== 'string' || o.path === '')
        throw new DatasetError(`${file}:${i + 1}: each line needs a string "path"`);
      const l = o.label;
      if (l !== undefined && l !== null && typeof l !== 'number' && typeof l !== 'string')
        throw new DatasetError(`${file}:${i + 1}: "label" must be an integer or a class name`);
      entries.push({ path: o.path, label: (l ?? null) as RawLabel });
    });
  } else {
    const rows = parseCsv(text, file);
    const first = rows[0];
    const start = first && first[0]?.trim().toLowerCase() === 'path' ? 1 : 0;
    for (let r = start; r < rows.length; r++) {
      const row = rows[r]!;
      const p = row[0]?.trim() ?? '';
      if (!p) throw new DatasetError(`${file}: row ${r + 1} has an empty path`);
      const l = row[1]?.trim() ?? '';
      entries.push({ path: p, label: l === '' ? null : /^-?\d+$/.test(l) ? Number(l) : l });
    }
  }
  const names = [...new Set(entries.flatMap((e) => (typeof e.label === 'string' ? [e.label] : [])))];
  const numeric = entries.some((e) => typeof e.label === 'number');
  if (names.length && numeric) throw new DatasetError(`${file}: labels mix integers and class names`);
  const classes = opts.classes ? [...opts.classes] : names.length ? names.sort(naturalCompare) : null;
  const toIdx = new Map((classes ?? []).map((c, i) => [c, i] as const));
  const labels = new Int32Array(entries.length);
  const paths: string[] = [];
  entries.forEach((e, i) => {
    paths.push(isAbsolute(e.path) ? e.path : resolve(root, e.path));
    if (e.label === null) labels[i] = UNLABELED;
    else if (typeof e.label === 'number') {
      if (!Number.isInteger(e.label) || e.label < 0) throw new DatasetError(`${file}: entry ${i + 1} has an invalid label ${e.label}`);
      labels[i] = e.label;
    } else {
      const k = toIdx.get(e.label);
      if (k === undefined) throw new DatasetError(`${file}: entry ${i + 1} has an unknown class "${e.label}"`);
      labels[i] = k;
    }
  });
  return fileDataset(paths, labels, classes);
}
