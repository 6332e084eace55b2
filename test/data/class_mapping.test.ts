// Class indices by name (issue 12, item 6): an empty class folder keeps its place, a fixed class
// list refuses images of other classes, and another set's labels are mapped to a model's class
// names by name (extra classes an error, missing ones reported).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { imageFolder } from '../../src/data/datasets/image_folder.js';
import { flatFolder } from '../../src/data/datasets/flat_folder.js';
import { mapClassesByName } from '../../src/data/datasets/class_map.js';
import { DatasetError } from '../../src/data/datasets/dataset.js';
import { selectData } from '../../src/train/data_spec.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-classmap-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

function touch(root: string, ...rel: string[]): string {
  for (const r of rel) {
    mkdirSync(join(root, r, '..'), { recursive: true });
    writeFileSync(join(root, r), 'x');
  }
  return root;
}

test('an empty class folder keeps its index and is reported by name', () => {
  const root = touch(join(dir, 'empty'), 'a/1.jpg', 'c/2.jpg', 'c/3.png');
  mkdirSync(join(root, 'b'));
  const ds = imageFolder(root);
  // timm/torchvision list class folders by name: b keeps index 1, so c stays 2.
  assert.deepEqual(ds.classes, ['a', 'b', 'c']);
  assert.deepEqual([...ds.labels], [0, 2, 2]);
  assert.deepEqual(ds.emptyClasses, ['b']);
  const sel = selectData({ spec: root });
  assert.equal(sel.classes?.length, 3);
  assert.ok(
    sel.notes.some((n) => n.includes('empty') && n.includes('b')),
    sel.notes.join('\n'),
  );
});

test('non-image files are listed as ignored, never as images', () => {
  const root = touch(join(dir, 'ignored'), 'a/1.jpg', 'a/notes.txt', 'b/2.png', 'b/.DS_Store');
  const ds = imageFolder(root);
  assert.equal(ds.length, 2);
  assert.deepEqual(ds.ignoredFiles, ['a/notes.txt', 'b/.DS_Store']);
  const sel = selectData({ spec: root });
  assert.ok(
    sel.notes.some((n) => n.includes('2 non-image file') && n.includes('notes.txt')),
    sel.notes.join('\n'),
  );
  const flat = flatFolder(root);
  assert.equal(flat.length, 2);
  assert.deepEqual(flat.ignoredFiles, ['a/notes.txt', 'b/.DS_Store']);
});

test("imageFolder's classes option: images of classes not in the list are an error naming them", () => {
  const root = touch(join(dir, 'fixed'), 'a/1.jpg', 'b/2.jpg', 'd/3.jpg', 'd/4.jpg');
  assert.throws(
    () => imageFolder(root, { classes: ['a', 'b', 'c'] }),
    (e: unknown) => e instanceof DatasetError && /\bd\b/.test(e.message) && e.message.includes('2 images') && e.message.includes('a, b, c'),
  );
  const ok = imageFolder(root, { classes: ['d', 'c', 'b', 'a'] });
  assert.deepEqual([...ok.labels], [3, 2, 0, 0]);
  assert.deepEqual(ok.missingClasses, ['c']);
});

test('mapClassesByName: labels follow the names, extra classes are an error, missing ones reported', () => {
  const model = ['a', 'b', 'c'];
  const ac = imageFolder(touch(join(dir, 'val-ac'), 'a/1.jpg', 'c/2.jpg', 'c/3.jpg'));
  assert.deepEqual([...ac.labels], [0, 1, 1]); // the folder's own indices: c is 1 here
  const m = mapClassesByName(ac, model, 'val-ac');
  assert.deepEqual(m.missing, ['b']);
  assert.deepEqual(m.dataset.classes, model);
  assert.deepEqual(
    Array.from({ length: m.dataset.length }, (_, i) => m.dataset.label(i)),
    [0, 2, 2],
  );
  assert.equal(m.dataset.source(1).kind, 'file');
  const abd = imageFolder(touch(join(dir, 'val-abd'), 'a/1.jpg', 'b/2.jpg', 'd/3.jpg'));
  assert.throws(
    () => mapClassesByName(abd, model, 'val-abd'),
    (e: unknown) => e instanceof DatasetError && e.message.includes('"d"') && e.message.includes('a, b, c'),
  );
  // The same classes in the same order: the data set itself.
  const same = imageFolder(touch(join(dir, 'val-abc'), 'a/1.jpg', 'b/2.jpg', 'c/3.jpg'));
  assert.equal(mapClassesByName(same, model, 'x').dataset, same);
});
