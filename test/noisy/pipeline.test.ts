// Noisy Student end to end at CI size: a tiny model, a few hundred images, two generations; then the
// same run killed (SIGKILL) in the middle of pseudo-labelling and of student training and resumed,
// ending with the same summary.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';
import type { RunEvaluation } from '../../src/noisy/index.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ns-run-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const CONFIG = {
  seed: 3,
  labeled: { data: 'fashion-mnist', perClass: 10 },
  unlabeled: { data: 'rest', limit: 300 },
  test: { data: 'default', limit: 200 },
  teacher: { model: 'tinynet_e', train: { epochs: 3, batchSize: 20, lr: 3e-3 } },
  students: ['tinynet_e', 'tinynet_e'],
  pseudoLabel: { perClass: 20, threshold: 0, shardSize: 50 },
  student: { train: { epochs: 2, batchSize: 10, lr: 2e-3 }, ratio: 3, checkpointEvery: 2 },
  curveEvalLimit: 100,
  workers: 0,
};

function findFile(root: string, pred: (name: string) => boolean): boolean {
  if (!existsSync(root)) return false;
  for (const e of readdirSync(root, { withFileTypes: true })) {
    const p = join(root, e.name);
    if (e.isDirectory() ? findFile(p, pred) : pred(p)) return true;
  }
  return false;
}

const summaryOf = (out: string): unknown => {
  const s = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as Record<string, unknown>;
  delete s['seconds'];
  return s;
};

describe('noisy-student run', () => {
  const configFile = join(tmp(), 'ns.json');
  writeFileSync(configFile, JSON.stringify(CONFIG));
  const args = (out: string): string[] => ['--import', 'tsx', 'src/cli/main.ts', 'run', '--quiet', '--config', configFile, '--output', out];

  let straight = '';
  it('runs two generations and writes summary.json and a self-contained report.html', () => {
    straight = tmp();
    const r = spawnSync(process.execPath, args(straight), { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /teacher +tinynet_e +top1/);
    assert.match(r.stdout, /student 2 tinynet_e/);
    const s = JSON.parse(readFileSync(join(straight, 'summary.json'), 'utf8'));
    assert.equal(s.teacher.model, 'tinynet_e');
    assert.equal(s.generations.length, 2);
    for (const g of s.generations) {
      assert.ok(g.student.top1 >= 0 && g.student.top1 <= 1 && g.student.top5 >= g.student.top1);
      // Threshold 0: every image passes; classes are balanced to about K = 20 (a weak teacher fills few classes).
      assert.ok(g.pseudoLabels.kept > 0 && g.pseudoLabels.kept <= 10 * 20 * 1.3, `kept ${g.pseudoLabels.kept}`);
      assert.ok(g.pseudoLabels.accuracy >= 0 && g.pseudoLabels.accuracy <= 1);
      assert.equal(g.pseudoLabels.threshold, 0);
    }
    assert.deepEqual(s.config.students, ['tinynet_e', 'tinynet_e']);
    const html = readFileSync(join(straight, 'report.html'), 'utf8');
    assert.ok(!/(src|href)=["']https?:/.test(html), 'report.html references the network');
    assert.ok(html.includes('<svg') && html.includes('data:image/png;base64'));
    // Rerunning a finished run redoes nothing and reports the same.
    const again = spawnSync(process.execPath, args(straight), { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /done before/);
  });

  it('evaluate --run scores the run’s own teacher, students and pseudo-labels again: the same figures', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'evaluate', '--run', straight, '--json'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const ev = JSON.parse(r.stdout) as RunEvaluation;
    const s = JSON.parse(readFileSync(join(straight, 'summary.json'), 'utf8'));
    assert.deepEqual(JSON.parse(readFileSync(join(straight, 'evaluation.json'), 'utf8')), ev);
    assert.equal(ev.unfinished, 0);
    assert.deepEqual(
      [ev.teacher.model, ev.teacher.top1, ev.teacher.top5, ev.teacher.images],
      [s.teacher.model, s.teacher.top1, s.teacher.top5, 200],
    );
    assert.equal(ev.generations.length, 2);
    ev.generations.forEach((g, i) => {
      const sg = s.generations[i];
      assert.deepEqual([g.student.top1, g.student.top5], [sg.student.top1, sg.student.top5]);
      assert.ok(g.pseudoLabels);
      assert.equal(g.pseudoLabels.overall.accuracy, sg.pseudoLabels.accuracy);
      assert.equal(g.pseudoLabels.balanced?.accuracy, sg.pseudoLabels.balancedAccuracy);
      assert.equal(g.pseudoLabels.kept, sg.pseudoLabels.kept);
      assert.equal(g.pseudoLabels.images, 300);
    });
    // Generation 2 was scored with generation 1's student as the teacher: its pseudo-labels differ.
    assert.notDeepEqual(ev.generations[0]!.pseudoLabels, ev.generations[1]!.pseudoLabels);
  });

  it('the stage commands run by hand on the run’s teacher write byte-identical pseudo-labels, selection and stats', () => {
    const cli = (a: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...a], { cwd: REPO_ROOT, encoding: 'utf8' });
    const only = (root: string): string => {
      const d = readdirSync(root);
      assert.equal(d.length, 1, `${root} holds one keyed folder`);
      return join(root, d[0]!);
    };
    const teacherModel = join(only(join(straight, 'teacher')), 'model');
    const runPseudo = only(join(straight, 'gen-1', 'pseudo'));
    const runFilter = only(join(straight, 'gen-1', 'filter'));
    const byHand = tmp();
    const pl = cli([
      'pseudo-label',
      '--quiet',
      '--model',
      'tinynet_e',
      '--checkpoint',
      teacherModel,
      '--data',
      'fashion-mnist',
      '--labels-per-class',
      '10',
      '--seed',
      '3',
      '--limit',
      '300',
      '--shard-size',
      '50',
      '--workers',
      '0',
      '-o',
      join(byHand, 'pseudo'),
    ]);
    assert.equal(pl.status, 0, pl.stderr);
    const files = (d: string): string[] =>
      readdirSync(d)
        .filter((f) => f !== 'elapsed.json')
        .sort();
    assert.deepEqual(files(join(byHand, 'pseudo')), files(runPseudo));
    assert.ok(files(runPseudo).includes('index.json') && files(runPseudo).includes('manifest.json'));
    for (const f of files(runPseudo))
      assert.ok(readFileSync(join(byHand, 'pseudo', f)).equals(readFileSync(join(runPseudo, f))), `${f} differs`);
    // The run's filter settings: K = 20, threshold 0, the run's seed.
    const filterCli = (pseudo: string, out: string) =>
      cli(['filter', '--pseudo', pseudo, '--per-class', '20', '--threshold', '0', '--seed', '3', '-o', out]);
    const fl = filterCli(join(byHand, 'pseudo'), join(byHand, 'filter'));
    assert.equal(fl.status, 0, fl.stderr);
    assert.deepEqual(files(join(byHand, 'filter')), ['selection.json', 'stats.json']);
    for (const f of ['selection.json', 'stats.json'])
      assert.ok(readFileSync(join(byHand, 'filter', f)).equals(readFileSync(join(runFilter, f))), `${f} differs`);
    // And the run's own folders feed the stage commands: filter reads the run's pseudo-labels.
    const fr = filterCli(runPseudo, join(byHand, 'filter2'));
    assert.equal(fr.status, 0, fr.stderr);
    assert.ok(readFileSync(join(byHand, 'filter2', 'selection.json')).equals(readFileSync(join(runFilter, 'selection.json'))));
  });

  it('a finished run moved to another path trains nothing again, and evaluate and report work on it', () => {
    const moved = join(tmp(), 'moved-run');
    cpSync(straight, moved, { recursive: true });
    // The original is out of the way while the moved copy runs: nothing may read it.
    const away = `${straight}.away`;
    renameSync(straight, away);
    try {
      const r = spawnSync(process.execPath, args(moved), { cwd: REPO_ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.doesNotMatch(r.stdout, /epoch \d+\/\d+: train loss/);
      assert.match(r.stdout, /teacher tinynet_e: .*\(done before\)/);
      assert.equal(r.stdout.match(/^ {2}student tinynet_e: .*\(done before\)$/gm)?.length, 2, r.stdout);
      const ev = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'evaluate', '--run', moved, '--json'], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      });
      assert.equal(ev.status, 0, ev.stderr);
      assert.equal((JSON.parse(ev.stdout) as RunEvaluation).generations.length, 2);
      const rep = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'report', '--run', moved], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      });
      assert.equal(rep.status, 0, rep.stderr);
      // No record holds a path.
      const records = readdirSync(join(moved, 'teacher')).map((k) => readFileSync(join(moved, 'teacher', k, 'record.json'), 'utf8'));
      for (const rec of records) assert.ok(!rec.includes(straight) && !rec.includes(moved), 'a record holds a path');
    } finally {
      renameSync(away, straight);
    }
    assert.deepEqual(summaryOf(moved), summaryOf(straight));
  });

  it('a run directory of the older layout is refused with what to do', () => {
    const old = tmp();
    cpSync(join(straight, 'config.json'), join(old, 'config.json'));
    mkdirSync(join(old, 'teacher'));
    writeFileSync(join(old, 'teacher', 'done.json'), JSON.stringify({ hash: 'x', result: {}, seconds: 1 }));
    const r = spawnSync(process.execPath, args(old), { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /made by an older noisy-student.*run into a new output folder/);
  });

  it('report --run rebuilds report.html from disk; --ablation puts a --no-noise run of the same config beside it', () => {
    const cli = (a: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...a], { cwd: REPO_ROOT, encoding: 'utf8' });
    const stamp = (html: string): string => html.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'T');
    const again = join(tmp(), 'again.html');
    const r = cli(['report', '--run', straight, '-o', again]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(stamp(readFileSync(again, 'utf8')), stamp(readFileSync(join(straight, 'report.html'), 'utf8')));

    const plain = tmp();
    const n = cli(['run', '--quiet', '--config', configFile, '--no-noise', '--output', plain]);
    assert.equal(n.status, 0, n.stderr);
    assert.match(n.stdout, /student 2 tinynet_e/);
    const ps = JSON.parse(readFileSync(join(plain, 'summary.json'), 'utf8'));
    assert.equal(ps.config.student.noise, false);
    // The same teacher (its stage does not depend on the students' noise), other students.
    assert.deepEqual(ps.teacher, JSON.parse(readFileSync(join(straight, 'summary.json'), 'utf8')).teacher);
    const both = join(tmp(), 'both.html');
    const b = cli(['report', '--run', straight, '--ablation', plain, '-o', both]);
    assert.equal(b.status, 0, b.stderr);
    const html = readFileSync(both, 'utf8');
    assert.ok(html.includes('student 1 (no noise)') && html.includes('student 2 (no noise)'), 'no-noise curves in the report');
    assert.ok(html.length > readFileSync(again, 'utf8').length);
    // The ablation must be the same config without noise.
    const wrong = cli(['report', '--run', plain, '--ablation', straight]);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /trained its students with noise/);

    // Students without noise do not depend on the noise strengths: tuning them leaves the ablation
    // done, and it still pairs with the noised run.
    const retuned = join(tmp(), 'retuned.json');
    writeFileSync(
      retuned,
      JSON.stringify({ ...CONFIG, student: { ...CONFIG.student, randAugment: 'rand-m3-n1', dropRate: 0.5, dropPathRate: 0.05 } }),
    );
    const again2 = cli(['run', '--quiet', '--config', retuned, '--no-noise', '--output', plain]);
    assert.equal(again2.status, 0, again2.stderr);
    assert.equal(again2.stdout.match(/^ {2}student tinynet_e: .*\(done before\)$/gm)?.length, 2, again2.stdout);
    assert.equal(cli(['report', '--run', straight, '--ablation', plain, '-o', both]).status, 0);
    // Another training setting (here the batch ratio) is another run, not an ablation.
    const other = tmp();
    cpSync(plain, other, { recursive: true });
    const oc = JSON.parse(readFileSync(join(other, 'config.json'), 'utf8'));
    writeFileSync(join(other, 'config.json'), JSON.stringify({ ...oc, student: { ...oc.student, ratio: 2 } }));
    const r2 = cli(['report', '--run', straight, '--ablation', other]);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /is not the same run without noise: its student differ/);
  });

  it('killed mid pseudo-labelling and mid student training, then resumed: the same summary', async () => {
    const out = tmp();
    const killWhen = async (pred: () => boolean): Promise<boolean> => {
      const child = spawn(process.execPath, args(out), { cwd: REPO_ROOT, stdio: 'ignore' });
      const closed = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
      let killed = false;
      const timer = setInterval(() => {
        if (!killed && pred()) {
          killed = true;
          child.kill('SIGKILL');
        }
      }, 5);
      await closed;
      clearInterval(timer);
      return killed;
    };
    // 1: kill once the second pseudo-label shard of generation 1 is on disk (of 6).
    const k1 = await killWhen(() => findFile(join(out, 'gen-1', 'pseudo'), (p) => p.endsWith('shard-00001.safetensors')));
    // 2: kill once generation 2's student has a mid-epoch checkpoint.
    const k2 = await killWhen(() => findFile(join(out, 'gen-2', 'student'), (p) => /checkpoints\/ckpt-\d+\/checkpoint\.json$/.test(p)));
    assert.ok(k1 && k2, 'both kills happened before the run finished');
    const r = spawnSync(process.execPath, args(out), { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(summaryOf(out), summaryOf(straight));
  });
});
