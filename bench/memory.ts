// Memory benchmark (issue 12, item 7): peak RSS of what a student holds of its pseudo-labels, against
// the number of unlabeled images. Synthetic top-5 shards of 10k and 100k images x 1000 classes are
// written with the real writer (claimPseudoLabelDir, writeShard, finishPseudoLabelDir) in one child
// process; another child then reads them (readPseudoLabels), filters and balances them (filterStage,
// as a run does) and builds every batch's targets of one epoch as the trainer does (a [B, C] soft
// row block per batch from the sparse rows, and the hard labels). Each child's peak RSS is its own
// (process.resourceUsage().maxRSS), so the growth from 10k to 100k images is what the pseudo-labels
// cost per image: about 8k + 12 bytes for top-k (dense rows would be 4 bytes x 1000 classes).
// Usage: npm run bench -- memory
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  claimPseudoLabelDir,
  finishPseudoLabelDir,
  pseudoLabelTargets,
  readPseudoLabels,
  shardFile,
  writeShard,
} from '../src/noisy/artifacts/pseudo_labels.js';
import { loadSafetensors } from '../src/torch/index.js';
import { filterSettings, filterStage } from '../src/noisy/stages/filter.js';
import { median } from './util.js';

const C = 1000;
const K = 5;
const SHARD = 5000; // the config's default shard size
// The balanced set: 4 per class, under the images per class of either size (10 and 100), so both
// sizes keep the same number of distinct images and its cost (selection.json, entries) cancels out.
const PER_CLASS = 4;
const BATCH = 64 * 4; // 64 labeled + 3 x 64 pseudo-labeled rows: the pseudo-labeled part is what is built here
const SELF = fileURLToPath(import.meta.url);

/** Write a synthetic top-k set of `n` images into `dir` with the real writer. */
function writeSet(dir: string, n: number): void {
  let seed = 0x2545f491;
  const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  claimPseudoLabelDir(dir, {
    teacher: 'synthetic',
    images: n,
    numClasses: C,
    shardSize: SHARD,
    topk: K,
    dataConfig: {} as never,
    inputs: null,
    backend: 'torch',
    precision: 'fp32',
  });
  for (let s = 0; s * SHARD < n; s++) {
    const lo = s * SHARD;
    const m = Math.min(SHARD, n - lo);
    const probs = new Float32Array(m * K);
    const classes = new BigInt64Array(m * K);
    const top1 = new Float32Array(m);
    for (let i = 0; i < m; i++) {
      // A confident teacher on some images, unsure on others: top-1 between 0.2 and 1.
      const p1 = 0.2 + 0.8 * rand();
      const rest = Array.from({ length: K - 1 }, (_, t) => ((1 - p1) * (K - 1 - t)) / (K * K));
      const kept = [p1, ...rest];
      const z = kept.reduce((a, v) => a + v, 0);
      const first = Math.floor(rand() * C);
      for (let t = 0; t < K; t++) {
        probs[i * K + t] = kept[t]! / z;
        classes[i * K + t] = BigInt((first + t * 37) % C);
      }
      top1[i] = p1;
    }
    writeShard(dir, s, { ids: Array.from({ length: m }, (_, i) => lo + i), probs, classes, top1, errors: [] }, C, K);
  }
  finishPseudoLabelDir(dir);
}

/** Read, filter and build one epoch of targets as the student stage does. */
function studentSide(dir: string): { kept: number; sum: number } {
  const pl = readPseudoLabels(dir);
  const sel = filterStage(join(dir, 'filter'), pl, filterSettings({ perClass: PER_CLASS, threshold: 0.3, seed: 0 }));
  const targets = pseudoLabelTargets(pl);
  let sum = 0;
  const unl = (BATCH / 4) * 3;
  // The trainer's soft block of a batch ([B, C], dropped after the step): one batch's worth whatever
  // the number of images; reused here, so that its garbage (GC timing) does not blur the measure.
  const soft = new Float32Array(unl * C);
  for (let b = 0; b < sel.ids.length; b += unl) {
    const ids = sel.ids.slice(b, b + unl);
    ids.forEach((id, i) => {
      targets.row(id, soft.subarray(i * C, (i + 1) * C));
      sum += targets.label(id);
    });
    sum += soft[0]!;
  }
  return { kept: sel.ids.length, sum };
}

const statusKb = (field: string): number =>
  Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);

/**
 * The peak RSS of `work` above the RSS before it. Start-up (libtorch, V8) makes a process's peak
 * vary by several MB from run to run, as much as 90k images x 50 bytes: so the peak is reset when
 * the work starts (Linux's clear_refs 5 resets VmHWM) and measured from the RSS at that moment.
 * Without /proc/self/clear_refs it falls back to the whole process's peak.
 */
function peakAbove<T>(work: () => T, warmUp: () => void = () => {}): { rss: number; peak: number; result: T } {
  // One-time costs (libtorch's first tensors and threads, the first safetensors read) come before the reset.
  warmUp();
  let base = 0;
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    base = statusKb('VmRSS') * 1024;
  } catch {
    base = 0;
  }
  const result = work();
  const peak = base ? statusKb('VmHWM') * 1024 : process.resourceUsage().maxRSS * 1024;
  return { rss: peak - base, peak, result };
}

function child(args: string[]): { rss: number; [k: string]: number } {
  const out = execFileSync(process.execPath, ['--import', 'tsx', SELF, ...args], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as { rss: number };
}

// Each measurement is the median of RUNS child processes.
const RUNS = 5;

export async function main(): Promise<void> {
  const sizes = [10_000, 100_000];
  const rows: { n: number; write: number; read: number; reads: number[]; kept: number }[] = [];
  for (const n of sizes) {
    const dir = mkdtempSync(join(tmpdir(), 'ns-bench-mem-'));
    try {
      const writes: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        rmSync(dir, { recursive: true, force: true });
        writes.push(child(['--write', dir, String(n)]).rss);
      }
      const reads: number[] = [];
      let kept = 0;
      for (let i = 0; i < RUNS; i++) {
        rmSync(join(dir, 'filter'), { recursive: true, force: true });
        const r = child(['--read', dir]);
        reads.push(r.rss);
        kept = r['kept']!;
      }
      rows.push({ n, write: median(writes), read: median(reads), reads, kept });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const mb = (b: number): string => `${(b / 2 ** 20).toFixed(1)} MB`;
  for (const r of rows)
    console.log(
      `top-${K} pseudo-labels, ${r.n} images x ${C} classes: peak RSS above the start read + filter + targets ${mb(r.read)} ` +
        `(median of ${r.reads.map(mb).join(', ')}; balanced set ${r.kept} ids); writing them ${mb(r.write)}`,
    );
  const [a, b] = rows as [(typeof rows)[0], (typeof rows)[0]];
  const per = (b.read - a.read) / (b.n - a.n);
  console.log(
    `growth per image from ${a.n} to ${b.n}: read + filter + targets ${per.toFixed(1)} bytes (target <= ~50; ` +
      `dense rows would be ${4 * C}), writing ${((b.write - a.write) / (b.n - a.n)).toFixed(1)} bytes`,
  );
}

// The child processes.
const [mode, dir, n] = process.argv.slice(2);
if (mode === '--write') {
  const r = peakAbove(
    () => writeSet(dir!, Number(n)),
    () => {
      const warm = mkdtempSync(join(tmpdir(), 'ns-bench-mem-warm-'));
      writeShard(
        warm,
        0,
        { ids: [0], probs: new Float32Array(K), classes: new BigInt64Array(K), top1: new Float32Array(1), errors: [] },
        C,
        K,
      );
      rmSync(warm, { recursive: true, force: true });
    },
  );
  console.log(JSON.stringify({ rss: r.rss, peak: r.peak }));
} else if (mode === '--read') {
  const r = peakAbove(
    () => studentSide(dir!),
    () => {
      for (const t of loadSafetensors(shardFile(dir!, 0)).tensors.values()) {
        t.toTypedArray();
        t.dispose();
      }
    },
  );
  console.log(JSON.stringify({ rss: r.rss, peak: r.peak, ...r.result }));
}
