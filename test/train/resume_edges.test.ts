// Resume edge cases (issue 12, item 10): a latest checkpoint corrupt behind its manifest's back (right
// size, other bytes) is set aside with a warning and the previous one resumed; the temporary files
// and checkpoint folders of a killed process are removed when the next job starts (a lock file and a
// live writer's files are not); every rename is followed by an fsync of its directory (seen with strace).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { liveTensorCount, noGrad, randn, scope, type Tensor } from '../../src/torch/index.js';
import { SGD } from '../../src/train/optim/index.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { resolveNoisyStudentConfig, runNoisyStudent } from '../../src/noisy/index.js';
import { REPO_ROOT } from '../helpers/paths.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ns-resume-'));
  dirs.push(d);
  return d;
};
/** The pid of a process that has exited: what a killed job's leftovers carry. */
const deadPid = (): number => spawnSync(process.execPath, ['-e', '']).pid!;

function model(seed: number): Map<string, Tensor> {
  return noGrad(() =>
    scope(
      () =>
        new Map([
          ['fc.weight', randn([4, 3]).mul(seed).requiresGrad_(true).keep()],
          ['fc.bias', randn([4]).requiresGrad_(true).keep()],
        ]),
    ),
  );
}

describe('resume edge cases', () => {
  it('a corrupt latest checkpoint of the right size: set aside with a warning, the previous one resumed', () => {
    const start = liveTensorCount();
    const dir = join(tmp(), 'checkpoints');
    const m = model(1);
    const opt = new SGD([{ params: [...m] }], { lr: 0.1, momentum: 0.9 });
    saveCheckpoint(dir, { step: 1, epoch: 0, model: m, optimizer: opt }, { keepLast: 2 });
    saveCheckpoint(dir, { step: 2, epoch: 0, model: m, optimizer: opt }, { keepLast: 2 });
    const bad = latestCheckpoint(dir)!.path;
    const f = join(bad, 'model.safetensors');
    const bytes = readFileSync(f);
    bytes[bytes.length - 3]! ^= 0x5a; // same size, other weights
    writeFileSync(f, bytes);

    const warnings: string[] = [];
    const loaded = loadCheckpoint(dir, { optimizer: opt, onWarning: (w) => warnings.push(w) });
    assert.ok(loaded, 'resumed from something');
    assert.equal(loaded.step, 1);
    for (const t of loaded.model.values()) t.dispose();
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, new RegExp(`${bad.replace(/[/.]/g, '\\$&')} is corrupt.*set aside as`));
    // Kept for inspection under another name, out of the way of listing and pruning.
    const aside = readdirSync(dir).filter((n) => n.startsWith('ckpt-0000000002.corrupt-'));
    assert.equal(aside.length, 1);
    assert.ok(readFileSync(join(dir, aside[0]!, 'model.safetensors')).equals(bytes));
    assert.equal(latestCheckpoint(dir)!.step, 1);
    // The resumed run saves step 2 again; the evidence stays.
    saveCheckpoint(dir, { step: 2, epoch: 0, model: m, optimizer: opt }, { keepLast: 2 });
    assert.equal(latestCheckpoint(dir)!.step, 2);
    assert.ok(existsSync(join(dir, aside[0]!)));
    for (const t of m.values()) t.dispose();
    assert.equal(liveTensorCount(), start);
  });

  it('the next start removes a killed run’s temporary files and checkpoint folders, and nothing else', async () => {
    const out = tmp();
    const dead = deadPid();
    const ck = join(out, 'teacher', 'k1', 'checkpoints');
    mkdirSync(join(ck, `.tmp-ckpt-7-${dead}-1700000000000`), { recursive: true });
    writeFileSync(join(ck, `.tmp-ckpt-7-${dead}-1700000000000`, 'model.safetensors'), 'torn');
    const stale = [join(out, `.summary.json.${dead}.3.tmp`), join(out, 'gen-1', 'pseudo', 'k2', `.shard-00001.safetensors.${dead}.9.tmp`)];
    const kept = [
      join(out, `.report.html.${process.pid}.1.tmp`), // a live writer's (here: this process's)
      join(out, 'notes.txt'),
    ];
    for (const p of [...stale, ...kept]) {
      mkdirSync(dirname(p), { recursive: true });
      writeFileSync(p, 'x');
    }
    writeFileSync(
      join(out, 'config.json'),
      JSON.stringify(
        resolveNoisyStudentConfig({
          labeled: { data: 'fashion-mnist', perClass: 10 },
          unlabeled: { limit: 20 },
          test: { limit: 20 },
          teacher: { model: 'tinynet_e' },
          students: ['tinynet_e'],
          pseudoLabel: { perClass: 2 },
          workers: 0,
        }),
      ),
    );
    const c = new AbortController();
    c.abort(new Error('stopped by the test'));
    const cfg = resolveNoisyStudentConfig(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')));
    await assert.rejects(runNoisyStudent(cfg, out, { signal: c.signal }));
    for (const p of stale) assert.ok(!existsSync(p), `${p} was left`);
    assert.deepEqual(readdirSync(ck), [], 'the killed save’s temporary checkpoint folder was left');
    for (const p of kept) assert.ok(existsSync(p), `${p} was removed`);
  });

  it('every rename of a file or a checkpoint is followed by an fsync of its directory', (t) => {
    if (spawnSync('strace', ['-V']).status !== 0) return t.skip('strace is not installed');
    const dir = tmp();
    const script = `
      const { atomicWriteFile } = await import('./src/util/atomic_write.ts');
      const { saveCheckpoint } = await import('./src/train/checkpoint.ts');
      const { randn } = await import('./src/torch/index.ts');
      atomicWriteFile(${JSON.stringify(join(dir, 'a', 'out.json'))}, '{}');
      const m = new Map([['w', randn([3, 3]).keep()]]);
      saveCheckpoint(${JSON.stringify(join(dir, 'ck'))}, { step: 1, epoch: 0, model: m });
      saveCheckpoint(${JSON.stringify(join(dir, 'ck'))}, { step: 1, epoch: 0, model: m }); // re-saved: two renames
    `;
    const trace = join(dir, 'trace');
    const r = spawnSync(
      'strace',
      ['-f', '-qq', '-e', 'trace=rename,renameat,renameat2,openat,fsync', '-o', trace, process.execPath, '--import', 'tsx', '-e', script],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const lines = readFileSync(trace, 'utf8').split('\n');
    let renames = 0;
    lines.forEach((line, i) => {
      const m = /rename(?:at2?)?\(.*"([^"]+)", (?:AT_FDCWD, )?"([^"]+)"/.exec(line);
      if (!m || !m[1]!.startsWith(dir)) return;
      renames++;
      const parent = dirname(m[2]!);
      const rest = lines.slice(i + 1);
      const open = rest.map((l) => new RegExp(`openat\\(AT_FDCWD, "${parent}", O_RDONLY[^)]*\\) = (\\d+)`).exec(l)).find((x) => x);
      assert.ok(open, `no open of ${parent} after renaming to ${m[2]}`);
      assert.ok(
        rest.some((l) => l.includes(`fsync(${open[1]})`)),
        `${parent} not fsynced after renaming to ${m[2]}`,
      );
    });
    // out.json; per save 2 files + the manifest + the folder; the second save's move aside.
    assert.ok(renames >= 10, `saw ${renames} renames`);
  });
});
