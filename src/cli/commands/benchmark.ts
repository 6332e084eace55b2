// `noisy-student benchmark`: latency percentiles, throughput and peak RSS of each backend, precision
// and batch size, in one run. Each row is measured in a child process of its own (this command,
// forked with a hidden --row), so its peak RSS is that row's and rows do not warm each other's
// allocators. With Python torch and timm importable (TIMM_SRC=/path/to/pytorch-image-models, or timm
// installed) timm eager is measured the same way as a reference row.
import { spawnSync } from 'node:child_process';
import { fork } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { Command, Option } from 'commander';
import {
  BACKEND_PRECISIONS,
  BACKENDS,
  checkBackendPrecision,
  measureInference,
  openInferenceModel,
  PRECISIONS,
  randomCalibration,
  type Calibration,
  type BackendName,
  type Measurement,
  type Precision,
} from '../../backends/index.js';
import { resolveModelName } from '../../models/index.js';
import { setNumThreads } from '../../torch/index.js';
import { intArg, intListArg } from '../args.js';
import { CliError } from '../errors.js';
import {
  addCalibrationOptions,
  addJsonOption,
  addModelOptions,
  calibrationFromOptions,
  globalOptions,
  loadModelFromOptions,
  printJson,
  type ModelCliOptions,
} from '../options.js';

interface Options extends Omit<ModelCliOptions, 'backend' | 'precision'> {
  batchSizes: number[];
  imgSize?: number;
  backend: BackendName | 'all';
  precision: string;
  threads?: number;
  warmup: number;
  iters: number;
  json?: boolean;
  row?: string;
  timm?: boolean;
  calibration?: string;
  calibrationImages?: number;
  calibrationMethod?: 'minmax' | 'percentile';
}

interface Row {
  backend: string;
  precision: string;
  batch: number;
}

export interface BenchmarkResult extends Row {
  latencyMs: Measurement['latencyMs'];
  imgPerSec: number;
  peakRssMb: number;
  imgSize: [number, number];
  iters: number;
}

const PYTHON = '/usr/bin/python3';

// timm eager on Python torch, timed like measureInference (warm-up, then timed runs, numpy-style
// percentiles), with the same thread count; peak RSS from getrusage (KiB on Linux).
const TIMM_SCRIPT = `
import json, resource, sys, time
import torch, timm
name, batch, h, w, warmup, iters, threads = sys.argv[1], *map(int, sys.argv[2:8])
torch.set_num_threads(threads)
m = timm.create_model(name, pretrained=False).eval()
x = torch.randn(batch, 3, h, w)
runs = []
with torch.no_grad():
    for _ in range(warmup): m(x)
    for _ in range(iters):
        t0 = time.perf_counter(); m(x); runs.append((time.perf_counter() - t0) * 1000)
runs.sort()
def q(p):
    pos = (len(runs) - 1) * p; lo = int(pos); hi = min(lo + 1, len(runs) - 1)
    return runs[lo] + (runs[hi] - runs[lo]) * (pos - lo)
print(json.dumps({"p50": q(0.5), "p90": q(0.9), "p99": q(0.99), "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
`;

function timmAvailable(): boolean {
  const env = { ...process.env, PYTHONPATH: process.env['TIMM_SRC'] ?? process.env['PYTHONPATH'] ?? '' };
  const r = spawnSync(PYTHON, ['-c', 'import torch, timm'], { env, encoding: 'utf8' });
  return r.status === 0;
}

function timmRow(arch: string, batch: number, h: number, w: number, warmup: number, iters: number, threads: number): BenchmarkResult {
  const env = { ...process.env, PYTHONPATH: process.env['TIMM_SRC'] ?? process.env['PYTHONPATH'] ?? '', OMP_NUM_THREADS: String(threads) };
  const r = spawnSync(PYTHON, ['-c', TIMM_SCRIPT, arch, ...[batch, h, w, warmup, iters, threads].map(String)], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new CliError(`timm reference row failed: ${r.stderr.trim().split('\n').pop()}`);
  const o = JSON.parse(r.stdout.trim().split('\n').pop()!) as { p50: number; p90: number; p99: number; rss: number };
  return {
    backend: 'timm-eager',
    precision: 'fp32',
    batch,
    latencyMs: { p50: o.p50, p90: o.p90, p99: o.p99 },
    imgPerSec: (batch * 1000) / o.p50,
    peakRssMb: o.rss,
    imgSize: [h, w],
    iters,
  };
}

/** The rows asked for: every supported pair with --backend all, else the named backend and precisions (each checked). */
function plannedRows(o: Options, explicitPrecision: boolean): Row[] {
  const precisions = o.precision.split(',').map((p) => p.trim()) as Precision[];
  for (const p of precisions)
    if (!(PRECISIONS as readonly string[]).includes(p)) throw new CliError(`unknown precision "${p}"; known: ${PRECISIONS.join(', ')}`, 2);
  const rows: Row[] = [];
  const backends: readonly BackendName[] = o.backend === 'all' ? BACKENDS : [o.backend];
  for (const b of backends) {
    for (const p of precisions) {
      // --backend all, or the default precisions: the pairs that run; a pair asked for by name must run.
      if (o.backend === 'all' || !explicitPrecision) {
        if (!BACKEND_PRECISIONS[b].includes(p)) continue;
      } else {
        try {
          checkBackendPrecision(b, p);
        } catch (e) {
          throw new CliError((e as Error).message, 2);
        }
      }
      for (const batch of o.batchSizes) rows.push({ backend: b, precision: p, batch });
    }
  }
  if (rows.length === 0)
    throw new CliError(
      `no backend runs ${o.precision}; what runs: ${BACKENDS.map((b) => `${b}: ${BACKEND_PRECISIONS[b].join(', ')}`).join('; ')}`,
      2,
    );
  return rows;
}

/** One row, in this (child) process: load, open the backend, measure, report the peak RSS. */
async function measureRow(o: Options, row: Row, threads: number): Promise<BenchmarkResult> {
  setNumThreads(threads);
  const model = await loadModelFromOptions({ ...o, backend: undefined, precision: undefined } as ModelCliOptions, {
    command: 'benchmark',
    requireWeights: false,
    quiet: true,
  });
  model.eval();
  const cfg = model.pretrainedCfg!;
  const h = o.imgSize ?? cfg.inputSize[1];
  const w = o.imgSize ?? cfg.inputSize[2];
  // int8 calibrates on --calibration's images, else on random batches like the timed ones: the
  // figures are about speed, and int8 kernels take the same time whatever the ranges are.
  const calibration: Calibration | undefined =
    row.precision !== 'int8'
      ? undefined
      : o.calibration
        ? calibrationFromOptions({ ...o, precision: 'int8' } as ModelCliOptions)
        : randomCalibration(o.calibrationImages ?? 8, model.spec.inChans, h, w);
  const inf = await openInferenceModel(model, {
    backend: row.backend as BackendName,
    precision: row.precision as Precision,
    threads,
    disposeModel: true,
    ...(calibration ? { calibration } : {}),
  });
  try {
    const m = await measureInference(inf, {
      batch: row.batch,
      chans: model.spec.inChans,
      height: h,
      width: w,
      warmup: o.warmup,
      iters: o.iters,
    });
    return {
      ...row,
      latencyMs: m.latencyMs,
      imgPerSec: m.imgPerSec,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      imgSize: [h, w],
      iters: m.iters,
    };
  } finally {
    await inf.dispose();
  }
}

function runChild(row: Row, argv: readonly string[]): Promise<BenchmarkResult> {
  return new Promise((resolve, reject) => {
    // The same entry point and Node flags (tsx when run from source), this command with --row.
    const child = fork(process.argv[1]!, [...argv, '--row', JSON.stringify(row)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let result: BenchmarkResult | null = null;
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('message', (m) => (result = m as BenchmarkResult));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0 && result) resolve(result);
      else
        reject(
          new CliError(
            `benchmark row ${row.backend} ${row.precision} batch ${row.batch} failed: ${stderr.trim().split('\n').pop() || `exit ${code}`}`,
          ),
        );
    });
  });
}

const fmt = (v: number, d = 1): string => v.toFixed(d);

export default function benchmarkCommand(): Command {
  const cmd = new Command('benchmark')
    .summary('latency, throughput and memory of each inference backend')
    .description(
      'Time the model on a random batch for every backend, precision and batch size asked for: p50/p90/p99 latency per batch, ' +
        'images/s at the median, and the peak RSS of a process that ran only that row. Without --checkpoint/--pretrained the ' +
        'weights are random: speed does not depend on them. With Python torch and timm importable (TIMM_SRC=checkout), ' +
        'timm eager is measured beside them (--no-timm to skip).',
    );
  addModelOptions(cmd)
    .option('--batch-sizes <list>', 'batch sizes, e.g. 1,32', intListArg, [1, 32])
    .option('--img-size <n>', "input height and width (default: the model's input size)", intArg({ min: 8 }))
    .addOption(new Option('--backend <name>', 'torch, torch-fused, ort, or all').choices([...BACKENDS, 'all']).default('all'))
    .option('--precision <list>', `precisions, comma-separated (${PRECISIONS.join(', ')})`, 'fp32,bf16')
    .option('--threads <n>', 'intra-op threads (default: the cores this process may use)', intArg({ min: 1 }))
    .option('--warmup <n>', 'untimed runs first', intArg({ min: 0 }), 2)
    .option('--iters <n>', 'timed runs per row', intArg({ min: 1 }), 10)
    .option('--no-timm', 'skip the timm eager reference row')
    .addOption(new Option('--row <json>').hideHelp());
  // int8 rows: without --calibration they calibrate on random batches (the speed is the same).
  addCalibrationOptions(cmd);
  addJsonOption(cmd);
  return cmd.action(async (o: Options, self: Command) => {
    const threads = o.threads ?? availableParallelism();
    if (o.row) {
      const r = await measureRow(o, JSON.parse(o.row) as Row, threads);
      process.send?.(r);
      return;
    }
    const { quiet } = globalOptions(self);
    const rows = plannedRows(o, self.getOptionValueSource('precision') !== 'default');
    // The child gets this command's own arguments (everything after the subcommand name).
    const at = process.argv.indexOf('benchmark');
    const argv = process.argv.slice(at);
    const results: BenchmarkResult[] = [];
    // Other processes on the CPUs slow every row (libtorch's OpenMP threads most of all, when the
    // cores are oversubscribed): the load is reported with the numbers so that they can be judged.
    const loadBefore = loadavg()[0]!;
    for (const row of rows) {
      if (!quiet && !o.json) process.stderr.write(`benchmark: ${row.backend} ${row.precision} batch ${row.batch}\n`);
      results.push(await runChild(row, argv));
    }
    const arch = resolveModelName(o.model).pretrainedCfg.architecture;
    if (o.timm !== false && timmAvailable()) {
      const [h, w] = results[0]!.imgSize;
      for (const batch of o.batchSizes) results.push(timmRow(arch, batch, h, w, o.warmup, o.iters, threads));
    }
    const load = { before: loadBefore, after: loadavg()[0]!, cores: availableParallelism() };
    const out = {
      model: resolveModelName(o.model).fullName,
      threads,
      weights: o.checkpoint || o.pretrained ? 'given' : 'random',
      peakRss: 'per row, each row measured in a fresh child process',
      loadAverage: load,
      results,
    };
    if (o.json) return printJson(out);
    const lines = [
      `${out.model}, ${threads} threads, ${results[0]!.imgSize.join('x')}, ${o.iters} timed runs per row${out.weights === 'random' ? ' (random weights: speed does not depend on them)' : ''}`,
      'backend       precision  batch   p50 ms   p90 ms   p99 ms     img/s  peak RSS MB',
      ...results.map(
        (r) =>
          `${r.backend.padEnd(13)} ${r.precision.padEnd(9)} ${String(r.batch).padStart(6)} ${fmt(r.latencyMs.p50, 2).padStart(8)} ` +
          `${fmt(r.latencyMs.p90, 2).padStart(8)} ${fmt(r.latencyMs.p99, 2).padStart(8)} ${fmt(r.imgPerSec).padStart(9)} ${fmt(r.peakRssMb, 0).padStart(12)}`,
      ),
    ];
    lines.push(
      `peak RSS: ${out.peakRss}; load average ${fmt(load.before, 1)} -> ${fmt(load.after, 1)} on ${load.cores} cores` +
        (Math.max(load.before, load.after) > load.cores / 2 ? ' (the CPUs were shared with other work: timings are noisy)' : ''),
    );
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}
