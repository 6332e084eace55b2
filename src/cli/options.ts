// Options shared by the subcommands: the model/weights/hub group, output paths, JSON output, number
// parsing, and the model loading that goes with them. A later command adds the same flags with the
// same help text by calling these helpers, so `--model`/`--checkpoint` mean one thing everywhere.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import {
  createModel,
  loadInferenceModel,
  resolveModelName,
  type CreateModelOptions,
  type EfficientNet,
  type HubOptions,
  type InferenceModel,
} from '../models/index.js';
import { StateDictError } from '../nn/index.js';
import {
  BACKENDS,
  BackendOptionError,
  calibrationFromDataset,
  DEFAULT_CALIBRATION_IMAGES,
  type Calibration,
  BackendUnavailableError,
  checkBackendPrecision,
  loadInferenceBackend,
  PRECISIONS,
  type BackendChoice,
  type BackendOption,
  type Precision,
} from '../backends/index.js';
import { getNumThreads, parseDevice, setNumThreads } from '../torch/index.js';
import { commandPlanKind, threadPlan, type ThreadPlanKind } from '../util/cpu_budget.js';
import { UNLABELED, type DataConfig, type ImageDataset } from '../data/index.js';
import { inferenceDataConfig, selectData } from '../train/index.js';
import { CliError, warn } from './errors.js';
import { createProgress, type Progress } from './progress.js';

/** Options of the root program, visible to every subcommand. */
export interface GlobalOptions {
  readonly verbose: boolean;
  readonly quiet: boolean;
}

export function globalOptions(cmd: Command): GlobalOptions {
  const o = cmd.optsWithGlobals<{ verbose?: boolean; quiet?: boolean }>();
  return { verbose: o.verbose === true, quiet: o.quiet === true };
}

// ---------------------------------------------------------------------------------------------
// threads and loader workers (src/util/cpu_budget.ts: the cores this process may use, split by kind of job)

/** The --workers default of a command of `kind`: the thread plan's loader workers. */
export function defaultWorkers(kind: ThreadPlanKind): number {
  return threadPlan(kind).loaderWorkers;
}

/**
 * Before a command runs: libtorch's intra-op threads from the plan of its kind, the cores its
 * --workers (given or defaulted) leave. The plan ends up in what the job records: the thread count
 * in each artifact's environment (environmentInfo().threads), the workers in its resolved config.
 */
export function applyThreadPlan(action: Command): void {
  const kind = commandPlanKind(action.name());
  if (!kind) return;
  // A command without loader workers (predict, features, serve, export-onnx) leaves every core to the threads.
  const hasWorkers = action.options.some((opt) => opt.attributeName() === 'workers');
  const w = action.opts<{ workers?: unknown }>().workers;
  const plan = threadPlan(kind, { workers: !hasWorkers ? 0 : typeof w === 'number' ? w : undefined });
  if (plan.intraOpThreads !== getNumThreads()) setNumThreads(plan.intraOpThreads);
}

// The number parsers live in ./args.ts (one set for every command); these names stay for existing callers.
export { intArg, intListArg } from './args.js';
import { intArg } from './args.js';

// ---------------------------------------------------------------------------------------------
// model, weights, hub

export interface ModelCliOptions {
  model: string;
  checkpoint?: string;
  pretrained?: boolean;
  hubCache?: string;
  offline?: boolean;
  device?: string;
  /** timm validate.py's --num-classes: the classifier size the checkpoint must have. */
  numClasses?: number;
  /** Inference commands: what runs the model (addBackendOptions). */
  backend?: BackendOption;
  precision?: Precision;
  /** int8: the data its activation ranges are calibrated on, how many images, which range method. */
  calibration?: string;
  calibrationImages?: number;
  calibrationMethod?: 'minmax' | 'percentile';
}

/** `--backend` and `--precision` of the inference commands (predict, features, validate, pseudo-label, evaluate). */
export function addBackendOptions(cmd: Command): Command {
  cmd
    .addOption(
      new Option(
        '--backend <name>',
        'what runs the model: torch (libtorch eager), torch-fused (BatchNorm folded, one native call per batch), ' +
          'ort (ONNX Runtime on our ONNX export), or auto (the fastest here, measured once and cached)',
      )
        .choices([...BACKENDS, 'auto'])
        .default('torch'),
    )
    .addOption(
      new Option(
        '--precision <p>',
        'compute precision: fp32, bf16 (torch-fused, AMX where the CPU has it) or int8 (ort, calibrated: --calibration)',
      )
        .choices([...PRECISIONS])
        .default('fp32'),
    );
  return addCalibrationOptions(cmd);
}

/** int8's calibration flags (the inference commands and export-onnx). */
export function addCalibrationOptions(cmd: Command): Command {
  return cmd
    .option(
      '--calibration <data>',
      "int8: images to calibrate activation ranges on: a folder, a list file or 'fashion-mnist:train' (default: the command's own input images)",
    )
    .option(
      '--calibration-images <n>',
      `int8: calibration images, evenly strided over the calibration data (default: ${DEFAULT_CALIBRATION_IMAGES})`,
      intArg(1),
    )
    .addOption(
      new Option('--calibration-method <m>', 'int8: activation ranges from percentiles (99.99; the default) or the min/max').choices([
        'minmax',
        'percentile',
      ]),
    );
}

/** A list of image files as an unlabeled data set (the inputs of predict and features, for calibration). */
export function filesDataset(files: readonly string[]): ImageDataset {
  return {
    length: files.length,
    classes: null,
    label: () => UNLABELED,
    source: (i) => ({ kind: 'file', path: files[i]! }),
  };
}

/** The calibration flags without --precision int8 are a usage error (they would be silently ignored). */
export function refuseCalibrationFlags(
  o: Pick<ModelCliOptions, 'precision' | 'calibration' | 'calibrationImages' | 'calibrationMethod'>,
): void {
  if (o.precision === 'int8') return;
  if (o.calibration !== undefined || o.calibrationImages !== undefined || o.calibrationMethod !== undefined) {
    throw new CliError('--calibration, --calibration-images and --calibration-method are for --precision int8', 2);
  }
}

/**
 * The calibration of an int8 run: --calibration's data, else `fallback` (the command's own input images).
 * undefined for fp32 and bf16, where the calibration flags are refused as a usage error.
 */
export function calibrationFromOptions(
  o: ModelCliOptions,
  fallback?: { dataset: ImageDataset; what: string; config?: (model: EfficientNet) => DataConfig },
): Calibration | undefined {
  if ((o.precision ?? 'fp32') !== 'int8') {
    refuseCalibrationFlags(o);
    return undefined;
  }
  const method = o.calibrationMethod ? { method: o.calibrationMethod } : {};
  const images = o.calibrationImages ?? DEFAULT_CALIBRATION_IMAGES;
  if (o.calibration !== undefined) {
    const sel = selectData({ spec: o.calibration });
    // An in_chans/img-size override is the command's: the fallback config knows it, the model's own does not.
    const config = fallback?.config ?? ((m: EfficientNet) => inferenceDataConfig(m));
    return calibrationFromDataset(sel.dataset, config, { images, ...method, describe: { data: o.calibration } });
  }
  if (!fallback) throw new CliError('--precision int8 needs --calibration DATA: the images to calibrate activation ranges on', 2);
  if (fallback.dataset.length === 0)
    throw new CliError(`--precision int8: no ${fallback.what} to calibrate on; give --calibration DATA`, 2);
  return calibrationFromDataset(fallback.dataset, fallback.config ?? ((m: EfficientNet) => inferenceDataConfig(m)), {
    images,
    ...method,
    describe: { data: fallback.what },
  });
}

/** Refuse a backend/precision pair that does not run (before any slow work), as a usage error. */
export function checkBackendOptions(o: ModelCliOptions): void {
  try {
    checkBackendPrecision(o.backend ?? 'torch', o.precision ?? 'fp32');
  } catch (e) {
    if (e instanceof BackendOptionError) throw new CliError(e.message, 2);
    throw e;
  }
  if ((o.backend ?? 'torch') !== 'torch' && o.device && o.device !== 'cpu') {
    throw new CliError(`--backend ${o.backend} runs on the CPU only; use --backend torch for --device ${o.device}`, 2);
  }
}

/** The backend auto picked, said on stderr (a pinned backend says nothing). */
export function reportBackendChoice(c: BackendChoice, quiet = false): void {
  if (c.reason === 'pinned' || quiet) return;
  process.stderr.write(`backend: ${c.backend} (${c.precision}), ${c.reason}\n`);
}

export function addModelOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-m, --model <name>', 'timm model name: arch, arch.tag or a legacy alias (e.g. tf_efficientnet_b0_ns)')
    .addOption(
      new Option(
        '-c, --checkpoint <path>',
        'local weights: a .safetensors file, or a directory with model.safetensors (+ config.json)',
      ).conflicts('pretrained'),
    )
    .option('--pretrained', "timm's pretrained weights for the model's tag, from the Hugging Face hub (cached)")
    .option('--hub-cache <dir>', 'hub cache directory (default: HF_HUB_CACHE, or HF_HOME/hub, or ~/.cache/huggingface/hub)')
    .option('--offline', 'use the hub cache only, never the network (as HF_HUB_OFFLINE=1)')
    .addOption(deviceOption());
}

/** `--device cpu|cuda[:N]`: checked against the libtorch in use before any slow work. */
export function deviceOption(): Option {
  return new Option('--device <device>', 'where the model runs: cpu or cuda[:N] (default: cpu)').argParser((v) => {
    try {
      return parseDevice(v);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  });
}

export interface LoadModelOptions {
  /** The command's name, for the refusal message. */
  readonly command: string;
  /** Refuse to run on random weights (inference commands). */
  readonly requireWeights: boolean;
  readonly featuresOnly?: boolean;
  readonly outIndices?: readonly number[];
  readonly quiet?: boolean;
}

/**
 * The checks that need no model: the name exists (else UnknownModelError with suggestions) and
 * weights were given when required. Commands call it first so a typo fails before any slow work.
 */
export function validateModelOptions(o: ModelCliOptions, opts: Pick<LoadModelOptions, 'command' | 'requireWeights'>): void {
  resolveModelName(o.model);
  if (opts.requireWeights && !o.checkpoint && !o.pretrained) {
    throw new CliError(
      `${opts.command} needs trained weights: pass --checkpoint PATH (a .safetensors file or a checkpoint directory) ` +
        `or --pretrained (downloads timm's weights from the Hugging Face hub); random weights give meaningless results`,
    );
  }
}

/** Create the model the options name, with weights; warnings go to stderr, a download shows progress. */
export async function loadModelFromOptions(o: ModelCliOptions, opts: LoadModelOptions): Promise<EfficientNet> {
  return loadFromOptions(o, opts, createModel);
}

/**
 * The same model behind the InferenceModel interface (in eval mode, released by its dispose()), for
 * the commands that only run it (predict, features, validate, pseudo-label, evaluate).
 */
export async function loadInferenceFromOptions(
  o: ModelCliOptions,
  opts: LoadModelOptions & { batchSize?: number; calibration?: Calibration | undefined },
): Promise<InferenceModel> {
  checkBackendOptions(o);
  const backend = o.backend ?? 'torch';
  const precision = o.precision ?? 'fp32';
  if (backend === 'torch' && precision === 'fp32') return loadFromOptions(o, opts, loadInferenceModel);
  try {
    return await loadFromOptions(o, opts, (name, create) =>
      loadInferenceBackend(name, {
        ...create,
        backend,
        precision,
        ...(opts.batchSize ? { batchSize: opts.batchSize } : {}),
        ...(opts.calibration ? { calibration: opts.calibration } : {}),
        onChoice: (c) => reportBackendChoice(c, opts.quiet ?? false),
      }),
    );
  } catch (e) {
    if (e instanceof BackendUnavailableError) throw new CliError(e.message);
    if (e instanceof BackendOptionError) throw new CliError(e.message, 2);
    throw e;
  }
}

async function loadFromOptions<T>(
  o: ModelCliOptions,
  opts: LoadModelOptions,
  load: (name: string, createOpts: CreateModelOptions) => Promise<T>,
): Promise<T> {
  validateModelOptions(o, opts);
  let download: Progress | null = null;
  let downloadedMb = 0;
  const MB = 1024 * 1024;
  const hub: HubOptions = {
    ...(o.hubCache ? { cacheDir: resolve(o.hubCache) } : {}),
    ...(o.offline ? { offline: true } : {}),
    onWarning: warn,
    onProgress: ({ file, downloaded, total }) => {
      // Only a real download (with a known size) is worth a bar; cached files report nothing.
      if (total === undefined || total < MB) return;
      if (!download)
        download = createProgress({ total: Math.round(total / MB), label: `download ${file}`, unit: 'MB', quiet: opts.quiet ?? false });
      const done = Math.round(downloaded / MB);
      download.tick(done - downloadedMb);
      downloadedMb = done;
    },
  };
  try {
    return await load(o.model, {
      ...(o.checkpoint ? { checkpointPath: o.checkpoint } : {}),
      ...(o.pretrained ? { pretrained: true } : {}),
      ...(opts.featuresOnly ? { featuresOnly: true } : {}),
      ...(opts.outIndices ? { outIndices: opts.outIndices } : {}),
      ...(o.device ? { device: o.device } : {}),
      ...(o.numClasses !== undefined ? { numClasses: o.numClasses } : {}),
      hub,
      onWarning: warn,
    });
  } catch (e) {
    // The library's message says what does not fit; name the file and model so the user knows which.
    if (e instanceof StateDictError) {
      throw new CliError(`${o.checkpoint ?? 'the pretrained weights'} cannot be loaded into ${o.model}: ${e.message}`);
    }
    throw e;
  } finally {
    (download as Progress | null)?.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// outputs

export function addOutputOption(cmd: Command, description: string): Command {
  return cmd.requiredOption('-o, --output <path>', description);
}

/** Resolve an output file path and create its directory; refuses a path that is a directory. */
export function prepareOutputFile(path: string): string {
  const abs = resolve(path);
  if (existsSync(abs) && statSync(abs).isDirectory()) throw new CliError(`output ${path} is a directory; give a file name`);
  mkdirSync(dirname(abs), { recursive: true });
  return abs;
}

export function addJsonOption(cmd: Command): Command {
  return cmd.option('--json', 'print the result as JSON on stdout (messages stay on stderr)');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
