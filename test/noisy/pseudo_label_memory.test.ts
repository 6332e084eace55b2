// A top-k pseudo-label set stays sparse in memory: no [images, classes] array is built when it is
// read (1.28M images x 1000 classes would be 5 GB), and the student's soft targets, filled per
// batch from the sparse rows, are exactly the dense rows the set stands for.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveTensorCount } from '../../src/index.js';
import {
  claimPseudoLabelDir,
  finishPseudoLabelDir,
  pseudoLabelTargets,
  readPseudoLabels,
  writeShard,
} from '../../src/noisy/artifacts/pseudo_labels.js';
import { filterAndBalance } from '../../src/noisy/filter.js';

const N = 3000;
const C = 1000;
const K = 5;
const SHARD = 1000;

let dir: string;
let start: number;
// What the teacher "said" per image: k distinct classes, their renormalised and raw top-1 probabilities.
const classes = new Int32Array(N * K);
const probs = new Float32Array(N * K);
const top1 = new Float32Array(N);

before(() => {
  start = liveTensorCount();
  dir = mkdtempSync(join(tmpdir(), 'ns-plmem-'));
  let seed = 12345;
  const rand = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < N; i++) {
    const raw = Array.from({ length: K }, (_, t) => (K - t) * (0.5 + rand()))
      .sort((a, b) => b - a)
      .map((v) => v / (K * 4));
    const z = raw.reduce((a, v) => a + v, 0);
    const used = new Set<number>();
    for (let t = 0; t < K; t++) {
      let c: number;
      do c = Math.floor(rand() * C);
      while (used.has(c));
      used.add(c);
      classes[i * K + t] = c;
      probs[i * K + t] = raw[t]! / z;
    }
    top1[i] = raw[0]!;
  }
  // One image unreadable (its shard lists it as an error), as a corrupt file would be.
  claimPseudoLabelDir(dir, {
    teacher: 't',
    images: N,
    numClasses: C,
    shardSize: SHARD,
    topk: K,
    dataConfig: {} as never,
    inputs: null,
    backend: 'torch',
    precision: 'fp32',
  });
  for (let s = 0; s * SHARD < N; s++) {
    const ids = Array.from({ length: SHARD }, (_, i) => s * SHARD + i).filter((id) => id !== 7);
    writeShard(
      dir,
      s,
      {
        ids,
        probs: Float32Array.from(ids.flatMap((id) => Array.from(probs.subarray(id * K, (id + 1) * K)))),
        classes: BigInt64Array.from(ids.flatMap((id) => Array.from(classes.subarray(id * K, (id + 1) * K), BigInt))),
        top1: Float32Array.from(ids, (id) => top1[id]!),
        errors: s === 0 ? [{ id: 7, message: 'corrupt' }] : [],
      },
      C,
      K,
    );
  }
  finishPseudoLabelDir(dir);
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
  assert.equal(liveTensorCount(), start);
});

/** Every typed array reachable from `v`'s own properties. */
function typedArrays(v: unknown, seen = new Set<unknown>()): ArrayBufferView[] {
  if (v === null || typeof v !== 'object' || seen.has(v)) return [];
  seen.add(v);
  if (ArrayBuffer.isView(v)) return [v];
  return Object.values(v as Record<string, unknown>).flatMap((x) => typedArrays(x, seen));
}

/** The dense row image `id` stands for: the kept probabilities in their classes, zero elsewhere. */
function denseRow(id: number): Float32Array {
  const row = new Float32Array(C);
  for (let t = 0; t < K; t++) row[classes[id * K + t]!] = probs[id * K + t]!;
  return row;
}

describe('top-k pseudo-labels in memory', () => {
  it('hold no buffer of images x classes: about 6k + 12 bytes per image (16-bit class ids)', () => {
    const pl = readPseudoLabels(dir);
    const arrays = typedArrays(pl);
    const biggest = Math.max(...arrays.map((a) => a.byteLength));
    assert.ok(biggest < N * C, `a buffer of ${biggest} bytes for ${N} images x ${C} classes (${N * C * 4} would be dense float32)`);
    const total = arrays.reduce((a, x) => a + x.byteLength, 0);
    assert.ok(total <= N * (6 * K + 12), `${total} bytes held for ${N} top-${K} images, over ${6 * K + 12} per image`);
    assert.equal(pl.records.length, N - 1);
    assert.deepEqual(pl.failed, [{ id: 7, message: 'corrupt' }]);
  });

  it("the student's soft targets from the sparse rows equal the dense rows exactly; hard ones are their argmax", () => {
    const targets = pseudoLabelTargets(readPseudoLabels(dir));
    assert.equal(targets.numClasses, C);
    // A reused batch buffer: a row must not keep anything of the image written there before.
    const out = new Float32Array(C).fill(Number.NaN);
    for (let id = 0; id < N; id++) {
      if (id === 7) {
        assert.throws(() => targets.label(id), /image 7 has no pseudo-label/);
        continue;
      }
      targets.row(id, out);
      const want = denseRow(id);
      assert.deepEqual(out, want, `image ${id}`);
      let best = 0;
      for (let c = 1; c < C; c++) if (want[c]! > want[best]!) best = c;
      assert.equal(targets.label(id), best);
    }
  });

  it('records: the argmax and the raw top-1 confidence; the filter gives the same selection from the columns as from the list', () => {
    const pl = readPseudoLabels(dir);
    for (const r of pl.records) {
      assert.equal(r.label, classes[r.id * K]);
      assert.equal(r.confidence, top1[r.id]);
    }
    const opts = { numClasses: C, perClass: 3, threshold: 0.1, seed: 5 };
    const fromList = filterAndBalance([...pl.records], opts);
    assert.ok(pl.columns, 'a set read from disk has its records as columns');
    assert.deepEqual(filterAndBalance(pl.columns, opts), fromList);
    assert.ok(fromList.ids.length > 0);
  });

  it('index.json, its records streamed from the columns, is the JSON writeArtifact writes (2-space indent), byte for byte', () => {
    const text = readFileSync(join(dir, 'index.json'), 'utf8');
    const index = JSON.parse(text) as { format: string; labeled: number; records: unknown[] };
    assert.equal(text, `${JSON.stringify(index, null, 2)}\n`);
    assert.equal(index.format, 'noisy-student/pseudo-label-index@1');
    assert.equal(index.labeled, N - 1);
    assert.deepEqual(index.records, readPseudoLabels(dir).records);
  });
});
