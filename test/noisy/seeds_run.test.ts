// `run --seeds 0,1 --ablate noise --oracle` at CI size: the seed folders, seeds.json recomputed here
// from each seed's own summary.json, the oracle's budget against the final student's (its steps in
// metrics.jsonl), the ablation trained beside the main student from the same teacher and
// pseudo-labels (one folder each, not rewritten when more variants are added), and both reports
// loaded in headless Chromium.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';
import { chromiumOrSkip, renderInChromium } from './chromium.js';

const root = mkdtempSync(join(tmpdir(), 'ns-seeds-'));
after(() => rmSync(root, { recursive: true, force: true }));

// 5 labels per class, 60 unlabeled images, one student generation of 1 epoch.
const CONFIG = {
  labeled: { data: 'fashion-mnist', perClass: 5 },
  unlabeled: { data: 'rest', limit: 60 },
  test: { data: 'default', limit: 50 },
  teacher: { model: 'tinynet_e', train: { epochs: 1, batchSize: 10, lr: 3e-3 } },
  students: ['tinynet_e'],
  pseudoLabel: { perClass: 6, threshold: 0, shardSize: 30, kind: 'hard' },
  student: { train: { epochs: 1, batchSize: 5, lr: 2e-3 }, ratio: 2, warmStart: true },
  curveEvalLimit: 20,
  workers: 0,
};
const configFile = join(root, 'ns.json');
writeFileSync(configFile, JSON.stringify(CONFIG));
const cli = (...a: string[]): ReturnType<typeof spawnSync> =>
  spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'run', '--config', configFile, ...a], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
  });
const json = (p: string): any => JSON.parse(readFileSync(p, 'utf8')); // eslint-disable-line @typescript-eslint/no-explicit-any
const dirs = (p: string): string[] => (existsSync(p) ? readdirSync(p).filter((n) => statSync(join(p, n)).isDirectory()) : []);
const lastStep = (metrics: string): number =>
  Math.max(
    ...readFileSync(metrics, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step?: number })
      .map((r) => r.step ?? 0),
  );
// Mean and sample sd, written out again here rather than imported.
const mean = (v: number[]): number => v.reduce((a, x) => a + x, 0) / v.length;
const sd = (v: number[]): number => Math.sqrt(v.reduce((a, x) => a + (x - mean(v)) ** 2, 0) / (v.length - 1));
const near = (a: number, b: number): void => assert.ok(Math.abs(a - b) < 1e-9, `${a} vs ${b}`);

describe('run --seeds --ablate --oracle', () => {
  const out = join(root, 'exp');

  it('runs each seed into OUTPUT/seed-<n>/ and writes seeds.json with mean ± sd and paired gains', () => {
    const r = cli('--quiet', '--seeds', '0,1', '--ablate', 'noise', '--oracle', '--output', out);
    assert.equal(r.status, 0, String(r.stderr));
    assert.match(String(r.stdout), /over 2 seeds: teacher .* ± .*gain [+-]\d+\.\d+ ± \d+\.\d+ pt \(paired\)/);
    assert.match(String(r.stdout), /main − noise: [+-]\d+\.\d+ ± \d+\.\d+ pt, main wins on \d of 2/);
    for (const s of [0, 1]) {
      const d = join(out, `seed-${s}`);
      for (const f of ['config.json', 'summary.json', 'report.html', 'ablations/noise/summary.json', 'ablations/noise/config.json'])
        assert.ok(existsSync(join(d, f)), `seed-${s}/${f}`);
      assert.equal(json(join(d, 'config.json')).seed, s);
      assert.equal(json(join(d, 'ablations/noise/config.json')).student.noise, false);
    }
    const agg = json(join(out, 'seeds.json'));
    assert.match(agg.format, /^noisy-student\/seeds@/);
    assert.deepEqual(agg.seeds, [0, 1]);
    const sums = [0, 1].map((s) => json(join(out, `seed-${s}`, 'summary.json')));
    const abl = [0, 1].map((s) => json(join(out, `seed-${s}`, 'ablations/noise/summary.json')));
    const t = sums.map((s) => s.teacher.top1);
    const st = sums.map((s) => s.generations[0].student.top1);
    const o = sums.map((s) => s.oracle.top1);
    const nn = abl.map((s) => s.generations[0].student.top1);
    near(agg.mean.teacher.top1.mean, mean(t));
    near(agg.mean.teacher.top1.sd, sd(t));
    near(agg.mean.generations[0].student.top5.mean, mean(sums.map((s) => s.generations[0].student.top5)));
    const gains = st.map((v, i) => v - t[i]);
    near(agg.mean.gain.mean, mean(gains));
    near(agg.mean.gain.sd, sd(gains));
    near(agg.mean.generations[0].pseudoLabels.kept.mean, mean(sums.map((s) => s.generations[0].pseudoLabels.kept)));
    near(agg.mean.oracle.top1.mean, mean(o));
    const margins = st.map((v, i) => v - nn[i]);
    near(agg.mean.ablations[0].margin.mean, mean(margins));
    near(agg.mean.ablations[0].margin.sd, sd(margins));
    sums.forEach((s, i) => {
      const gap = o[i] - t[i];
      assert.equal(agg.runs[i].gapClosed, gap > 0 ? (st[i] - t[i]) / gap : null);
    });
  });

  it('the oracle: all true labels (labeled + unlabeled images), the final student’s steps and batch size', () => {
    const d = join(out, 'seed-0');
    const [okey] = dirs(join(d, 'oracle'));
    const rec = json(join(d, 'oracle', okey!, 'record.json'));
    assert.equal(rec.stage, 'oracle');
    const b = rec.inputs.budget;
    assert.equal(b.images, 5 * 10 + 60);
    // The student: B = 5 labeled + r·B = 10 pseudo-labeled images per step.
    assert.equal(b.batchSize, 15);
    const student = dirs(join(d, 'gen-1', 'student')).map((k) => json(join(d, 'gen-1', 'student', k, 'record.json')));
    const main = student.find((s) => s.inputs.recipe.aug !== '')!;
    const studentSteps = lastStep(join(d, 'gen-1', 'student', main.key, 'metrics.jsonl'));
    assert.equal(lastStep(join(d, 'oracle', okey!, 'metrics.jsonl')), studentSteps);
    assert.equal(b.steps, studentSteps);
    // Warm-started like the final student, from the same teacher.
    assert.deepEqual(rec.inputs.warmStart, main.inputs.warmStart);
    assert.ok(rec.eval.confusion.flat().reduce((a: number, v: number) => a + v, 0) === 50, 'a confusion matrix of the 50 test images');
  });

  it('ablations reuse the teacher and pseudo-labels by their keys; adding one retrains only its student', () => {
    const d = join(out, 'seed-0');
    assert.equal(dirs(join(d, 'teacher')).length, 1);
    assert.equal(dirs(join(d, 'gen-1', 'pseudo')).length, 1);
    assert.equal(dirs(join(d, 'gen-1', 'filter')).length, 1);
    assert.equal(dirs(join(d, 'gen-1', 'student')).length, 2, 'the main student and the no-noise variant');
    const [tkey] = dirs(join(d, 'teacher'));
    const [pkey] = dirs(join(d, 'gen-1', 'pseudo'));
    const pdir = join(d, 'gen-1', 'pseudo', pkey!);
    // The shards, manifest and backend record are not written again; the index is rewritten with the same bytes.
    const watched = [
      join(d, 'teacher', tkey!, 'record.json'),
      ...readdirSync(pdir)
        .filter((f) => f !== 'index.json' && f !== 'elapsed.json')
        .map((f) => join(pdir, f)),
    ];
    assert.ok(watched.some((f) => f.endsWith('.safetensors')));
    const before = watched.map((f) => statSync(f).mtimeMs);
    const index = readFileSync(join(pdir, 'index.json'));
    const r = cli('--seed', '0', '--ablate', 'noise,ratio=1', '--oracle', '--output', d);
    assert.equal(r.status, 0, String(r.stderr));
    assert.match(String(r.stdout) + String(r.stderr), /teacher tinynet_e: top1 .*\(done before\)/);
    assert.deepEqual(
      watched.map((f) => statSync(f).mtimeMs),
      before,
      'teacher record and pseudo-label shards untouched',
    );
    assert.ok(readFileSync(join(pdir, 'index.json')).equals(index));
    assert.equal(dirs(join(d, 'teacher')).length, 1);
    assert.equal(dirs(join(d, 'gen-1', 'pseudo')).length, 1);
    assert.equal(dirs(join(d, 'gen-1', 'student')).length, 3, 'only the ratio=1 student is new');
    assert.equal(json(join(d, 'ablations', 'ratio=1', 'summary.json')).ablation, 'ratio=1');
    // The run's own config.json is still the main run's.
    assert.equal(json(join(d, 'config.json')).student.noise, true);
    assert.match(String(r.stdout), /ablation ratio=1 +top1/);
  });

  it('report --run on the seeds folder writes seeds.json and its report again from the seed folders', () => {
    const report = (): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'report', '--run', out], { cwd: REPO_ROOT, encoding: 'utf8' });
    const strip = ({ environment: _e, ...rest }: Record<string, unknown>): Record<string, unknown> => rest;
    const was = json(join(out, 'seeds.json'));
    rmSync(join(out, 'seeds.json'));
    rmSync(join(out, 'report.html'));
    let r = report();
    assert.equal(r.status, 0, String(r.stderr));
    assert.equal(String(r.stdout).trim(), join(out, 'report.html'));
    assert.ok(existsSync(join(out, 'report.html')));
    // seed-0 now also has the ratio=1 variant (the test above); the ablations every seed has are kept.
    assert.deepEqual(strip(json(join(out, 'seeds.json'))), strip(was), 'the same figures as the run wrote');
    // A seed without its summary (not finished) is left out, and said so.
    const s1 = join(out, 'seed-1', 'summary.json');
    const kept = readFileSync(s1);
    rmSync(s1);
    try {
      r = report();
      assert.equal(r.status, 0, String(r.stderr));
      assert.match(String(r.stderr), /seeds 1 have not finished \(no summary\.json\) and are left out/);
      assert.deepEqual(json(join(out, 'seeds.json')).seeds, [0]);
    } finally {
      writeFileSync(s1, kept);
    }
    r = report();
    assert.equal(r.status, 0, String(r.stderr));
    assert.deepEqual(strip(json(join(out, 'seeds.json'))), strip(was));
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'report', '--run', out, '--ablation', out], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
    });
    assert.notEqual(bad.status, 0);
    assert.match(String(bad.stderr), /--ablation and --output do not apply/);
  });

  it('refuses an unknown ablation before training anything', () => {
    const r = cli('--ablate', 'noise,dropout', '--output', join(root, 'never'));
    assert.equal(r.status, 2);
    assert.match(String(r.stderr), /unknown ablation "dropout"; valid: noise, soft, warm-start, ratio=N/);
    assert.ok(!existsSync(join(root, 'never')));
  });

  it('both reports render in headless Chromium with their charts and no errors', (t) => {
    const c = chromiumOrSkip();
    if ('skip' in c) return t.skip(c.skip);
    for (const f of [join(out, 'report.html'), join(out, 'seed-0', 'report.html')]) {
      const html = readFileSync(f, 'utf8');
      assert.ok(!/(src|href)=["'](?!data:|#)/.test(html), `${f} references another file`);
      const { dom, errors } = renderInChromium(c.bin, f);
      assert.deepEqual(errors, [], `${f}: ${errors.join('\n')}`);
      const svgs = (dom.match(/<svg/g) ?? []).length;
      assert.equal(svgs, (html.match(/<svg/g) ?? []).length);
      assert.ok(svgs >= 4, `${f}: ${svgs} charts`);
      assert.match(dom, /id="per-class"/);
    }
    const dom = renderInChromium(c.bin, join(out, 'report.html')).dom;
    assert.match(dom, /Gain over the teacher/);
    assert.match(dom, /id="ablations"/);
    assert.match(dom, / ± /);
  });
});
