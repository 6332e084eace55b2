// The inference backends behind the InferenceModel seam, and the choice between them:
//   torch        libtorch eager (TorchInferenceModel), fp32
//   torch-fused  the fused libtorch path (FusedTorchInferenceModel), fp32 or bf16
//   ort          ONNX Runtime on our own ONNX export (OrtInferenceModel), fp32, or int8 on a QDQ export
//                calibrated on N images of the user's data (calibration.ts)
//   auto         measured once per model architecture, batch, input size, threads, precision and
//                machine, cached (backend_choice.ts), then the faster one
import {
  FusedTorchInferenceModel,
  loadInferenceModel,
  TorchInferenceModel,
  type EfficientNet,
  type InferenceModel,
  type LoadInferenceOptions,
} from '../models/index.js';
import { BackendUnavailableError, loadOrt, OrtInferenceModel } from './ort.js';
import { chooseBackend, type BackendChoice } from './backend_choice.js';
import { quantizeOptions, type Calibration } from './calibration.js';

export { OrtInferenceModel, BackendUnavailableError, loadOrt, setOrtImporter } from './ort.js';
export { backendCachePath, type BackendChoice } from './backend_choice.js';
export {
  calibrationFromDataset,
  calibrationIndices,
  DEFAULT_CALIBRATION_IMAGES,
  quantizeOptions,
  type Calibration,
} from './calibration.js';
export { measureInference, quantile, randomBatch, randomCalibration, type LatencyStats, type Measurement } from './measure.js';

export const BACKENDS = ['torch', 'torch-fused', 'ort'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type BackendOption = BackendName | 'auto';
export const PRECISIONS = ['fp32', 'bf16', 'int8'] as const;
export type Precision = (typeof PRECISIONS)[number];

/** Which precisions each backend runs (int8: ONNX Runtime on a calibrated QDQ export). */
export const BACKEND_PRECISIONS: Readonly<Record<BackendName, readonly Precision[]>> = {
  torch: ['fp32'],
  'torch-fused': ['fp32', 'bf16'],
  ort: ['fp32', 'int8'],
};

export class BackendOptionError extends Error {
  readonly code = 'E_BACKEND_OPTION';
  constructor(message: string) {
    super(message);
    this.name = 'BackendOptionError';
  }
}

function supportTable(): string {
  return BACKENDS.map((b) => `${b}: ${BACKEND_PRECISIONS[b].join(', ')}`).join('; ');
}

export function checkBackendPrecision(backend: BackendOption, precision: Precision): void {
  if (backend !== 'auto' && !(BACKENDS as readonly string[]).includes(backend)) {
    throw new BackendOptionError(`unknown backend "${backend}"; known: ${BACKENDS.join(', ')}, auto`);
  }
  if (!(PRECISIONS as readonly string[]).includes(precision)) {
    throw new BackendOptionError(`unknown precision "${precision}"; known: ${PRECISIONS.join(', ')}`);
  }
  const ok =
    backend === 'auto' ? BACKENDS.some((b) => BACKEND_PRECISIONS[b].includes(precision)) : BACKEND_PRECISIONS[backend].includes(precision);
  if (!ok) throw new BackendOptionError(`backend ${backend} does not run ${precision}; what runs: ${supportTable()}`);
}

/** int8 quantizes with activation ranges measured on the user's images: without them it cannot run. */
export function checkCalibration(precision: Precision, calibration: Calibration | undefined): void {
  if (precision === 'int8' && !calibration) {
    throw new BackendOptionError(
      'int8 needs calibration images to measure activation ranges on (--calibration DATA, or the calibration option)',
    );
  }
}

export interface OpenInferenceOptions {
  readonly backend?: BackendOption;
  readonly precision?: Precision;
  /** Intra-op threads for ONNX Runtime (libtorch's are process-wide: setNumThreads). */
  readonly threads?: number;
  /** timm name (default: the model's). */
  readonly name?: string;
  readonly labelNames?: readonly string[] | null;
  /** The returned model owns `model` and releases it in dispose() (default false). */
  readonly disposeModel?: boolean;
  /** auto: the batch size and input size it is chosen for (default 1 and the model's input size). */
  readonly batchSize?: number;
  readonly inputSize?: readonly [number, number];
  /** auto: where the choice is cached (default backendCachePath()). */
  readonly cacheFile?: string;
  /** auto: measure again even when a choice is cached. */
  readonly remeasure?: boolean;
  /** Told what was chosen and why (always called, also for a pinned backend). */
  readonly onChoice?: (choice: BackendChoice) => void;
  /** int8: the images its activation ranges are calibrated on (calibrationFromDataset). */
  readonly calibration?: Calibration;
}

async function available(backend: BackendName): Promise<boolean> {
  if (backend !== 'ort') return true;
  try {
    await loadOrt();
    return true;
  } catch (e) {
    if (e instanceof BackendUnavailableError) return false;
    throw e;
  }
}

/** One backend over `model` (which this does not release; the torch backend wraps it, the others copy its weights). */
async function openPinned(
  model: EfficientNet,
  backend: BackendName,
  precision: Precision,
  o: OpenInferenceOptions,
): Promise<InferenceModel> {
  const common = { ...(o.name ? { name: o.name } : {}), ...(o.labelNames !== undefined ? { labelNames: o.labelNames } : {}) };
  switch (backend) {
    case 'torch':
      return new TorchInferenceModel(model, { ...common, disposeModel: o.disposeModel ?? false });
    case 'torch-fused': {
      const m = new FusedTorchInferenceModel(model, { ...common, precision: precision as 'fp32' | 'bf16' });
      if (o.disposeModel) model.dispose();
      return m;
    }
    case 'ort': {
      const calibration = o.calibration;
      const m = await OrtInferenceModel.fromModel(model, {
        ...common,
        ...(o.threads ? { threads: o.threads } : {}),
        ...(precision === 'int8' && calibration ? { quantize: quantizeOptions(calibration, model) } : {}),
      });
      if (o.disposeModel) model.dispose();
      return m;
    }
  }
}

/**
 * `model` behind the backend the options name (default torch, fp32). `auto` measures the available
 * backends that run the precision on a random batch once and caches the choice.
 */
export async function openInferenceModel(model: EfficientNet, o: OpenInferenceOptions = {}): Promise<InferenceModel> {
  const backend = o.backend ?? 'torch';
  const precision = o.precision ?? 'fp32';
  checkBackendPrecision(backend, precision);
  checkCalibration(precision, o.calibration);
  if (backend !== 'auto') {
    if (!(await available(backend))) await loadOrt(); // throws the install hint
    o.onChoice?.({ backend, precision, measured: false, reason: 'pinned' });
    return openPinned(model, backend, precision, o);
  }
  const candidates: BackendName[] = [];
  for (const b of BACKENDS) if (BACKEND_PRECISIONS[b].includes(precision) && (await available(b))) candidates.push(b);
  const choice = await chooseBackend(model, candidates, precision, {
    ...(o.batchSize ? { batchSize: o.batchSize } : {}),
    ...(o.inputSize ? { inputSize: o.inputSize } : {}),
    ...(o.threads ? { threads: o.threads } : {}),
    ...(o.cacheFile ? { cacheFile: o.cacheFile } : {}),
    remeasure: o.remeasure ?? false,
    open: (b) => openPinned(model, b as BackendName, precision, { ...o, disposeModel: false }),
  });
  o.onChoice?.(choice);
  return openPinned(model, choice.backend as BackendName, precision, o);
}

/** loadInferenceModel (name + weights) on any backend: the model is created once, then handed to it. */
export async function loadInferenceBackend(
  name: string,
  o: Omit<LoadInferenceOptions, 'backend'> & OpenInferenceOptions = {},
): Promise<InferenceModel> {
  const {
    backend = 'torch',
    precision = 'fp32',
    threads,
    batchSize,
    inputSize,
    cacheFile,
    remeasure,
    onChoice,
    calibration,
    ...create
  } = o;
  checkBackendPrecision(backend, precision);
  checkCalibration(precision, calibration);
  const torch = (await loadInferenceModel(name, create)) as TorchInferenceModel;
  if (backend === 'torch' && precision === 'fp32') {
    onChoice?.({ backend: 'torch', precision, measured: false, reason: 'pinned' });
    return torch;
  }
  try {
    return await openInferenceModel(torch.module, {
      backend,
      precision,
      name: torch.name,
      labelNames: torch.labelNames,
      disposeModel: false,
      ...(threads ? { threads } : {}),
      ...(batchSize ? { batchSize } : {}),
      ...(inputSize ? { inputSize } : {}),
      ...(cacheFile ? { cacheFile } : {}),
      ...(remeasure !== undefined ? { remeasure } : {}),
      ...(onChoice ? { onChoice } : {}),
      ...(calibration ? { calibration } : {}),
    }).then((m) => {
      // torch (chosen by auto) is a second wrapper of the same model: hand back the one that owns it.
      // Every other backend holds its own copy of the weights.
      if (m.backend === 'torch') return torch;
      torch.dispose();
      return m;
    });
  } catch (e) {
    torch.dispose();
    throw e;
  }
}
