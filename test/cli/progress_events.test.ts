// Off a terminal (CI, nohup, a container) there are no bars: a long command must still print a line
// per epoch, one every ~10% of a long epoch and one every ~10% of a long item stage, so a log is
// never silent for minutes (issue 12, item 12).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LONG_EPOCH_BATCHES, progressPrinter } from '../../src/cli/progress_events.js';
import { runCli } from './run_cli.js';

/** What fn writes to stdout and stderr (the test runner's streams are pipes: no terminal). */
function capture(fn: () => void): { out: string; err: string } {
  const out: string[] = [];
  const err: string[] = [];
  const [w1, w2] = [process.stdout.write, process.stderr.write];
  process.stdout.write = ((c: string) => (out.push(String(c)), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string) => (err.push(String(c)), true)) as typeof process.stderr.write;
  try {
    fn();
  } finally {
    process.stdout.write = w1;
    process.stderr.write = w2;
  }
  return { out: out.join(''), err: err.join('') };
}

describe('progress off a terminal', () => {
  it('prints epoch lines, ~10% lines of a long epoch and of an item stage', () => {
    assert.notEqual(process.stdout.isTTY, true);
    const batches = 2 * LONG_EPOCH_BATCHES;
    const { out, err } = capture(() => {
      const p = progressPrinter({ quiet: false, epochLines: 'off-terminal' });
      for (let epoch = 0; epoch < 2; epoch++) {
        for (let b = 1; b <= batches; b++)
          p.onEvent({ type: 'step', stage: 'teacher', epoch, epochs: 2, batch: b, batches, loss: 1, lr: 0.1, samples: b * 8, seconds: b });
        p.onEvent({ type: 'epoch', stage: 'teacher', epoch, epochs: 2, trainLoss: 0.5, eval: null, seconds: 3 });
      }
      for (let i = 1; i <= 1000; i++) p.onEvent({ type: 'items', stage: 'pseudo-label 1', done: i, total: 1000, unit: 'img' });
      p.stop();
    });
    assert.match(out, /^teacher epoch 1\/2: train loss 0\.5000 \(3\.0 s\)\nteacher epoch 2\/2: /);
    const epochLines = err.split('\n').filter((l) => l.startsWith('teacher epoch'));
    // 10%, 20%, ... 90% of each epoch (the epoch line covers 100%).
    assert.equal(epochLines.length, 2 * 9, err);
    assert.match(epochLines[0]!, /^teacher epoch 1\/2: 20\/200 batches, loss 1\.0000, lr 1\.00e-1, 8 img\/s$/);
    const itemLines = err.split('\n').filter((l) => l.startsWith('pseudo-label 1'));
    assert.deepEqual(
      itemLines,
      Array.from({ length: 10 }, (_, i) => `pseudo-label 1: ${(i + 1) * 100}/1000 img`),
    );
  });

  it('stays quiet with --quiet, and short epochs get only their epoch line', () => {
    const quiet = capture(() => {
      const p = progressPrinter({ quiet: true, epochLines: 'off-terminal' });
      p.onEvent({ type: 'items', stage: 'x', done: 10, total: 10, unit: 'img' });
      p.onEvent({ type: 'epoch', stage: 'teacher', epoch: 0, epochs: 1, trainLoss: 1, eval: null, seconds: 1 });
    });
    assert.deepEqual(quiet, { out: '', err: '' });
    const short = capture(() => {
      const p = progressPrinter({ quiet: false });
      for (let b = 1; b <= 10; b++)
        p.onEvent({ type: 'step', stage: 'train', epoch: 0, epochs: 1, batch: b, batches: 10, loss: 1, lr: 0.1, samples: b, seconds: b });
      p.onEvent({ type: 'epoch', stage: 'train', epoch: 0, epochs: 1, trainLoss: 1, eval: null, seconds: 1 });
    });
    assert.equal(short.err, '');
    assert.equal(short.out, 'epoch 1/1: train loss 1.0000 (1.0 s)\n');
  });

  it('a tiny `run` with its output piped says what each stage is doing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ns-offtty-'));
    try {
      const cfg = join(dir, 'ns.json');
      writeFileSync(
        cfg,
        JSON.stringify({
          seed: 1,
          labeled: { data: 'fashion-mnist', perClass: 3 },
          unlabeled: { data: 'rest', limit: 60 },
          test: { data: 'default', limit: 40 },
          teacher: { model: 'tinynet_e', train: { epochs: 2, batchSize: 10 } },
          students: ['tinynet_e'],
          pseudoLabel: { perClass: 5, threshold: 0, shardSize: 20 },
          student: { train: { epochs: 1, batchSize: 10 }, ratio: 1 },
          curveEvalLimit: 20,
          workers: 0,
        }),
      );
      const r = await runCli(['run', '--config', cfg, '--output', join(dir, 'run')]);
      assert.equal(r.code, 0, r.stderr);
      const all = r.stdout + r.stderr;
      assert.match(all, /teacher epoch 1\/2: train loss/);
      assert.match(all, /teacher epoch 2\/2: train loss/);
      assert.match(all, /student 1 epoch 1\/1: train loss/);
      assert.match(all, /pseudo-label 1: 60\/60 img/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
