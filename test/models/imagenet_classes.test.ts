import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { IMAGENET_CLASSES, imagenetClassName } from '../../src/models/imagenet_classes.js';
import { SHARED } from '../helpers/paths.js';

it('embeds exactly the 1000 names of shared/data/imagenet_classes.txt, in order', () => {
  const txt = readFileSync(join(SHARED, 'data', 'imagenet_classes.txt'), 'utf8');
  const lines = txt.replace(/\n$/, '').split('\n');
  assert.equal(lines.length, 1000);
  assert.deepEqual([...IMAGENET_CLASSES], lines);
  assert.equal(imagenetClassName(0), 'tench');
  assert.equal(imagenetClassName(999), 'toilet tissue');
  assert.equal(imagenetClassName(1000), undefined);
  assert.equal(imagenetClassName(1.5), undefined);
  assert.ok(Object.isFrozen(IMAGENET_CLASSES));
});
