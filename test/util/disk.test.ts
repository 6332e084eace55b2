// Disk space (issue 12, item 13): a stage whose writes cannot fit stops before it starts, saying what
// it needs and what is free; a write that still runs out of space (a real 2 MB tmpfs, mounted when
// the test runs as root) leaves the previous file or checkpoint intact, removes its temporary file
// and says which file and that the disk is full.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createModel, subset } from '../../src/index.js';
import { pseudoLabel } from '../../src/noisy/index.js';
import { resolveDataSpec, trainingDataConfig } from '../../src/train/data_spec.js';
import { latestCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';
import { liveTensorCount, noGrad, randn, scope, type Tensor } from '../../src/torch/index.js';
import { atomicWriteFile } from '../../src/util/atomic_write.js';
import { ensureFreeSpace, freeBytes, pseudoLabelBytes } from '../../src/util/disk.js';
import { runCli, TRAIN_TINY_FMNIST } from '../cli/run_cli.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ns-disk-'));
  dirs.push(d);
  return d;
};
const mounts: string[] = [];
after(() => {
  for (const m of mounts) spawnSync('umount', [m]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A real 2 MB file system, or null (with the reason) where mounting is not allowed. */
function smallDisk(): { dir: string } | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'not root: cannot mount a small tmpfs' };
  const dir = tmp();
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) return { skip: `mount -t tmpfs failed: ${r.stderr.trim()}` };
  mounts.push(dir);
  return { dir };
}

const withFree = async <T>(bytes: number, fn: () => Promise<T>): Promise<T> => {
  process.env['NOISY_STUDENT_FREE_BYTES'] = String(bytes);
  try {
    return await fn();
  } finally {
    delete process.env['NOISY_STUDENT_FREE_BYTES'];
  }
};

describe('disk space', () => {
  it('estimates what pseudo-labelling writes and says what it needs and what is free', () => {
    // ImageNet's 1,281,167 images: dense 1000-class rows are ~5 GB, top-5 a few hundred MB.
    const dense = pseudoLabelBytes({ images: 1_281_167, numClasses: 1000, topk: 0, shards: 257 });
    const top5 = pseudoLabelBytes({ images: 1_281_167, numClasses: 1000, topk: 5, shards: 257 });
    assert.ok(dense > 5.1e9 && dense < 5.5e9, `dense ${dense}`);
    assert.ok(top5 > 1e8 && top5 < 4e8, `top-5 ${top5}`);
    const dir = tmp();
    assert.ok(freeBytes(dir) > 0);
    assert.throws(
      () => withFreeSync(1.2e9, () => ensureFreeSpace(dir, dense, 'pseudo-labels for 1,281,167 images')),
      new RegExp(
        `pseudo-labels for 1,281,167 images need ~5\\.\\d GB in ${dir}, 1\\.2 GB free there; free some space or give an output folder on a larger disk`,
      ),
    );
    withFreeSync(10e9, () => ensureFreeSpace(dir, dense, 'pseudo-labels'));
  });

  it('pseudo-labelling that cannot fit stops before labelling anything', async () => {
    const start = liveTensorCount();
    const data = resolveDataSpec('fashion-mnist:test');
    const images = subset(
      data.dataset,
      Array.from({ length: 20 }, (_, i) => i),
    );
    const teacher = await createModel('tinynet_e', { numClasses: 10, inChans: 1 });
    const out = join(tmp(), 'pseudo');
    try {
      await withFree(2000, () =>
        assert.rejects(
          pseudoLabel(teacher, images, trainingDataConfig(null, data.defaults), { dir: out, shardSize: 5, batchSize: 5, workers: 0 }),
          /not enough disk space: pseudo-labels for 20 images \(10 classes\) need ~[\d.]+ KB in .*pseudo, 2\.0 KB free/,
        ),
      );
      assert.deepEqual(
        readdirSync(out).filter((f) => f.startsWith('shard-')),
        [],
        'no shard was written',
      );
    } finally {
      teacher.dispose();
    }
    assert.equal(liveTensorCount(), start);
  });

  it('a training job whose checkpoints cannot fit stops before its first step', async () => {
    const out = join(tmp(), 'run');
    const r = await runCli([...TRAIN_TINY_FMNIST, '--labels-per-class', '2', '--val-limit', '10', '--epochs', '1', '--output', out], {
      env: { NOISY_STUDENT_FREE_BYTES: String(1e6) },
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /not enough disk space: checkpoints of a [\d.]+ MB model .* need ~[\d.]+ MB in .*checkpoints, 1\.0 MB free/);
    assert.ok(!existsSync(join(out, 'metrics.jsonl')), 'training started');
  });

  it('a write that fills the disk leaves the previous file intact, no temporary file, and says which file', (t) => {
    const disk = smallDisk();
    if ('skip' in disk) return t.skip(disk.skip);
    const f = join(disk.dir, 'summary.json');
    atomicWriteFile(f, '{"previous":true}\n');
    assert.throws(
      () => atomicWriteFile(f, [new Uint8Array(1 << 20), new Uint8Array(2 << 20)]),
      new RegExp(
        `the disk is full: writing ${f} failed after \\d+ bytes \\(ENOSPC\\); the previous version of the file, if any, is intact`,
      ),
    );
    assert.equal(readFileSync(f, 'utf8'), '{"previous":true}\n');
    assert.deepEqual(readdirSync(disk.dir), ['summary.json']);
  });

  it('a checkpoint that fills the disk leaves the previous checkpoint as the latest complete one', (t) => {
    const disk = smallDisk();
    if ('skip' in disk) return t.skip(disk.skip);
    const start = liveTensorCount();
    const dir = join(disk.dir, 'checkpoints');
    const small = noGrad(() => scope(() => new Map<string, Tensor>([['w', randn([64, 64]).keep()]])));
    const big = noGrad(() => scope(() => new Map<string, Tensor>([['w', randn([1024, 640]).keep()]]))); // 2.6 MB
    saveCheckpoint(dir, { step: 1, epoch: 0, model: small });
    assert.throws(
      () => saveCheckpoint(dir, { step: 2, epoch: 0, model: big }),
      /the disk is full: saving checkpoint ckpt-0000000002 in .*checkpoints failed \(the disk is full: writing .*model\.safetensors.*the earlier ones are intact/,
    );
    assert.equal(latestCheckpoint(dir)!.step, 1);
    assert.deepEqual(readdirSync(dir), ['ckpt-0000000001'], 'the torn checkpoint was left behind');
    for (const m of [small, big]) for (const t of m.values()) t.dispose();
    assert.equal(liveTensorCount(), start);
  });
});

function withFreeSync(bytes: number, fn: () => void): void {
  process.env['NOISY_STUDENT_FREE_BYTES'] = String(bytes);
  try {
    fn();
  } finally {
    delete process.env['NOISY_STUDENT_FREE_BYTES'];
  }
}
