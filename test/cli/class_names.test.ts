// Class indices by name through the CLI (issue 12, item 6): a model trained on [a, b, c] keeps its
// class names (label_names); validating it on a folder with [b, c] scores by name (c is the model's
// class 2, not the folder's 1) with a warning that a is missing; a folder with a class d the model
// never saw is an error naming d; an empty class folder in the training data warns and keeps its
// index.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import sharp from 'sharp';
import { runCli } from './run_cli.js';

const root = mkdtempSync(join(tmpdir(), 'ns-classnames-'));
const COLORS: Record<string, [number, number, number]> = {
  a: [230, 20, 20],
  b: [20, 220, 30],
  c: [30, 30, 230],
  d: [230, 230, 30],
};

async function folder(
  name: string,
  classes: readonly string[],
  perClass: number | readonly number[],
  empty: readonly string[] = [],
): Promise<string> {
  const dir = join(root, name);
  for (const [c, cls] of classes.entries()) {
    mkdirSync(join(dir, cls), { recursive: true });
    const rgb = COLORS[cls]!;
    const n = typeof perClass === 'number' ? perClass : perClass[c]!;
    for (let i = 0; i < n; i++) {
      const raw = Buffer.alloc(24 * 24 * 3);
      for (let k = 0; k < raw.length; k++) raw[k] = Math.max(0, Math.min(255, rgb[k % 3]! + ((k * 13 + i * 29) % 31) - 15));
      writeFileSync(
        join(dir, cls, `${i}.png`),
        await sharp(raw, { raw: { width: 24, height: 24, channels: 3 } })
          .png()
          .toBuffer(),
      );
    }
  }
  for (const e of empty) mkdirSync(join(dir, e), { recursive: true });
  return dir;
}

interface Prediction {
  file: string;
  topk: { index: number; label: string | null }[];
}

describe('class indices by name', () => {
  let model: string;
  before(async () => {
    const train = await folder('train', ['a', 'b', 'c'], 6);
    const out = join(root, 'run');
    const r = await runCli([
      'train',
      '--quiet',
      '--model',
      'tinynet_e',
      '--img-size',
      '32',
      '--epochs',
      '4',
      '-b',
      '6',
      '--lr',
      '0.01',
      '--warmup-epochs',
      '0',
      '--zero-head',
      '--data',
      train,
      '--output',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    model = join(out, 'model');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('the model folder keeps the training class names (label_names)', () => {
    const cfg = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as { label_names?: string[] };
    assert.deepEqual(cfg.label_names, ['a', 'b', 'c']);
  });

  it('validate on a folder with [b, c]: a warning naming a, the accuracy by name', async () => {
    // Unequal counts: even a model that predicts one class for everything scores differently by name and by folder index.
    const val = await folder('val-bc', ['b', 'c'], [3, 2]);
    const r = await runCli(['validate', '--model', 'tinynet_e', '--checkpoint', model, '--data', val, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*no images of 1 of the model's 3 classes: a/);
    const got = JSON.parse(r.stdout) as { top1: number; n: number };
    // The truth from predict: each image's top class name against its folder's name.
    const p = await runCli(['predict', val, '--model', 'tinynet_e', '--checkpoint', model, '--topk', '1', '--json']);
    assert.equal(p.code, 0, p.stderr);
    const preds = JSON.parse(p.stdout) as Prediction[];
    assert.equal(preds.length, 5);
    const byName = preds.filter((q) => q.topk[0]!.label === basename(dirname(q.file))).length / preds.length;
    // What indexing by the folder's own order would score (b as 0, c as 1): it must differ, or this test shows nothing.
    const folderIdx: Record<string, number> = { b: 0, c: 1 };
    const byFolderIndex = preds.filter((q) => q.topk[0]!.index === folderIdx[basename(dirname(q.file))]).length / preds.length;
    assert.notEqual(byName, byFolderIndex, 'the two scores must differ for this test to discriminate');
    assert.equal(got.n, 5);
    assert.ok(Math.abs(got.top1 - byName) < 1e-9, `validate top1 ${got.top1}, by name ${byName}, by folder index ${byFolderIndex}`);
  });

  it('validate on a folder with [a, b, d]: an error naming d and the model classes', async () => {
    const val = await folder('val-abd', ['a', 'b', 'd'], 2);
    const r = await runCli(['validate', '--model', 'tinynet_e', '--checkpoint', model, '--data', val]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error: .*class(es)? the model was not trained on: "d" \(the model's classes: a, b, c\)/);
  });

  it('train with an empty class folder: a warning naming it, and it keeps its index', async () => {
    const data = await folder('train-empty', ['a', 'c'], 3, ['b']);
    const out = join(root, 'run-empty');
    const r = await runCli([
      'train',
      '--quiet',
      '--model',
      'tinynet_e',
      '--img-size',
      '32',
      '--epochs',
      '1',
      '-b',
      '3',
      '--data',
      data,
      '-o',
      out,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /warning: .*1 empty class folder\(s\) \(no images\): b/);
    const cfg = JSON.parse(readFileSync(join(out, 'model', 'config.json'), 'utf8')) as { label_names?: string[]; num_classes?: number };
    assert.deepEqual(cfg.label_names, ['a', 'b', 'c']);
  });
});
