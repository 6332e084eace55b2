// predict and features write their results as batches complete, not all at the end: predict
// --jsonl prints one line per image as its batch is done (and --json streams its array), and
// features streams rows to disk, so neither holds every image's output in memory. A FIFO as the
// last "image" holds the command back mid-run without any timing: what it printed before reading
// the FIFO was streamed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSafetensors, saveSafetensors } from '../../src/torch/index.js';
import { FIXTURES, REPO_ROOT, sharedPath } from '../helpers/paths.js';
import { runCli } from './run_cli.js';

const WEIGHTS = join(FIXTURES, 'tf_efficientnet_b0/model.safetensors');
const DOG = sharedPath('data/dog.jpg');
const MODEL = 'tf_efficientnet_b0_ns';
const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ns-stream-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Feed the FIFO a non-image at every open until stopped: the image reader may open a file more than
 * once (libvips sniffs the format, then loads), and each open of a FIFO waits for a writer.
 */
function feed(gate: string): () => void {
  // A reader that closes early makes a write fail: ignore SIGPIPE and go on to the next open.
  const sh = spawn('sh', ['-c', 'trap "" PIPE; while :; do printf "not an image\\n" 2>/dev/null > "$0"; done', gate], { stdio: 'ignore' });
  return () => void sh.kill('SIGKILL');
}

function fifo(name: string): string {
  const p = join(dir, name);
  const r = spawnSync('mkfifo', [p]);
  assert.equal(r.status, 0, `mkfifo: ${r.stderr}`);
  return p;
}

/**
 * Run the CLI until its stdout satisfies `ready` (it is then blocked reading `gate`, the FIFO given
 * as its last image), then feed the FIFO a non-image and let the command finish.
 */
async function runHeldBack(
  args: string[],
  gate: string,
  ready: (stdout: string) => boolean,
  signal: AbortSignal,
): Promise<{ code: number; stdout: string; stderr: string; heldStdout: string }> {
  // The test's signal kills the command if it never gets there (the test's timeout).
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: REPO_ROOT, env: { ...process.env, NS_DEBUG: '' }, signal });
  child.on('error', () => {});
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number>((res) => child.on('close', (code) => res(code ?? -1)));
  // Either the command streams what it has before reading the FIFO, or it exits (an unknown option,
  // or printing only at the end would wait on the FIFO forever: the test's timeout says so).
  const held = await new Promise<string | null>((res) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (ready(stdout)) res(stdout);
    });
    void exited.then(() => res(null));
  });
  if (held === null) {
    const code = await exited;
    assert.fail(`exited (code ${code}) before streaming anything: ${stderr.trim()}`);
  }
  assert.equal(child.exitCode, null, 'still running: it has not read the last image yet');
  // The command reads a non-image from the FIFO, reports it as skipped and goes on.
  const stop = feed(gate);
  const code = await exited.finally(stop);
  return { code, stdout, stderr, heldStdout: held };
}

describe('predict streams its results', { timeout: 60_000 }, () => {
  it('--jsonl: one JSON object per line, printed as each batch completes', async (t) => {
    const gate = fifo('gate1.jpg');
    const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');
    const r = await runHeldBack(
      ['predict', DOG, gate, '-m', MODEL, '-c', WEIGHTS, '-b', '1', '-k', '3', '--jsonl'],
      gate,
      (s) => lines(s).length >= 1 && s.endsWith('\n'),
      t.signal,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok(lines(r.heldStdout).length >= 1, 'a line before the last image was read');
    const got = lines(r.stdout).map((l) => JSON.parse(l) as { file: string; topk: { index: number; prob: number }[] });
    assert.deepEqual(
      got.map((p) => p.file),
      [DOG],
    );
    assert.equal(got[0]!.topk.length, 3);
    assert.match(r.stderr, /skipped: .*gate1\.jpg/);
  });

  it('--json: the same array as before (JSON, 2-space indent), streamed element by element', async (t) => {
    const gate = fifo('gate2.jpg');
    const copy = join(dir, 'dog copy.jpg');
    copyFileSync(DOG, copy);
    const r = await runHeldBack(
      ['predict', DOG, copy, gate, '-m', MODEL, '-c', WEIGHTS, '-b', '1', '--json'],
      gate,
      (s) => s.includes('"file"'),
      t.signal,
    );
    assert.equal(r.code, 0, r.stderr);
    const parsed = JSON.parse(r.stdout) as { file: string }[];
    assert.equal(r.stdout, `${JSON.stringify(parsed, null, 2)}\n`);
    assert.deepEqual(
      parsed.map((p) => p.file),
      [DOG, copy],
    );
  });

  it('--jsonl --output FILE: written atomically (no temporary file left); no file at all when no image is read', async () => {
    const out = join(dir, 'preds', 'p.jsonl');
    mkdirSync(join(dir, 'preds'));
    const bad = join(dir, 'bad.jpg');
    writeFileSync(bad, 'not an image\n');
    const r = await runCli(['predict', DOG, bad, '-m', MODEL, '-c', WEIGHTS, '-b', '1', '--jsonl', '--output', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '', 'the predictions go to the file');
    const lines = readFileSync(out, 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'ends with a newline');
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { file: string }).file),
      [DOG],
    );
    assert.deepEqual(readdirSync(join(dir, 'preds')), ['p.jsonl'], 'no temporary file left');

    const failed = await runCli(['predict', bad, '-m', MODEL, '-c', WEIGHTS, '--jsonl', '--output', join(dir, 'preds', 'none.jsonl')]);
    assert.equal(failed.code, 1, failed.stderr);
    assert.deepEqual(readdirSync(join(dir, 'preds')), ['p.jsonl'], 'no file, no temporary file, when nothing could be predicted');
    const both = await runCli(['predict', DOG, '-m', MODEL, '-c', WEIGHTS, '--json', '--jsonl']);
    assert.equal(both.code, 2, both.stderr);
  });
});

describe('features streams its rows to disk', { timeout: 60_000 }, () => {
  it('rows are on disk (a spool beside the output) as batches complete; the file is what saveSafetensors writes', async (t) => {
    const images = join(dir, 'four');
    mkdirSync(images);
    for (let i = 0; i < 4; i++) copyFileSync(DOG, join(images, `dog${i}.jpg`));
    const gate = fifo('gate4.jpg');
    const outDir = join(dir, 'features');
    const out = join(outDir, 'f.safetensors');
    const child = spawn(process.execPath, [...CLI, 'features', images, gate, '-m', MODEL, '-c', WEIGHTS, '-b', '1', '--quiet', '-o', out], {
      cwd: REPO_ROOT,
      env: { ...process.env, NS_DEBUG: '' },
      signal: t.signal,
    });
    child.on('error', () => {});
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number>((res) => child.on('close', (code) => res(code ?? -1)));
    // Opening the FIFO's write end completes when the command opens it to read it: it does so when
    // it starts decoding the last batch, which it does after running (and writing) the 3 before
    // the 4th; holding the write end open keeps it waiting there.
    const writer = await open(gate, 'w');
    let spooled: number;
    try {
      spooled = readdirSync(outDir)
        .filter((f) => /^\.f\.safetensors\.pre_logits\.\d+\.\d+\.tmp$/.test(f))
        .reduce((a, f) => a + statSync(join(outDir, f)).size, 0);
      assert.equal(child.exitCode, null, 'still running');
    } finally {
      await writer.write('not an image\n');
      await writer.close();
    }
    const stop = feed(gate);
    const code = await exited.finally(stop);
    assert.ok(spooled >= 3 * 1280 * 4, `${spooled} bytes of rows on disk after 3 of 4 images, ${3 * 1280 * 4} expected at least`);
    assert.equal(code, 0, stderr);

    const { tensors, metadata } = loadSafetensors(out);
    assert.deepEqual([...tensors.get('pre_logits')!.shape], [4, 1280]);
    assert.equal((JSON.parse(metadata['files']!) as string[]).length, 4);
    const again = join(dir, 'again.safetensors');
    saveSafetensors(again, tensors, metadata);
    for (const x of tensors.values()) x.dispose();
    assert.ok(readFileSync(again).equals(readFileSync(out)), 'the same bytes as saveSafetensors writes');
    assert.deepEqual(readdirSync(outDir), ['f.safetensors'], 'no spool or temporary file left');
  });
});
