import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { imageFolder } from '../../src/data/datasets/image_folder.js';
import { flatFolder } from '../../src/data/datasets/flat_folder.js';
import { imageList, parseCsv } from '../../src/data/datasets/image_list.js';
import { fashionMnist, FASHION_MNIST_CLASSES } from '../../src/data/datasets/fashion_mnist.js';
import { labeledSplit } from '../../src/data/datasets/split.js';
import { naturalCompare } from '../../src/data/datasets/natural_sort.js';
import { DatasetError, loadSample, subset, UNLABELED } from '../../src/data/datasets/dataset.js';
import { DOG_JPG } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-datasets-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function touch(p: string): void {
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, 'x');
}

test("timm's natural sort", () => {
  const names = ['class10', 'Class2', 'class1', 'b', 'a10b', 'a9b', 'n01440764', 'n01443537'];
  assert.deepEqual([...names].sort(naturalCompare), ['a9b', 'a10b', 'b', 'class1', 'Class2', 'class10', 'n01440764', 'n01443537']);
});

test('ImageFolder: leaf folder labels, timm extensions, natural order', () => {
  const root = join(dir, 'folder');
  for (const p of [
    'cat10/a.jpg',
    'cat2/b.PNG',
    'cat2/sub/deep/c.jpeg',
    'cat2/notes.txt',
    'cat2/d.webp',
    'dog/x2.jpg',
    'dog/x10.jpg',
    'dog/x1.jpg',
  ])
    touch(join(root, p));
  const ds = imageFolder(root);
  assert.deepEqual(ds.classes, ['cat2', 'cat10', 'deep', 'dog']);
  assert.deepEqual(
    ds.paths.map((p) => p.slice(root.length + 1)),
    ['cat2/b.PNG', 'cat2/sub/deep/c.jpeg', 'cat10/a.jpg', 'dog/x1.jpg', 'dog/x2.jpg', 'dog/x10.jpg'],
  );
  assert.deepEqual([...ds.labels], [0, 2, 1, 3, 3, 3]);
  assert.deepEqual(ds.source(0), { kind: 'file', path: join(root, 'cat2/b.PNG') });
  // A fixed class list maps by name; images of classes left out of it are an error, not dropped.
  const fixed = imageFolder(root, { classes: ['dog', 'cat2', 'deep', 'cat10'] });
  assert.deepEqual([...fixed.labels], [1, 2, 3, 0, 0, 0]);
  assert.throws(
    () => imageFolder(root, { classes: ['dog', 'cat2'] }),
    (e: unknown) => e instanceof DatasetError && e.message.includes('"cat10"') && e.message.includes('"deep"'),
  );
  assert.deepEqual(ds.ignoredFiles, ['cat2/d.webp', 'cat2/notes.txt']);
  assert.throws(() => imageFolder(join(dir, 'nope')), DatasetError);
  assert.throws(() => ds.label(99), RangeError);
});

test('flat folder: recursive, every sharp extension, unlabeled', () => {
  const root = join(dir, 'flat');
  for (const p of ['a/1.webp', 'b/2.gif', '3.tiff', 'c/d/4.JPG', 'readme.md']) touch(join(root, p));
  const ds = flatFolder(root);
  assert.equal(ds.length, 4);
  assert.equal(ds.label(0), UNLABELED);
  assert.equal(ds.classes, null);
});

test('CSV and JSONL lists', async () => {
  const root = join(dir, 'list');
  mkdirSync(root, { recursive: true });
  copyFileSync(DOG_JPG, join(root, 'dog, "quoted".jpg'));
  writeFileSync(join(root, 'list.csv'), 'path,label\r\n"dog, ""quoted"".jpg",dog\n/abs/cat.jpg,cat\nimgs/u.jpg,\n');
  const ds = imageList(join(root, 'list.csv'));
  assert.deepEqual(ds.classes, ['cat', 'dog']);
  assert.deepEqual([...ds.labels], [1, 0, UNLABELED]);
  assert.equal(ds.paths[0], join(root, 'dog, "quoted".jpg'));
  assert.equal(ds.paths[1], '/abs/cat.jpg');
  const img = await loadSample(ds.source(0));
  assert.equal(img.width, 1546);
  writeFileSync(join(root, 'list.jsonl'), '{"path": "a.jpg", "label": 3}\n\n{"path": "b.jpg"}\n');
  const j = imageList(join(root, 'list.jsonl'));
  assert.deepEqual([...j.labels], [3, UNLABELED]);
  writeFileSync(join(root, 'bad.jsonl'), '{"path": "a.jpg"}\n{"label": 1}\n');
  assert.throws(
    () => imageList(join(root, 'bad.jsonl')),
    (e: unknown) => e instanceof DatasetError && e.message.includes('bad.jsonl:2'),
  );
  assert.deepEqual(parseCsv('a,"b\nc",d\n'), [['a', 'b\nc', 'd']]);
  assert.throws(() => parseCsv('a,"b'), DatasetError);
});

test('Fashion-MNIST from the Debian package', () => {
  const train = fashionMnist('train');
  const t10k = fashionMnist('test');
  assert.equal(train.length, 60000);
  assert.equal(t10k.length, 10000);
  assert.deepEqual([...train.labels.subarray(0, 10)], [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]);
  assert.deepEqual([...t10k.labels.subarray(0, 10)], [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]);
  const counts = new Array(10).fill(0);
  for (const l of train.labels) counts[l]++;
  assert.deepEqual(counts, new Array(10).fill(6000));
  const s = train.source(0);
  assert.equal(s.kind, 'image');
  if (s.kind === 'image') assert.deepEqual([s.image.width, s.image.height, s.image.channels], [28, 28, 1]);
  assert.equal(train.classes, FASHION_MNIST_CLASSES);
});

test('Fashion-MNIST: clear errors for a missing package or a corrupt file', () => {
  assert.throws(
    () => fashionMnist('train', { dir: join(dir, 'none') }),
    (e: unknown) => e instanceof DatasetError && e.message.includes('dataset-fashion-mnist'),
  );
  const bad = join(dir, 'fm');
  mkdirSync(bad, { recursive: true });
  writeFileSync(join(bad, 'train-images-idx3-ubyte.gz'), gzipSync(Buffer.from([0, 0, 8, 1, 0, 0, 0, 0])));
  assert.throws(
    () => fashionMnist('train', { dir: bad }),
    (e: unknown) => e instanceof DatasetError && /magic/.test(e.message),
  );
});

test('labeled split: N per class, deterministic by seed, disjoint cover', () => {
  const labels = Int32Array.from({ length: 1000 }, (_, i) => (i * 7) % 10);
  labels[3] = UNLABELED;
  const a = labeledSplit(labels, 20, 1);
  const b = labeledSplit(labels, 20, 1);
  const c = labeledSplit(labels, 20, 2);
  assert.deepEqual(a.labeled, b.labeled);
  assert.notDeepEqual(a.labeled, c.labeled);
  assert.equal(a.labeled.length, 200);
  assert.equal(a.unlabeled.length, 800);
  assert.ok(a.unlabeled.includes(3));
  for (let k = 0; k < 10; k++) assert.equal([...a.labeled].filter((i) => labels[i] === k).length, 20);
  const all = new Set([...a.labeled, ...a.unlabeled]);
  assert.equal(all.size, 1000);
  const fm = fashionMnist('test');
  const s = labeledSplit(fm, 5, 0);
  const sub = subset(fm, s.labeled);
  assert.equal(sub.length, 50);
  assert.equal(sub.label(0), fm.label(s.labeled[0]!));
});
