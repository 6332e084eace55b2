// Unreadable images are reported, not skipped without a word (issue 12, item 3): train, validate
// and pseudo-label on a class folder with a truncated JPEG and a stray notes.txt name the JPEG
// (never the text file), list it once in OUT/skipped.jsonl, and stop with an error when more than
// --max-skipped of the images are unreadable.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli } from '../cli/run_cli.js';
import { SkipReport, TooManySkippedError } from '../../src/data/skip_report.js';

const root = mkdtempSync(join(tmpdir(), 'ns-skipped-'));
const COLORS: Record<string, [number, number, number]> = { a: [220, 30, 30], b: [30, 200, 40], c: [40, 40, 220] };

async function image(path: string, rgb: [number, number, number], seed: number, format: 'png' | 'jpeg'): Promise<void> {
  const raw = Buffer.alloc(24 * 24 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.max(0, Math.min(255, rgb[i % 3]! + ((i * 31 + seed * 17) % 41) - 20));
  const s = sharp(raw, { raw: { width: 24, height: 24, channels: 3 } });
  writeFileSync(path, await (format === 'png' ? s.png() : s.jpeg()).toBuffer());
}

/** A JPEG cut in half: sharp reports "premature end of JPEG image". */
async function truncatedJpeg(path: string): Promise<void> {
  const raw = Buffer.alloc(64 * 64 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37) % 251;
  const jpg = await sharp(raw, { raw: { width: 64, height: 64, channels: 3 } })
    .jpeg()
    .toBuffer();
  writeFileSync(path, jpg.subarray(0, jpg.length >> 1));
}

/** Class folders a, b, c of `perClass` good images; `broken` truncated JPEGs in a; a notes.txt in a. */
async function classFolder(name: string, perClass: number, broken: number): Promise<string> {
  const dir = join(root, name);
  for (const [cls, rgb] of Object.entries(COLORS)) {
    mkdirSync(join(dir, cls), { recursive: true });
    for (let i = 0; i < perClass; i++) await image(join(dir, cls, `${i}.${i % 2 ? 'png' : 'jpg'}`), rgb, i, i % 2 ? 'png' : 'jpeg');
  }
  for (let i = 0; i < broken; i++) await truncatedJpeg(join(dir, 'a', `broken${i}.jpg`));
  writeFileSync(join(dir, 'a', 'notes.txt'), 'where these images came from\n');
  return dir;
}

const TRAIN = ['train', '--quiet', '--model', 'tinynet_e', '--img-size', '32', '--epochs', '1', '-b', '4', '--workers', '0'];
const skippedList = (dir: string): { path: string; set: string }[] =>
  readFileSync(join(dir, 'skipped.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { path: string; set: string });

describe('unreadable images are reported and bounded', () => {
  let good: string;
  let bad: string;
  let model: string;
  before(async () => {
    good = await classFolder('good', 4, 1); // 1 of 13 images broken
    bad = await classFolder('bad', 1, 6); // 6 of 9 images broken
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('train names the truncated JPEG (not notes.txt), lists it once in skipped.jsonl, and says what a skip does', async () => {
    const out = join(root, 'run');
    // Two epochs: the broken file fails in each, and is listed once.
    const r = await runCli([...TRAIN, '--epochs', '2', '--data', good, '--max-skipped', '0.2', '--output', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /skipped 1 unreadable image\(s\): .*broken0\.jpg/);
    assert.match(r.stderr, /skipped\.jsonl\); each made its batch one image shorter, the same in every epoch/);
    assert.doesNotMatch(r.stderr, /notes\.txt.*(unreadable|corrupt|decode)/);
    assert.match(r.stderr, /ignored 1 non-image file\(s\): a\/notes\.txt/);
    const list = skippedList(out);
    assert.equal(list.length, 1);
    assert.ok(list[0]!.path.endsWith(join('a', 'broken0.jpg')), list[0]!.path);
    assert.equal(list[0]!.set, 'train');
    model = join(out, 'model');
  });

  it('train on a mostly broken folder stops with an error naming the count, the files and --max-skipped', async () => {
    const out = join(root, 'run-bad');
    const r = await runCli([...TRAIN, '--data', bad, '--max-skipped', '0.01', '--output', out]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error: \d of 9 images \(\d+\.\d%\) could not be read, more than --max-skipped 0\.01 allows: .*broken\d\.jpg/);
    assert.ok(existsSync(join(out, 'skipped.jsonl')));
    assert.equal(existsSync(join(out, 'model', 'model.safetensors')), false);
  });

  it('a batch with no readable image stops the job instead of training on a NaN loss', async () => {
    const allBad = join(root, 'all-bad');
    for (const cls of ['a', 'b']) {
      mkdirSync(join(allBad, cls), { recursive: true });
      for (let i = 0; i < 2; i++) await truncatedJpeg(join(allBad, cls, `${i}.jpg`));
    }
    const r = await runCli([...TRAIN, '--data', allBad, '--max-skipped', '1', '--output', join(root, 'run-all-bad')]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /error: no image of training batch 1 of epoch 1 could be read \(\d skipped, e\.g\. .*\.jpg\)/);
  });

  it('validate reports what it skipped, and refuses a mostly broken folder', async () => {
    const ok = await runCli(['validate', '--model', 'tinynet_e', '--checkpoint', model, '--data', good, '--max-skipped', '0.2']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /skipped 1 unreadable image\(s\): .*broken0\.jpg/);
    assert.match(ok.stdout, /\(12 images\)/);
    const no = await runCli(['validate', '--model', 'tinynet_e', '--checkpoint', model, '--data', bad]);
    assert.equal(no.code, 1, no.stderr);
    assert.match(no.stderr, /could not be read, more than --max-skipped 0\.01 allows: .*broken\d\.jpg/);
  });

  it('pseudo-label reports what it skipped in OUT/skipped.jsonl, and refuses a mostly broken folder', async () => {
    const out = join(root, 'pseudo');
    const ok = await runCli([
      'pseudo-label',
      '--model',
      'tinynet_e',
      '--checkpoint',
      model,
      '--data',
      good,
      '--max-skipped',
      '0.2',
      '-o',
      out,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /skipped 1 unreadable image\(s\): .*broken0\.jpg/);
    assert.match(ok.stderr, /ignored 1 non-image file\(s\): a\/notes\.txt/);
    assert.equal(skippedList(out).length, 1);
    const no = await runCli(['pseudo-label', '--model', 'tinynet_e', '--checkpoint', model, '--data', bad, '-o', join(root, 'pseudo-bad')]);
    assert.equal(no.code, 1, no.stderr);
    assert.match(no.stderr, /could not be read, more than --max-skipped 0\.01 allows/);
  });
});

describe('SkipReport', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ns-skipreport-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const err = (path: string, index: number) => ({ path, index, message: `cannot decode image ${path}` });

  it('counts an image once however often it fails, also across a resumed job; a fresh job starts a new list', () => {
    const first = new SkipReport({ total: 100, maxSkipped: 0.05, dir });
    for (let epoch = 0; epoch < 3; epoch++) first.add(err('/data/a/x.jpg', 3), 'train');
    first.add(err('/data/b/y.jpg', 7), 'val');
    assert.equal(first.count, 2);
    first.write();
    const resumed = new SkipReport({ total: 100, maxSkipped: 0.05, dir, resume: true });
    resumed.add(err('/data/a/x.jpg', 3), 'train');
    resumed.add(err('/data/c/z.jpg', 9), 'train');
    assert.match(
      resumed.finish()!,
      /^skipped 3 unreadable image\(s\): \/data\/a\/x\.jpg, \/data\/b\/y\.jpg, \/data\/c\/z\.jpg \(full list in .*skipped\.jsonl\)$/,
    );
    assert.equal(skippedList(dir).length, 3);
    const fresh = new SkipReport({ total: 100, maxSkipped: 0.05, dir });
    assert.equal(fresh.count, 0);
    assert.equal(fresh.finish(), null);
  });

  it('stops past maxSkipped, naming the count, the fraction, the files and the option, with the list written', () => {
    const out = join(dir, 'bounded');
    const r = new SkipReport({ total: 10, maxSkipped: 0.1, dir: out });
    r.add(err('/d/1.jpg', 1), 'train'); // 1 of 10: allowed
    assert.throws(
      () => r.add(err('/d/2.jpg', 2), 'train'),
      (e: unknown) =>
        e instanceof TooManySkippedError &&
        e.message.startsWith('2 of 10 images (20.0%) could not be read, more than --max-skipped 0.1 allows: /d/1.jpg, /d/2.jpg') &&
        e.message.endsWith('raise --max-skipped'),
    );
    assert.equal(skippedList(out).length, 2);
  });
});
