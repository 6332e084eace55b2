// The stage commands under `noisy-student launch --nproc-per-node 2`, as a user runs them: rank 0
// takes the output folder's job lock and writes, the other rank joins it (it used to fail on rank
// 0's lock), and only rank 0 prints the closing line.
//  - pseudo-label: the 2 ranks split the shards; every file is byte for byte the single process's.
//  - student (with noise, SyncBatchNorm): 2 ranks x batch 4 end with the weights and logged losses of
//    1 process x batch 8 (the comparison through trainModel is student.test.ts; this is the command).
//  - a second launch on a folder another job holds fails naming the lock.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { distributedAvailable } from '../../src/distributed/index.js';
import { acquireJobLock, JOB_LOCK_FILE } from '../../src/util/lock.js';
import { freePort, root } from './spawn.js';
import { stepLosses, weightGap } from './model_dirs.js';

const cli = join(root, 'src/cli/main.ts');
const skip = distributedAvailable() ? false : 'the c10d addon is not built';
const base = mkdtempSync(join(tmpdir(), 'ns-dpcmd-'));
after(() => rmSync(base, { recursive: true, force: true }));
const at = (name: string): string => join(base, name);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cliRun(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
      cwd: root,
      env: { ...process.env, OMP_NUM_THREADS: '1', NS_DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const launch2 = async (args: readonly string[]): Promise<Run> =>
  cliRun(['launch', '--nproc-per-node', '2', '--master-port', String(await freePort()), '--', ...args]);

const ok = (r: Run, what: string): Run => {
  assert.equal(r.code, 0, `${what}: ${r.stderr}`);
  return r;
};

/** The one keyed folder under `parent` holding `marker` (a stage folder: its record.json by default). */
function keyedDir(parent: string, marker = 'record.json'): string {
  const keys = readdirSync(parent).filter((f) => existsSync(join(parent, f, marker)));
  assert.equal(keys.length, 1, `one folder with ${marker} in ${parent}: ${readdirSync(parent).join(', ')}`);
  return join(parent, keys[0]!);
}

/** The data of the tiny `run` configs: 20 labeled images, 40 unlabeled, 20 test, at 32 px. */
const TINY_RUN_DATA = {
  labeled: { data: 'fashion-mnist', perClass: 2 },
  unlabeled: { data: 'rest', limit: 40 },
  test: { data: 'default', limit: 20 },
  imgSize: 32,
};

const SPLIT = ['--labels-per-class', '2', '--seed', '0'];
const LIMIT = '45';

describe('pseudo-label and student under launch (2 ranks)', { skip }, () => {
  const pl = (out: string): string[] => [
    'pseudo-label',
    '--quiet',
    '--model',
    'tinynet_e',
    '--checkpoint',
    join(at('teacher'), 'model'),
    '--data',
    'fashion-mnist',
    ...SPLIT,
    '--limit',
    LIMIT,
    '--shard-size',
    '8',
    '-b',
    '4',
    '--workers',
    '0',
    '-o',
    out,
  ];

  it('pseudo-label: the files of 1 process, byte for byte; one closing line', async () => {
    ok(
      await cliRun([
        'train',
        '--quiet',
        '--model',
        'tinynet_e',
        '--data',
        'fashion-mnist',
        ...SPLIT,
        '--epochs',
        '1',
        '-b',
        '10',
        '--zero-head',
        '--val-limit',
        '10',
        '--workers',
        '0',
        '-o',
        at('teacher'),
      ]),
      'train the teacher',
    );
    const one = ok(await cliRun(pl(at('pl1'))), '1 process');
    const two = ok(await launch2(pl(at('pl2'))), '2 ranks');
    const line = new RegExp(`^${LIMIT} images labeled \\(0 skipped\\); .*index\\.json$`, 'gm');
    assert.equal(one.stdout.match(line)?.length, 1, one.stdout);
    assert.equal(two.stdout.match(line)?.length, 1, `rank 0 alone prints it:\n${two.stdout}`);
    const files = readdirSync(at('pl1')).sort();
    assert.deepEqual(readdirSync(at('pl2')).sort(), files, 'the same files (and no lock left)');
    assert.equal(files.filter((f) => f.startsWith('shard-')).length, 6);
    assert.ok(!files.includes(JOB_LOCK_FILE));
    for (const f of files) assert.ok(readFileSync(join(at('pl1'), f)).equals(readFileSync(join(at('pl2'), f))), `${f} differs`);
  });

  it('pseudo-label --backend auto: rank 0 measures, the other rank labels with its recorded choice', async () => {
    const args = [...pl(at('pl-auto')).filter((a) => a !== '--quiet'), '--backend', 'auto'];
    const two = ok(await launch2(args), '2 ranks, auto');
    const rec = JSON.parse(readFileSync(join(at('pl-auto'), 'backend.json'), 'utf8')) as { configured: string; backend: string };
    assert.equal(rec.configured, 'auto');
    const choices = two.stderr.match(/^(?:\[rank \d\] )?backend: .*$/gm) ?? [];
    assert.equal(choices.length, 2, `one choice line per rank:\n${two.stderr}`);
    assert.equal(choices.filter((l) => l.includes('recorded in')).length, 1, `one rank took the record:\n${two.stderr}`);
    assert.ok(
      choices.every((l) => l.includes(`backend: ${rec.backend} `)),
      `both ranks label with ${rec.backend}:\n${choices.join('\n')}`,
    );
    assert.equal(readdirSync(at('pl-auto')).filter((f) => f.startsWith('shard-')).length, 6);
  });

  it('student: 2 ranks x batch 4 = 1 process x batch 8; one closing line', async () => {
    ok(await cliRun(['filter', '--pseudo', at('pl1'), '--per-class', '20', '--threshold', '0', '-o', at('sel')]), 'filter');
    const student = (batch: number, out: string): string[] => [
      'student',
      '--quiet',
      '--model',
      'tinynet_e',
      '--labeled',
      'fashion-mnist',
      ...SPLIT,
      '--unlabeled',
      'fashion-mnist',
      '--unlabeled-limit',
      LIMIT,
      '--pseudo',
      at('pl1'),
      '--selection',
      at('sel'),
      '--test',
      'fashion-mnist:test',
      // With noise: RandAugment, dropout and drop-path are all keyed per sample, so the ranks draw
      // what one process draws (dropout and drop-path raised so most blocks drop something).
      '--drop-rate',
      '0.5',
      '--drop-path-rate',
      '0.5',
      '--sync-bn',
      '--ratio',
      '1',
      '--epochs',
      '2',
      '--opt',
      'sgd',
      '--lr',
      '0.01',
      '--sched',
      'none',
      // A zero head keeps SGD on this tiny net from amplifying float rounding (~100x per step with a random one).
      '--zero-head',
      '--workers',
      '0',
      '-b',
      String(batch),
      '-o',
      out,
    ];
    const one = ok(await cliRun(student(8, at('st1'))), '1 process');
    const two = ok(await launch2(student(4, at('st2'))), '2 ranks');
    const line = /^student tinynet_e: top1 .* model in .*$/gm;
    assert.equal(one.stdout.match(line)?.length, 1, one.stdout);
    assert.equal(two.stdout.match(line)?.length, 1, `rank 0 alone prints it:\n${two.stdout}`);
    const [d1, d2] = [keyedDir(at('st1')), keyedDir(at('st2'))];
    const g = weightGap(d2, d1);
    assert.ok(g < 1e-4, `weights differ by ${g} (relative L2)`);
    const [l1, l2] = [stepLosses(d1), stepLosses(d2)];
    assert.ok(l1.length >= 4, `${l1.length} steps`);
    assert.equal(l2.length, l1.length, 'rank 0 logged each step once');
    for (let i = 0; i < l1.length; i++)
      assert.ok(Math.abs(l1[i]! - l2[i]!) < 1e-4 * Math.abs(l1[i]!), `step ${i + 1}: ${l2[i]} vs ${l1[i]}`);
    assert.ok(!existsSync(join(at('st2'), JOB_LOCK_FILE)), 'the lock went');
  });

  it('run: a tiny config end to end under launch; rank 0 alone logs and prints the summary', async () => {
    const config = join(base, 'run.json');
    writeFileSync(
      config,
      JSON.stringify({
        seed: 3,
        ...TINY_RUN_DATA,
        teacher: { model: 'tinynet_e', train: { epochs: 1, batchSize: 4, syncBn: true } },
        students: ['tinynet_e'],
        pseudoLabel: { perClass: 4, threshold: 0, shardSize: 8 },
        student: { train: { epochs: 1, batchSize: 4, syncBn: true }, ratio: 1 },
        workers: 0,
      }),
    );
    const r = ok(await launch2(['run', '--quiet', '--config', config, '-o', at('run')]), 'run');
    assert.equal(r.stdout.match(/^teacher +tinynet_e +top1/gm)?.length, 1, r.stdout);
    assert.equal(r.stdout.match(/^generation 1: pseudo-labelling/gm)?.length, 1, r.stdout);
    assert.equal(r.stdout.match(/summary\.json and report\.html in/g)?.length, 1, r.stdout);
    const s = JSON.parse(readFileSync(join(at('run'), 'summary.json'), 'utf8')) as { generations: unknown[] };
    assert.equal(s.generations.length, 1);
    assert.ok(existsSync(join(at('run'), 'report.html')));
    assert.ok(!existsSync(join(at('run'), JOB_LOCK_FILE)), 'the lock went');
  });

  it('run: 2 ranks x batch 4 end where 1 process x batch 8 ends (teacher, pseudo-labels, noised student)', async () => {
    // The whole loop data parallel against one process with the global batch, up to float rounding.
    // SGD with a zero head and no schedule keeps rounding from growing (as in the train test).
    // Two pairs of runs: one trains the teacher (its weights compared); a teacher this briefly
    // trained is nearly uniform, so its pseudo-labels' ranking turns on differences the size of
    // float rounding. The second pair starts from the first run's teacher, so its selection must
    // match byte for byte and its noised student to float rounding.
    const recipe = { epochs: 2, syncBn: true, opt: 'sgd', lr: 0.01, sched: 'none', zeroHead: true };
    const config = (batchSize: number, teacherCheckpoint?: string): string => {
      const f = join(base, `run-b${batchSize}${teacherCheckpoint ? '-ckpt' : ''}.json`);
      writeFileSync(
        f,
        JSON.stringify({
          seed: 5,
          ...TINY_RUN_DATA,
          teacher: {
            model: 'tinynet_e',
            ...(teacherCheckpoint ? { checkpoint: teacherCheckpoint } : {}),
            train: { ...recipe, batchSize },
          },
          students: ['tinynet_e'],
          pseudoLabel: { perClass: 4, threshold: 0, shardSize: 8, kind: 'hard' },
          student: { train: { ...recipe, batchSize }, ratio: 1, dropRate: 0.5, dropPathRate: 0.5, warmStart: true },
          workers: 0,
        }),
      );
      return f;
    };
    const sameWeights = (stage: string, two: string, one: string): void => {
      const [d2, d1] = [keyedDir(join(two, stage)), keyedDir(join(one, stage))];
      const g = weightGap(d2, d1);
      assert.ok(g < 1e-4, `${stage}: weights differ by ${g} (relative L2); step losses ${stepLosses(d2)} vs ${stepLosses(d1)}`);
    };
    ok(await cliRun(['run', '--quiet', '--config', config(8), '-o', at('run1')]), '1 process');
    ok(await launch2(['run', '--quiet', '--config', config(4), '-o', at('run2')]), '2 ranks');
    sameWeights('teacher', at('run2'), at('run1'));

    const teacher = join(keyedDir(join(at('run1'), 'teacher')), 'model');
    ok(await cliRun(['run', '--quiet', '--config', config(8, teacher), '-o', at('run3')]), '1 process, given teacher');
    ok(await launch2(['run', '--quiet', '--config', config(4, teacher), '-o', at('run4')]), '2 ranks, given teacher');
    const selection = (dir: string): string =>
      readFileSync(join(keyedDir(join(dir, 'gen-1', 'filter'), 'selection.json'), 'selection.json'), 'utf8');
    assert.equal(selection(at('run4')), selection(at('run3')), 'the same pseudo-labels selected');
    sameWeights('gen-1/student', at('run4'), at('run3'));
    type Summary = { generations: { student: { top1: number } }[] };
    const [s3, s4] = [at('run3'), at('run4')].map((d) => JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')) as Summary);
    assert.equal(s4!.generations[0]!.student.top1, s3!.generations[0]!.student.top1);
  });

  it('a folder held by another job: the launch fails naming the lock, and leaves it', async () => {
    const held = acquireJobLock(at('busy'), 'a test holding the folder');
    try {
      const r = await launch2(pl(at('busy')));
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /is in use by another job \(pid \d+.*"a test holding the folder"/);
      assert.ok(existsSync(join(at('busy'), JOB_LOCK_FILE)));
      assert.ok(!existsSync(join(at('busy'), 'index.json')), 'nothing labelled');
    } finally {
      held.release();
    }
  });
});
