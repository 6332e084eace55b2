// A second `run` into a run folder: config.json (and everything else) stays as it was when the new
// config is about other data (issue 12, item 1); a config for the same data proceeds and records it.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveNoisyStudentConfig, runNoisyStudent } from '../../src/noisy/index.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ns-guard-'));
  dirs.push(d);
  return d;
};

const BASE = {
  seed: 3,
  labeled: { data: 'fashion-mnist', perClass: 10 },
  unlabeled: { data: 'rest', limit: 30 },
  test: { data: 'default', limit: 20 },
  teacher: { model: 'tinynet_e', train: { epochs: 1, batchSize: 20 } },
  students: ['tinynet_e'],
  pseudoLabel: { perClass: 2 },
  workers: 0,
};

/** A run folder as a first `run` leaves it (its config and a file of its own), without training anything. */
function existingRun(): { dir: string; before: string } {
  const dir = tmp();
  const before = JSON.stringify(resolveNoisyStudentConfig(BASE), null, 2) + '\n';
  writeFileSync(join(dir, 'config.json'), before);
  writeFileSync(join(dir, 'summary.json'), '{"kept":"as it was"}\n');
  return { dir, before };
}

const aborted = (): AbortSignal => {
  const c = new AbortController();
  c.abort(new Error('stopped by the test'));
  return c.signal;
};

describe('run: config.json of an existing run', () => {
  it('a config for other data is refused before anything is written, saying what differs and what to do', async () => {
    const { dir, before } = existingRun();
    const other = resolveNoisyStudentConfig({ ...BASE, seed: 4, labeled: { data: 'fashion-mnist', perClass: 20 } });
    await assert.rejects(runNoisyStudent(other, dir, { signal: aborted() }), (e: Error) => {
      assert.match(e.message, /labeled\.perClass: 10 -> 20/);
      assert.match(e.message, /seed: 3 -> 4/);
      assert.match(e.message, /another --output/);
      return true;
    });
    assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), before);
    assert.deepEqual(readdirSync(dir).sort(), ['config.json', 'summary.json']);
    assert.equal(readFileSync(join(dir, 'summary.json'), 'utf8'), '{"kept":"as it was"}\n');
  });

  it('a folder whose config.json is not a run config (e.g. a train output) is refused and left alone', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'config.json'), '{"model":"tinynet_e","data":"fashion-mnist"}\n');
    await assert.rejects(
      runNoisyStudent(resolveNoisyStudentConfig(BASE), dir, { signal: aborted() }),
      /not a Noisy Student run.*another --output/,
    );
    assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), '{"model":"tinynet_e","data":"fashion-mnist"}\n');
  });

  it('a config for the same data (other students) proceeds and records the new config', async () => {
    const { dir } = existingRun();
    const next = resolveNoisyStudentConfig({ ...BASE, students: ['tinynet_e', 'tinynet_e'] });
    // Stopped at once by the signal: what matters is that the guard let it through.
    await assert.rejects(runNoisyStudent(next, dir, { signal: aborted() }), (e: Error) => !/another --output/.test(e.message));
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), JSON.parse(JSON.stringify(next)));
  });
});
