// `noisy-student benchmark`: latency percentiles, throughput and peak RSS of each backend, precision
// and batch size, in one run. Each row is measured in a child process of its own (this command,
// forked with a hidden --row), so its peak RSS is that row's and rows do not warm each other's
// allocators. With Python torch and timm importable (TIMM_SRC=/path/to/pytorch-image-models, or timm
// installed) timm eager is measured the same way as a reference row.
//
// --data DIR adds the data figures of a pseudo-labelling job beside the model's (in a child of their
// own too): decode + eval transform images/s (the loader with the job's workers), the end-to-end
// pseudo-label images/s (the stage's own code, backend as chosen), and the model alone at the same
// batch. --train adds training steps/s for each training precision (fp32, bf16 autocast) on random
// batches, and on the folder's images through the training transform when --data is given. The intra-op threads and loader workers are the thread
// plan's (src/util/cpu_budget.ts) unless --threads / --workers say otherwise.
import { spawnSync } from 'node:child_process';
import { fork } from 'node:child_process';
import { loadavg } from 'node:os';
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
import { describeThreadPlan, threadPlan } from '../../util/cpu_budget.js';
import { intArg, intListArg } from '../args.js';
import { CliError } from '../errors.js';
import { dataImages, measureData, measureTrain, type BenchJobOptions, type DataResult, type TrainResult } from './benchmark_jobs.js';
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

interface Options extends BenchJobOptions {
  batchSizes: number[];
  imgSize?: number;
  backend: BackendName | 'all';
  precision: string;
  threads?: number;
  workers?: number;
  data?: string;
  dataImages?: number;
  train?: boolean;
  trainSteps: number;
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

type ChildRow =
  | ({ section: 'row' } & Row)
  | { section: 'data'; backend: BackendName; precision: Precision; batch: number }
  | { section: 'train'; batch: number };

function runChild<T>(row: ChildRow, argv: readonly string[], what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    // The same entry point and Node flags (tsx when run from source), this command with --row.
    const child = fork(process.argv[1]!, [...argv, '--row', JSON.stringify(row)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let result: T | null = null;
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('message', (m) => (result = m as T));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new CliError(`benchmark ${what} failed: ${stderr.trim().split('\n').pop() || `exit ${code}`}`));
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
    .option(
      '--threads <n>',
      'intra-op threads (default: the thread plan of the cores this process may use; NOISY_STUDENT_CPUS)',
      intArg({ min: 1 }),
    )
    .option('--data <dir>', 'also time a pseudo-labelling job over this folder: decode + eval transform, the model alone, end to end')
    .option('--data-images <n>', 'with --data: its first N images (default: all)', intArg({ min: 1 }))
    .option('--workers <n>', "--data/--train: loader worker threads (default: the thread plan's)", intArg({ min: 0 }))
    .option('--train', 'also time training steps (forward, loss, backward, SGD) at the largest batch size; on --data images too')
    .option('--train-steps <n>', 'with --train: timed steps', intArg({ min: 1 }), 5)
    .option('--warmup <n>', 'untimed runs first', intArg({ min: 0 }), 2)
    .option('--iters <n>', 'timed runs per row', intArg({ min: 1 }), 10)
    .option('--no-timm', 'skip the timm eager reference row')
    .addOption(new Option('--row <json>').hideHelp());
  // int8 rows: without --calibration they calibrate on random batches (the speed is the same).
  addCalibrationOptions(cmd);
  addJsonOption(cmd);
  return cmd.action(async (o: Options, self: Command) => {
    if (o.train && o.trainSteps < 1) throw new CliError('--train-steps must be at least 1', 2);
    if (o.dataImages !== undefined && !o.data) throw new CliError('--data-images needs --data', 2);
    const plans = {
      // The model-only rows run no loader: every core to the intra-op threads.
      inference: threadPlan('inference', { threads: o.threads, workers: 0 }),
      pseudoLabel: threadPlan('pseudo-label', { threads: o.threads, workers: o.workers }),
      train: threadPlan('train', { threads: o.threads, workers: o.workers }),
    };
    const threads = plans.inference.intraOpThreads;
    if (o.row) {
      const row = JSON.parse(o.row) as ChildRow | Row;
      const r =
        'section' in row && row.section === 'data'
          ? await measureData(o, row, plans.pseudoLabel)
          : 'section' in row && row.section === 'train'
            ? await measureTrain(o, row.batch, plans.train)
            : await measureRow(o, { backend: row.backend, precision: row.precision, batch: row.batch }, threads);
      process.send?.(r);
      return;
    }
    const { quiet } = globalOptions(self);
    const say = (line: string): void => void (!quiet && !o.json && process.stderr.write(`benchmark: ${line}\n`));
    const rows = plannedRows(o, self.getOptionValueSource('precision') !== 'default');
    // The child gets this command's own arguments (everything after the subcommand name).
    const at = process.argv.indexOf('benchmark');
    const argv = process.argv.slice(at);
    const results: BenchmarkResult[] = [];
    // Other processes on the CPUs slow every row (libtorch's OpenMP threads most of all, when the
    // cores are oversubscribed): the load is reported with the numbers so that they can be judged.
    const loadBefore = loadavg()[0]!;
    if (o.data) dataImages(o); // a bad folder fails before the rows run
    for (const row of rows) {
      say(`${row.backend} ${row.precision} batch ${row.batch}`);
      results.push(
        await runChild<BenchmarkResult>({ section: 'row', ...row }, argv, `row ${row.backend} ${row.precision} batch ${row.batch}`),
      );
    }
    // The data figures at the largest batch, with the row that was fastest there (the backend a
    // pseudo-labelling job would be given, or that auto would choose among the measured ones).
    const dataBatch = Math.max(...o.batchSizes);
    let data: DataResult | undefined;
    if (o.data) {
      const best = results.filter((r) => r.batch === dataBatch).reduce((a, r) => (r.imgPerSec > a.imgPerSec ? r : a));
      say(`data: ${o.data}, ${best.backend} ${best.precision} batch ${dataBatch}, ${describeThreadPlan(plans.pseudoLabel)}`);
      data = await runChild<DataResult>(
        { section: 'data', backend: best.backend as BackendName, precision: best.precision as Precision, batch: dataBatch },
        argv,
        'data section',
      );
    }
    let train: TrainResult | undefined;
    if (o.train) {
      say(`train: batch ${dataBatch}, ${describeThreadPlan(plans.train)}`);
      train = await runChild<TrainResult>({ section: 'train', batch: dataBatch }, argv, 'train section');
    }
    const arch = resolveModelName(o.model).pretrainedCfg.architecture;
    if (o.timm !== false && timmAvailable()) {
      const [h, w] = results[0]!.imgSize;
      for (const batch of o.batchSizes) results.push(timmRow(arch, batch, h, w, o.warmup, o.iters, threads));
    }
    const load = { before: loadBefore, after: loadavg()[0]!, cores: plans.inference.cpus };
    const out = {
      model: resolveModelName(o.model).fullName,
      threads,
      weights: o.checkpoint || o.pretrained ? 'given' : 'random',
      peakRss: 'per row, each row measured in a fresh child process',
      loadAverage: load,
      threadPlan: {
        inference: plans.inference,
        ...(data ? { pseudoLabel: plans.pseudoLabel } : {}),
        ...(train ? { train: plans.train } : {}),
      },
      results,
      ...(data ? { data } : {}),
      ...(train ? { train } : {}),
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
    if (data)
      lines.push(
        `data: ${data.images} images of ${o.data} at ${data.imgSize.join('x')}, batch ${data.batch}, ${data.backend} ${data.precision}, ` +
          `${data.threads} intra-op threads, ${data.workers} loader workers`,
        `  decode + eval transform ${fmt(data.decodeImgPerSec).padStart(9)} img/s`,
        `  model only              ${fmt(data.modelImgPerSec).padStart(9)} img/s  (decode/model ${fmt(data.decodeImgPerSec / data.modelImgPerSec, 2)}x)`,
        `  pseudo-label end to end ${fmt(data.pseudoLabelImgPerSec).padStart(9)} img/s  (${fmt(data.pseudoLabelImgPerSec / data.idealImgPerSec, 2)}x of 1/(1/decode + 1/model) = ${fmt(data.idealImgPerSec)})`,
      );
    if (train) {
      lines.push(
        `train: batch ${train.batch} at ${train.imgSize.join('x')}, ${train.steps} timed steps, ${train.threads} intra-op threads, ${train.workers} loader workers`,
      );
      for (const r of train.rows)
        lines.push(
          `  ${r.precision.padEnd(5)} random batch ${fmt(r.modelStepsPerSec, 2).padStart(7)} steps/s ${fmt(r.modelImgPerSec).padStart(8)} img/s` +
            (r.dataStepsPerSec !== undefined
              ? `; from --data ${fmt(r.dataStepsPerSec, 2).padStart(7)} steps/s ${fmt(r.dataImgPerSec!).padStart(8)} img/s`
              : ''),
        );
    }
    lines.push(
      `peak RSS: ${out.peakRss}; load average ${fmt(load.before, 1)} -> ${fmt(load.after, 1)} on ${load.cores} cores` +
        (Math.max(load.before, load.after) > load.cores / 2 ? ' (the CPUs were shared with other work: timings are noisy)' : ''),
    );
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}
