// `noisy-student benchmark`: one JSON object with a row per supported backend, precision and batch
// size (each measured in its own child process), percentiles in order; impossible pairs are usage errors.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { runCli } from './run_cli.js';
import { BACKEND_PRECISIONS, BACKENDS } from '../../src/backends/index.js';

interface Out {
  model: string;
  threads: number;
  weights: string;
  loadAverage: { before: number; after: number; cores: number };
  results: {
    backend: string;
    precision: string;
    batch: number;
    latencyMs: { p50: number; p90: number; p99: number };
    imgPerSec: number;
    peakRssMb: number;
  }[];
}

// The timm eager reference row needs Python torch and a timm checkout (TIMM_SRC).
const TIMM_SRC = process.env['TIMM_SRC'];
const timmImports =
  TIMM_SRC !== undefined &&
  spawnSync('/usr/bin/python3', ['-c', 'import torch, timm'], { env: { ...process.env, PYTHONPATH: TIMM_SRC } }).status === 0;

/** `n` small JPEGs of patterns of different sizes (sharp writes them). */
async function jpegFolder(n: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ns-benchmark-data-'));
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) {
    const w = 40 + i;
    const h = 30 + 2 * i;
    const px = Buffer.alloc(w * h * 3);
    for (let j = 0; j < px.length; j++) px[j] = (j * 31 + i * 17) & 255;
    await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .jpeg()
      .toFile(join(dir, `${i}.jpg`));
  }
  return dir;
}

const positive = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v) && v > 0;

describe('benchmark', () => {
  const made: string[] = [];
  after(() => made.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('--data DIR --train --json: data and train sections, positive finite figures, the plan used', async () => {
    const dir = await jpegFolder(7);
    made.push(dir);
    const r = await runCli([
      'benchmark',
      '--model',
      'tf_efficientnet_b0',
      '--img-size',
      '32',
      '--batch-sizes',
      '1,3',
      '--iters',
      '2',
      '--warmup',
      '1',
      '--backend',
      'torch',
      '--precision',
      'fp32',
      '--threads',
      '1',
      '--workers',
      '1',
      '--no-timm',
      '--data',
      dir,
      '--data-images',
      '5',
      '--train',
      '--train-steps',
      '2',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Out & {
      threadPlan: Record<string, { intraOpThreads: number; loaderWorkers: number; overridden: string[] }>;
      data: Record<string, unknown>;
      train: { batch: number; steps: number; rows: Record<string, unknown>[] };
    };
    assert.deepEqual(
      out.results.map((x) => `${x.backend}/${x.batch}`),
      ['torch/1', 'torch/3'],
    );
    // The data section: the fields, at the largest batch, 5 of the 7 images.
    const d = out.data;
    for (const k of ['images', 'decodeImgPerSec', 'pseudoLabelImgPerSec', 'modelImgPerSec']) assert.ok(k in d, `data.${k}`);
    assert.equal(d['images'], 5);
    assert.equal(d['batch'], 3);
    assert.deepEqual(d['imgSize'], [32, 32]);
    assert.deepEqual([d['threads'], d['workers']], [1, 1]);
    for (const k of ['decodeImgPerSec', 'pseudoLabelImgPerSec', 'modelImgPerSec', 'idealImgPerSec'])
      assert.ok(positive(d[k]), `data.${k} = ${String(d[k])}`);
    // The plan the sections ran with, and what set it.
    assert.deepEqual([...out.threadPlan['pseudoLabel']!.overridden].sort(), ['threads', 'workers']);
    assert.equal(out.threadPlan['train']!.loaderWorkers, 1);
    assert.equal(out.train.batch, 3);
    assert.equal(out.train.steps, 2);
    // One row per training precision (the training config's fp32 and bf16), each timed on both inputs.
    assert.deepEqual(
      out.train.rows.map((x) => x['precision']),
      ['fp32', 'bf16'],
    );
    for (const row of out.train.rows)
      for (const k of ['modelStepsPerSec', 'modelImgPerSec', 'dataStepsPerSec', 'dataImgPerSec'])
        assert.ok(positive(row[k]), `train.${String(row['precision'])}.${k} = ${String(row[k])}`);
  });

  it('--data: a folder without images, or --data-images alone, is a usage error', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'ns-benchmark-empty-'));
    made.push(empty);
    const r = await runCli(['benchmark', '--model', 'tf_efficientnet_b0', '--backend', 'torch', '--precision', 'fp32', '--data', empty]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /no images/);
    const u = await runCli(['benchmark', '--model', 'tf_efficientnet_b0', '--data-images', '3']);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /--data-images needs --data/);
  });

  it('--backend all --json: every supported backend/precision at each batch size, in the issue’s shape', async () => {
    const r = await runCli([
      'benchmark',
      '--model',
      'tf_efficientnet_b0',
      '--img-size',
      '64',
      '--batch-sizes',
      '1,2',
      '--iters',
      '3',
      '--warmup',
      '1',
      '--threads',
      '1',
      '--no-timm',
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as Out;
    assert.equal(out.model, 'tf_efficientnet_b0.ns_jft_in1k');
    assert.equal(out.threads, 1);
    assert.equal(out.weights, 'random');
    assert.ok(out.loadAverage.cores >= 1 && out.loadAverage.before >= 0 && out.loadAverage.after >= 0);
    const want = BACKENDS.flatMap((b) =>
      BACKEND_PRECISIONS[b].filter((p) => p !== 'int8').flatMap((p) => [1, 2].map((batch) => `${b}/${p}/${batch}`)),
    );
    assert.deepEqual(
      out.results.map((x) => `${x.backend}/${x.precision}/${x.batch}`),
      want,
    );
    for (const x of out.results) {
      const { p50, p90, p99 } = x.latencyMs;
      assert.ok(p50 > 0 && p50 <= p90 && p90 <= p99, `${x.backend}: percentiles ${p50} ${p90} ${p99}`);
      assert.ok(Math.abs(x.imgPerSec - (x.batch * 1000) / p50) < 1e-6 * x.imgPerSec);
      assert.ok(x.peakRssMb > 50, `${x.backend}: peak RSS ${x.peakRssMb} MB`);
    }
  });

  it('a pair that does not run, asked for by name, exits 2 listing what runs', async () => {
    const r = await runCli(['benchmark', '--model', 'tf_efficientnet_b0', '--backend', 'torch', '--precision', 'bf16']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /backend torch does not run bf16; what runs: torch: fp32; torch-fused: fp32, bf16; ort: fp32/);
    const u = await runCli(['benchmark', '--model', 'tf_efficientnet_b0', '--backend', 'tvm']);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /tvm/);
  });

  it(
    'with Python torch and timm: a timm-eager row per batch size, after ours',
    { skip: !timmImports && 'TIMM_SRC unset or timm does not import' },
    async () => {
      const r = await runCli(
        [
          'benchmark',
          '--model',
          'tf_efficientnet_b0',
          '--img-size',
          '64',
          '--batch-sizes',
          '1,2',
          '--iters',
          '2',
          '--warmup',
          '1',
          '--threads',
          '1',
          '--backend',
          'torch',
          '--json',
        ],
        { env: { TIMM_SRC } },
      );
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as Out;
      assert.deepEqual(
        out.results.map((x) => `${x.backend}/${x.precision}/${x.batch}`),
        ['torch/fp32/1', 'torch/fp32/2', 'timm-eager/fp32/1', 'timm-eager/fp32/2'],
      );
      for (const x of out.results.slice(2)) {
        const { p50, p90, p99 } = x.latencyMs;
        assert.ok(p50 > 0 && p50 <= p90 && p90 <= p99);
        assert.ok(x.peakRssMb > 50, `timm peak RSS ${x.peakRssMb} MB`);
      }
    },
  );
});
