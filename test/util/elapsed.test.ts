// withElapsed sums a resumable job's wall time over its attempts, a killed one included.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { withElapsed } from '../../src/util/elapsed.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-elapsed-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('withElapsed', () => {
  it('saves the running total while the job runs and adds earlier attempts to it', async () => {
    const file = join(dir, 'a.json');
    // An attempt killed after 100 s left this behind.
    writeFileSync(file, JSON.stringify({ seconds: 100 }));
    let midway = 0;
    const { result, seconds } = await withElapsed(
      file,
      async () => {
        await sleep(120);
        midway = (JSON.parse(readFileSync(file, 'utf8')) as { seconds: number }).seconds;
        return 'done';
      },
      30,
    );
    assert.equal(result, 'done');
    assert.ok(midway > 100 && midway < seconds, `saved ${midway} while running`);
    assert.ok(seconds >= 100.1 && seconds < 110, `${seconds}`);
    assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), { seconds });
  });

  it('starts from zero on a missing or nonsensical record, and keeps the total when the job throws', async () => {
    const file = join(dir, 'b.json');
    writeFileSync(file, JSON.stringify({ seconds: -5 }));
    const r = await withElapsed(file, async () => 1);
    assert.ok(r.seconds >= 0 && r.seconds < 5);
    const c = join(dir, 'c.json');
    await assert.rejects(
      withElapsed(
        c,
        async () => {
          await sleep(60);
          throw new Error('boom');
        },
        20,
      ),
      /boom/,
    );
    const left = (JSON.parse(readFileSync(c, 'utf8')) as { seconds: number }).seconds;
    assert.ok(left > 0, 'a failed attempt still counts');
  });
});
