// The stages as separate commands, chained by hand as a user would: train (the teacher) →
// pseudo-label → filter → student → evaluate. Each stage's rerun keeps finished work; mismatched
// inputs between stages are refused with a message that says what to give.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labeledSplit, resolveDataSpec } from '../../src/index.js';
import { TRAIN_TINY_FMNIST, runCli, type CliResult } from '../cli/run_cli.js';

const PER_CLASS = 5;
const LIMIT = 200;
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ns-stages-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const ok = (r: CliResult): CliResult => {
  assert.equal(r.code, 0, r.stderr);
  return r;
};
const shardTimes = (p: string): Map<string, number> =>
  new Map(
    readdirSync(p)
      .filter((f) => f.startsWith('shard-'))
      .map((f) => [f, statSync(join(p, f)).mtimeMs]),
  );

describe('the stage commands chained', () => {
  const teacher = (): string => join(dir, 'teacher');
  const pseudo = (): string => join(dir, 'pseudo');
  const filtered = (): string => join(dir, 'filter');
  const split = ['--labels-per-class', String(PER_CLASS), '--seed', '0'];
  const plArgs = (): string[] => [
    'pseudo-label',
    '--quiet',
    '--model',
    'tinynet_e',
    '--checkpoint',
    join(teacher(), 'model'),
    '--data',
    'fashion-mnist',
    ...split,
    '--limit',
    String(LIMIT),
    '--shard-size',
    '64',
    '--workers',
    '0',
    '-o',
    pseudo(),
  ];

  it('train → pseudo-label (rerun keeps its shards) → filter → evaluate --pseudo', async () => {
    ok(
      await runCli([
        ...TRAIN_TINY_FMNIST,
        ...split,
        '--epochs',
        '2',
        '-b',
        '25',
        '--zero-head',
        '--val-limit',
        '50',
        '--workers',
        '0',
        '-o',
        teacher(),
      ]),
    );
    assert.match(ok(await runCli(plArgs())).stdout, new RegExp(`^${LIMIT} images labeled \\(0 skipped\\)`));
    const index = JSON.parse(readFileSync(join(pseudo(), 'index.json'), 'utf8')) as {
      images: number;
      numClasses: number;
      records: { id: number; label: number; confidence: number }[];
    };
    assert.equal(index.images, LIMIT);
    assert.equal(index.records.length, LIMIT);
    const before = shardTimes(pseudo());
    assert.equal(before.size, Math.ceil(LIMIT / 64));

    // A rerun rewrites no shard; with one shard gone, it redoes that one only.
    ok(await runCli(plArgs()));
    assert.deepEqual(shardTimes(pseudo()), before);
    rmSync(join(pseudo(), 'shard-00001.safetensors'));
    ok(await runCli(plArgs()));
    const after = shardTimes(pseudo());
    for (const [f, t] of before) if (f !== 'shard-00001.safetensors') assert.equal(after.get(f), t, `${f} was rewritten`);
    assert.ok(after.has('shard-00001.safetensors'));
    assert.deepEqual(JSON.parse(readFileSync(join(pseudo(), 'index.json'), 'utf8')).records, index.records);
    // The same folder with other settings is refused rather than mixed.
    const mixed = await runCli([...plArgs(), '--topk', '3']);
    assert.equal(mixed.code, 1);
    assert.match(mixed.stderr, /holds pseudo-labels made with another topk/);

    const f = ok(await runCli(['filter', '--pseudo', pseudo(), '--per-class', '8', '--threshold', '0', '-o', filtered()])).stdout;
    assert.match(f, new RegExp(`^kept \\d+ \\(\\d+ unique\\) of ${LIMIT}`));
    const stats = (JSON.parse(readFileSync(join(filtered(), 'stats.json'), 'utf8')) as { stats: { after: number[]; kept: number } }).stats;
    assert.equal(
      stats.after.reduce((a, b) => a + b, 0),
      stats.kept,
    );

    // Pseudo-label accuracy against the true labels, counted here straight from the data set.
    const ds = resolveDataSpec('fashion-mnist').dataset;
    const rest = labeledSplit(ds, PER_CLASS, 0).unlabeled.subarray(0, LIMIT);
    const correct = index.records.filter((r) => ds.label(rest[r.id]!) === r.label).length;
    const ev = JSON.parse(
      ok(
        await runCli([
          'evaluate',
          '--pseudo',
          pseudo(),
          '--selection',
          filtered(),
          '--data',
          'fashion-mnist',
          ...split,
          '--limit',
          String(LIMIT),
          '--json',
        ]),
      ).stdout,
    ) as { overall: { correct: number; total: number; accuracy: number }; balanced: { total: number } };
    assert.deepEqual(ev.overall, { correct, total: LIMIT, accuracy: correct / LIMIT });
    assert.equal(ev.balanced.total, stats.kept);

    // The wrong split is refused, not scored against the wrong images.
    const bad = await runCli(['evaluate', '--pseudo', pseudo(), '--data', 'fashion-mnist', ...split]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /cover 200 images but --data fashion-mnist resolves to 59950.*--limit/);
  });

  it('student (warm-started, hard labels): trains, evaluates, and a rerun does not train again', async () => {
    const out = join(dir, 'student');
    const args = [
      'student',
      '--quiet',
      '--model',
      'tinynet_e',
      '--labeled',
      'fashion-mnist',
      ...split,
      '--unlabeled',
      'fashion-mnist',
      '--unlabeled-limit',
      String(LIMIT),
      '--pseudo',
      pseudo(),
      '--selection',
      filtered(),
      '--warm-start',
      join(teacher(), 'model'),
      '--hard',
      '--epochs',
      '1',
      '-b',
      '8',
      '--workers',
      '0',
      '-o',
      out,
    ];
    const first = ok(await runCli(args)).stdout;
    assert.match(first, /student epoch 1\/1: train loss \d/);
    const top1 = /student tinynet_e: top1 ([\d.]+)%/.exec(first)?.[1];
    assert.ok(top1, first);
    // The student went into a folder named by its key, with its model and record.
    const keyed = readdirSync(out);
    assert.equal(keyed.length, 1);
    const studentDir = join(out, keyed[0]!);
    assert.ok(existsSync(join(studentDir, 'model', 'model.safetensors')));
    const rec = JSON.parse(readFileSync(join(studentDir, 'record.json'), 'utf8')) as { eval: { top1: number; n: number }; key: string };
    assert.equal(rec.key, keyed[0]);
    assert.equal(rec.eval.n, 10000);
    assert.equal((rec.eval.top1 * 100).toFixed(2), top1);

    const again = ok(await runCli(args)).stdout;
    assert.doesNotMatch(again, /epoch 1\/1: train loss/);
    assert.match(again, new RegExp(`top1 ${top1!.replace('.', '\\.')}%.*done before`));

    // Other pseudo-labels (top-3 of the same teacher) into the same --output: a new student beside
    // the old one, which stays as it was.
    const before = readFileSync(join(studentDir, 'model', 'model.safetensors'));
    const recBefore = readFileSync(join(studentDir, 'record.json'), 'utf8');
    const pseudo3 = join(dir, 'pseudo-top3');
    const filtered3 = join(dir, 'filter-top3');
    ok(await runCli([...plArgs().slice(0, -1), pseudo3, '--topk', '3']));
    ok(await runCli(['filter', '--pseudo', pseudo3, '--per-class', '8', '--threshold', '0', '-o', filtered3]));
    const swapped = args.map((a) => (a === pseudo() ? pseudo3 : a === filtered() ? filtered3 : a));
    const third = ok(await runCli(swapped)).stdout;
    assert.match(third, /student epoch 1\/1: train loss/);
    assert.equal(readdirSync(out).length, 2);
    assert.deepEqual(readFileSync(join(studentDir, 'model', 'model.safetensors')), before);
    assert.equal(readFileSync(join(studentDir, 'record.json'), 'utf8'), recBefore);

    // A selection of other pseudo-labels than --pseudo is refused.
    const mixed = await runCli(args.map((a) => (a === filtered() ? filtered3 : a)));
    assert.equal(mixed.code, 1);
    assert.match(mixed.stderr, /is a selection of other pseudo-labels/);

    // Pseudo-labels of other images than --unlabeled: refused with what to give.
    const bad = await runCli(args.map((a) => (a === String(LIMIT) ? '100' : a)));
    // (the check runs before anything is trained)
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /cover 200 images but --unlabeled fashion-mnist resolves to 100/);
  });
});
