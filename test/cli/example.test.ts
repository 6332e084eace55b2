// examples/predict.mts (the seed's Python example, translated) runs as documented and prints 5
// predictions with ImageNet class names.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { IMAGENET_CLASSES } from '../../src/models/index.js';
import { REPO_ROOT } from '../helpers/paths.js';

describe('examples/predict.mts', () => {
  it('prints the top-5 classes of dog.jpg with the fixture weights', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/predict.mts'], { cwd: REPO_ROOT, encoding: 'utf8' });
    const lines = out.trim().split('\n');
    assert.match(lines[0]!, /^top-5 for .*dog\.jpg:$/);
    const rows = lines.slice(1);
    assert.equal(rows.length, 5, out);
    let last = Infinity;
    for (const row of rows) {
      const m = /^\s*(\d+\.\d{2})% {2}(.+) \((\d+)\)$/.exec(row);
      assert.ok(m, `line "${row}"`);
      assert.equal(m[2], IMAGENET_CLASSES[Number(m[3])]);
      assert.ok(Number(m[1]) <= last, 'sorted');
      last = Number(m[1]);
    }
  });
});
