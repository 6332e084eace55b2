// `run` on folders of one's own (issue 12, items 3 and 6): unreadable images of every stage (the
// teacher's labeled data, the unlabeled images, the test set) are reported once each, in
// OUTPUT/skipped.jsonl, however many epochs read them; a run whose unlabeled folder is mostly broken
// stops with an error naming maxSkipped; a test folder with fewer classes is scored by name, with
// a warning naming the class it lacks.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { runCli } from './run_cli.js';

const root = mkdtempSync(join(tmpdir(), 'ns-run-skipped-'));
const COLORS: Record<string, [number, number, number]> = { a: [220, 30, 30], b: [30, 200, 40], c: [40, 40, 220] };

async function png(path: string, rgb: [number, number, number], seed: number): Promise<void> {
  const raw = Buffer.alloc(20 * 20 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.max(0, Math.min(255, rgb[i % 3]! + ((i * 31 + seed * 17) % 41) - 20));
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(
    path,
    await sharp(raw, { raw: { width: 20, height: 20, channels: 3 } })
      .png()
      .toBuffer(),
  );
}

async function truncatedJpeg(path: string): Promise<void> {
  const raw = Buffer.alloc(64 * 64 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37) % 251;
  const jpg = await sharp(raw, { raw: { width: 64, height: 64, channels: 3 } })
    .jpeg()
    .toBuffer();
  writeFileSync(path, jpg.subarray(0, jpg.length >> 1));
}

function config(labeled: string, unlabeled: string, test: string, maxSkipped: number): string {
  const file = join(root, `config-${maxSkipped}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      labeled: { data: labeled },
      unlabeled: { data: unlabeled },
      test: { data: test },
      imgSize: 32,
      inChans: 3,
      teacher: { model: 'tinynet_e', train: { epochs: 1, batchSize: 4, zeroHead: true } },
      students: ['tinynet_e'],
      pseudoLabel: { perClass: 4, threshold: 0 },
      student: { train: { epochs: 1, batchSize: 4, zeroHead: true }, ratio: 1 },
      curveEvalLimit: 4,
      workers: 0,
      maxSkipped,
    }),
  );
  return file;
}

describe('run: unreadable images and class names', () => {
  let labeled: string;
  let labeledClean: string;
  let unlabeled: string;
  let brokenUnlabeled: string;
  let test: string;
  let testClean: string;
  before(async () => {
    labeled = join(root, 'labeled');
    for (const [c, rgb] of Object.entries(COLORS)) for (let i = 0; i < 4; i++) await png(join(labeled, c, `${i}.png`), rgb, i);
    labeledClean = join(root, 'labeled-clean');
    for (const [c, rgb] of Object.entries(COLORS)) for (let i = 0; i < 4; i++) await png(join(labeledClean, c, `${i}.png`), rgb, i);
    await truncatedJpeg(join(labeled, 'a', 'broken-labeled.jpg'));
    writeFileSync(join(labeled, 'a', 'notes.txt'), 'notes\n');
    unlabeled = join(root, 'unlabeled');
    for (let i = 0; i < 9; i++) await png(join(unlabeled, `u${i}.png`), Object.values(COLORS)[i % 3]!, i + 10);
    await truncatedJpeg(join(unlabeled, 'broken-unlabeled.jpg'));
    brokenUnlabeled = join(root, 'unlabeled-broken');
    await png(join(brokenUnlabeled, 'u0.png'), COLORS['a']!, 1);
    for (let i = 0; i < 5; i++) await truncatedJpeg(join(brokenUnlabeled, `broken${i}.jpg`));
    test = join(root, 'test');
    testClean = join(root, 'test-clean');
    for (const c of ['b', 'c']) for (let i = 0; i < 2; i++) await png(join(testClean, c, `${i}.png`), COLORS[c]!, i + 20);
    for (const c of ['b', 'c']) for (let i = 0; i < 2; i++) await png(join(test, c, `${i}.png`), COLORS[c]!, i + 20);
    await truncatedJpeg(join(test, 'b', 'broken-test.jpg'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('lists each unreadable image once in OUTPUT/skipped.jsonl and names them; warns about the test classes', async () => {
    const out = join(root, 'run');
    const r = await runCli(['run', '--quiet', '--config', config(labeled, unlabeled, test, 0.2), '--output', out]);
    assert.equal(r.code, 0, r.stderr);
    const all = r.stdout + r.stderr;
    const line = /skipped 3 unreadable image\(s\): (.*)/.exec(all)?.[1] ?? '';
    for (const name of ['broken-labeled.jpg', 'broken-unlabeled.jpg', 'broken-test.jpg']) assert.ok(line.includes(name), all);
    assert.match(all, /warning: test data .*no images of 1 of the model's 3 classes: a/);
    assert.match(all, /ignored 1 non-image file\(s\): a\/notes\.txt/);
    const list = readFileSync(join(out, 'skipped.jsonl'), 'utf8').trim().split('\n');
    // The teacher's epoch, curve and test evaluations, the student's: each file listed once.
    assert.equal(list.length, 3, list.join('\n'));
    const ev = await runCli(['evaluate', '--run', out, '--max-skipped', '0.5']);
    assert.equal(ev.code, 0, ev.stderr);
    assert.match(ev.stderr, /skipped 1 unreadable image\(s\): .*broken-test\.jpg/);
    const bounded = await runCli(['evaluate', '--run', out, '--max-skipped', '0.1']);
    assert.equal(bounded.code, 1, bounded.stderr);
    assert.match(bounded.stderr, /1 of 5 images \(20\.0%\) could not be read, more than --max-skipped 0\.1 allows: .*broken-test\.jpg/);
  });

  it('stops with an error naming maxSkipped when the unlabeled folder is mostly broken', async () => {
    const out = join(root, 'run-broken');
    const r = await runCli(['run', '--quiet', '--config', config(labeledClean, brokenUnlabeled, testClean, 0.01), '--output', out]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /error: \d+ of \d+ images \(\d+\.\d%\) could not be read, more than maxSkipped 0\.01 allows: .*unlabeled-broken\/broken0\.jpg/,
    );
    assert.ok(existsSync(join(out, 'skipped.jsonl')));
    assert.equal(existsSync(join(out, 'summary.json')), false);
  });
});
