// The job sections of `noisy-student benchmark` (each run in a child process of its own by
// benchmark.ts): --data, the parts of a pseudo-labelling job on a folder and the job itself; --train,
// training steps on random batches and on the folder through the training transform.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  measureInference,
  openInferenceModel,
  quantile,
  randomCalibration,
  type BackendName,
  type Precision,
} from '../../backends/index.js';
import type { EfficientNet } from '../../models/index.js';
import { F, fromTypedArray, Generator, randint, randn, setNumThreads, type Tensor } from '../../torch/index.js';
import { DataLoader, flatFolder, subset, type DataConfig, type ImageDataset, type TransformSpec } from '../../data/index.js';
import {
  inferenceDataConfig,
  precisionAutocast,
  SGD,
  TRAIN_PRECISIONS,
  trainingDataConfig,
  trainStep,
  type TrainPrecision,
} from '../../train/index.js';
import { pseudoLabel } from '../../noisy/index.js';
import type { ThreadPlan } from '../../util/cpu_budget.js';
import { CliError } from '../errors.js';
import { loadModelFromOptions, type ModelCliOptions } from '../options.js';

/** The command's options these sections read. */
export interface BenchJobOptions extends Omit<ModelCliOptions, 'backend' | 'precision'> {
  imgSize?: number;
  data?: string;
  dataImages?: number;
  trainSteps: number;
  warmup: number;
  iters: number;
  calibrationImages?: number;
}

/** What `--data` measures (one child process): the parts of a pseudo-labelling job and the job itself. */
export interface DataResult {
  images: number;
  batch: number;
  backend: string;
  precision: string;
  imgSize: [number, number];
  threads: number;
  workers: number;
  /** Decode + the model's eval transform, the loader with `workers` worker threads. */
  decodeImgPerSec: number;
  /** The pseudo-label stage over the same images (loader, model, softmax, shards), model load excluded. */
  pseudoLabelImgPerSec: number;
  /** The model alone at `batch` (measureInference's median). */
  modelImgPerSec: number;
  /** 1 / (1/decode + 1/model): the job's speed when decode and model take turns on the same cores. */
  idealImgPerSec: number;
  peakRssMb: number;
}

/** What `--train` measures (one child process): training steps of the model at the data batch. */
export interface TrainResult {
  batch: number;
  imgSize: [number, number];
  threads: number;
  workers: number;
  steps: number;
  rows: {
    precision: string;
    /** Forward, cross-entropy, backward and an SGD update on one fixed random batch. */
    modelStepsPerSec: number;
    modelImgPerSec: number;
    /** The same steps on the --data images through the training transform and the loader (absent without --data). */
    dataStepsPerSec?: number;
    dataImgPerSec?: number;
  }[];
  peakRssMb: number;
}

const seconds = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e9;

/** The model as the command's options name it, on libtorch eager (each section chooses its own backend). */
const benchModel = (o: BenchJobOptions): Promise<EfficientNet> =>
  loadModelFromOptions({ ...o, backend: undefined, precision: undefined } as ModelCliOptions, {
    command: 'benchmark',
    requireWeights: false,
    quiet: true,
  });

/** The --data folder, its first --data-images images. */
export function dataImages(o: BenchJobOptions): ImageDataset {
  const all = flatFolder(o.data!);
  if (all.length === 0) throw new CliError(`--data ${o.data}: no images in the folder`, 2);
  const n = Math.min(all.length, o.dataImages ?? all.length);
  return n === all.length
    ? all
    : subset(
        all,
        Array.from({ length: n }, (_, i) => i),
      );
}

/** Images/s of one epoch of a loader (worker start-up included, as a job pays it). */
async function loaderImgPerSec(ds: ImageDataset, batch: number, workers: number, transform: TransformSpec): Promise<number> {
  const loader = new DataLoader(ds, { batchSize: batch, numWorkers: workers, transform });
  try {
    const t0 = process.hrtime.bigint();
    let n = 0;
    for await (const b of loader.epoch(0)) n += b.indices.length;
    if (n === 0) throw new CliError('--data: no image in the folder could be read');
    return n / seconds(t0);
  } finally {
    await loader.close();
  }
}

export async function measureData(
  o: BenchJobOptions,
  row: { backend: BackendName; precision: Precision; batch: number },
  plan: ThreadPlan,
): Promise<DataResult> {
  setNumThreads(plan.intraOpThreads);
  const ds = dataImages(o);
  const model = await benchModel(o);
  model.eval();
  const config: DataConfig = inferenceDataConfig(model, o.imgSize ? { imgSize: o.imgSize } : {});
  const [c, h, w] = config.inputSize;
  const decode = await loaderImgPerSec(ds, row.batch, plan.loaderWorkers, { config });
  const inf = await openInferenceModel(model, {
    backend: row.backend,
    precision: row.precision,
    threads: plan.intraOpThreads,
    batchSize: row.batch,
    disposeModel: true,
    ...(row.precision === 'int8' ? { calibration: randomCalibration(o.calibrationImages ?? 8, c, h, w) } : {}),
  });
  const dir = mkdtempSync(join(tmpdir(), 'ns-benchmark-pl-'));
  try {
    const m = await measureInference(inf, { batch: row.batch, chans: c, height: h, width: w, warmup: o.warmup, iters: o.iters });
    const t0 = process.hrtime.bigint();
    const pl = await pseudoLabel(inf, ds, config, {
      dir,
      shardSize: ds.length,
      batchSize: row.batch,
      workers: plan.loaderWorkers,
      teacherFingerprint: 'benchmark',
    });
    const e2e = (ds.length - pl.failed.length) / seconds(t0);
    return {
      images: ds.length,
      batch: row.batch,
      backend: row.backend,
      precision: row.precision,
      imgSize: [h, w],
      threads: plan.intraOpThreads,
      workers: plan.loaderWorkers,
      decodeImgPerSec: decode,
      pseudoLabelImgPerSec: e2e,
      modelImgPerSec: m.imgPerSec,
      idealImgPerSec: 1 / (1 / decode + 1 / m.imgPerSec),
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await inf.dispose();
  }
}

/** Seconds of each of `steps` timed training steps (after one untimed), each on the batch `next` gives (its wait included). */
async function timeSteps(
  model: EfficientNet,
  steps: number,
  precision: TrainPrecision,
  next: () => Promise<{ x: Tensor; target: Tensor }>,
): Promise<number[]> {
  const opt = new SGD([{ params: [...model.namedParameters()] }], { lr: 1e-3, momentum: 0.9 });
  const state = { step: 0 };
  const lossFn = (l: Tensor, b: { target: Tensor }): Tensor => F.crossEntropy(l, b.target);
  // The training loop's own mixed precision: forward and loss under autocast, as `train --precision` runs.
  const autocast = precisionAutocast(precision);
  const context = autocast ? { autocast } : undefined;
  const times: number[] = [];
  try {
    for (let i = 0; i <= steps; i++) {
      const t0 = process.hrtime.bigint();
      const b = await next();
      try {
        trainStep(model, [b], { optimizer: opt, lossFn, ...(context ? { context } : {}) }, state);
      } finally {
        b.x.dispose();
        b.target.dispose();
      }
      if (i > 0) times.push(seconds(t0));
    }
  } finally {
    opt.dispose();
  }
  return times;
}

export async function measureTrain(o: BenchJobOptions, batch: number, plan: ThreadPlan): Promise<TrainResult> {
  setNumThreads(plan.intraOpThreads);
  const model = await benchModel(o);
  model.train();
  const config = trainingDataConfig(model, null, o.imgSize ? { imgSize: o.imgSize } : {});
  const [c, h, w] = config.inputSize;
  const classes = model.numClasses;
  const rows: TrainResult['rows'] = [];
  const ds = o.data ? dataImages(o) : null;
  const g = new Generator(0);
  try {
    for (const precision of TRAIN_PRECISIONS) {
      const fixed = async () => ({ x: randn([batch, c, h, w], { generator: g }), target: randint(0, classes, [batch], { generator: g }) });
      const modelStep = quantile(
        (await timeSteps(model, o.trainSteps, precision, fixed)).sort((a, b) => a - b),
        0.5,
      );
      const r: TrainResult['rows'][number] = { precision, modelStepsPerSec: 1 / modelStep, modelImgPerSec: batch / modelStep };
      if (ds) {
        // The folder's images have no labels: class = index mod classes (the speed does not depend on it).
        const loader = new DataLoader(ds, {
          batchSize: batch,
          numWorkers: plan.loaderWorkers,
          shuffle: true,
          dropLast: ds.length >= batch,
          transform: { config, isTraining: true },
        });
        let epoch = 0;
        let it = loader.epoch(epoch)[Symbol.asyncIterator]();
        const fromLoader = async () => {
          let res = await it.next();
          if (res.done) {
            it = loader.epoch(++epoch)[Symbol.asyncIterator]();
            res = await it.next();
          }
          if (res.done) throw new CliError('--data: no image in the folder could be read');
          const b = res.value;
          return {
            x: fromTypedArray(b.data, b.shape),
            target: fromTypedArray(
              BigInt64Array.from(b.indices, (i) => BigInt(i % classes)),
              [b.indices.length],
            ),
          };
        };
        try {
          // The rate over the timed steps, each with its wait for the loader (the loader prefetches
          // while the step runs: a wait is what the overlap did not hide).
          const total = (await timeSteps(model, o.trainSteps, precision, fromLoader)).reduce((a, t) => a + t, 0);
          r.dataStepsPerSec = o.trainSteps / total;
          r.dataImgPerSec = (o.trainSteps * Math.min(batch, ds.length)) / total;
        } finally {
          await it.return?.(undefined);
          await loader.close();
        }
      }
      rows.push(r);
    }
  } finally {
    g.dispose();
    model.dispose();
  }
  return {
    batch,
    imgSize: [h, w],
    threads: plan.intraOpThreads,
    workers: plan.loaderWorkers,
    steps: o.trainSteps,
    rows,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
}
