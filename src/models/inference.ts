// InferenceModel: the one seam between the commands that only run a model (predict, features,
// pseudo-label, evaluate, serve) and whatever executes it. A float32 NCHW batch goes in, plain
// Float32Arrays come out, asynchronously, so libtorch eager (TorchInferenceModel, here), a fused
// libtorch path or ONNX Runtime are interchangeable and no caller holds a tensor.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fromTypedArray, noGrad, scope, type Tensor } from '../torch/index.js';
import type { Module } from '../nn/index.js';
import { createModel, type CreateModelOptions } from './create.js';
import type { EfficientNet, FeatureInfo } from './efficientnet.js';
import { findCachedFile, parseHubId } from './hub.js';
import { resolveModelName } from './names.js';
import type { PretrainedCfg } from './pretrained.js';

export type InferenceOutput = 'logits' | 'pre_logits' | 'feature_maps';

/** A float32 NCHW batch, row-major (what DataLoader.fetch returns). */
export interface InferenceBatch {
  readonly data: Float32Array;
  readonly shape: readonly [number, number, number, number];
}

/** One output, row-major float32. */
export interface InferenceArray {
  readonly data: Float32Array;
  readonly shape: number[];
}

/** logits / pre_logits: one [N, C] array; feature_maps: one [N, C_i, H_i, W_i] array per map, shallowest first. */
export type InferenceResult<O extends InferenceOutput = InferenceOutput> = O extends 'feature_maps' ? InferenceArray[] : InferenceArray;

export interface InferenceModel {
  /** timm name, `arch.tag`. */
  readonly name: string;
  /** What executes it: 'torch' (libtorch eager) here; 'onnxruntime' and others implement the same interface. */
  readonly backend: string;
  /** Compute precision: 'fp32', 'fp64', 'fp16', 'bf16'. */
  readonly precision: string;
  readonly device: string;
  readonly numClasses: number;
  /** Width of pre_logits. */
  readonly numFeatures: number;
  /** Class names from the checkpoint's config.json `label_names` (one per class), or null. */
  readonly labelNames: readonly string[] | null;
  /** Preprocessing: resolveDataConfig({}, model) reads it. */
  readonly pretrainedCfg: PretrainedCfg;
  /** The feature maps' modules, channels and reductions (timm's feature_info). */
  readonly featureInfo: readonly FeatureInfo[];
  /** What run() can return: a features_only model gives feature maps only, a full model the others. */
  readonly outputs: readonly InferenceOutput[];
  /** Run one batch; 'logits' by default. */
  run<O extends InferenceOutput = 'logits'>(batch: InferenceBatch, output?: O): Promise<InferenceResult<O>>;
  dispose(): void | Promise<void>;
}

const PRECISION: Readonly<Record<string, string>> = { float32: 'fp32', float64: 'fp64', float16: 'fp16', bfloat16: 'bf16' };

export interface TorchInferenceOptions {
  /** timm name; default `architecture.tag` of the model's pretrained cfg. */
  readonly name?: string;
  /** Default: the model's own labelNames. */
  readonly labelNames?: readonly string[] | null;
  /** Release the model with dispose() (default false: the caller keeps it). */
  readonly disposeModel?: boolean;
}

/**
 * An EfficientNet behind the InferenceModel interface: each run is in eval mode (the model's own
 * modes are put back afterwards), without autograd, inside a scope, and copies its outputs out, so
 * no tensor outlives the call.
 */
export class TorchInferenceModel implements InferenceModel {
  readonly backend = 'torch';
  readonly name: string;
  readonly labelNames: readonly string[] | null;
  readonly pretrainedCfg: PretrainedCfg;
  readonly outputs: readonly InferenceOutput[];
  private model: EfficientNet | null;
  private readonly disposeModel: boolean;

  constructor(model: EfficientNet, opts: TorchInferenceOptions = {}) {
    const cfg = model.pretrainedCfg;
    if (!cfg) throw new Error('TorchInferenceModel: the model has no pretrainedCfg (its preprocessing); create it with createModel');
    this.model = model;
    this.pretrainedCfg = cfg;
    this.name = opts.name ?? (cfg.tag ? `${cfg.architecture}.${cfg.tag}` : cfg.architecture);
    const names = opts.labelNames !== undefined ? opts.labelNames : model.labelNames;
    if (names && names.length !== model.numClasses) {
      throw new RangeError(`TorchInferenceModel: ${names.length} label names for ${model.numClasses} classes`);
    }
    this.labelNames = names ? [...names] : null;
    this.outputs = model.spec.featuresOnly ? ['feature_maps'] : ['logits', 'pre_logits'];
    this.disposeModel = opts.disposeModel ?? false;
  }

  /** The wrapped module (for callers that also need the torch side, e.g. to train it). */
  get module(): EfficientNet {
    if (!this.model) throw new Error(`inference model ${this.name} was disposed`);
    return this.model;
  }
  get precision(): string {
    const dtype = this.module.parameters()[0]?.dtype ?? 'float32';
    return PRECISION[dtype] ?? dtype;
  }
  get device(): string {
    return this.module.device;
  }
  get numClasses(): number {
    return this.module.numClasses;
  }
  get numFeatures(): number {
    return this.module.numFeatures;
  }
  get featureInfo(): readonly FeatureInfo[] {
    return this.module.featureInfo;
  }

  // async although libtorch eager runs synchronously: errors become rejections, as another backend's would.
  async run<O extends InferenceOutput = 'logits'>(batch: InferenceBatch, output?: O): Promise<InferenceResult<O>> {
    return this.runSync(batch, (output ?? 'logits') as InferenceOutput) as InferenceResult<O>;
  }

  private runSync(batch: InferenceBatch, output: InferenceOutput): InferenceArray | InferenceArray[] {
    const model = this.module;
    if (!this.outputs.includes(output)) {
      const why = model.spec.featuresOnly
        ? 'it was loaded as a features_only model (feature maps only)'
        : "load it with featuresOnly: true for 'feature_maps'";
      throw new Error(`inference model ${this.name} cannot give '${output}': ${why}`);
    }
    checkBatch(batch, model.spec.inChans, this.name);
    const device = model.device;
    const dtype = model.parameters()[0]?.dtype ?? 'float32';
    return withEvalMode(model, () =>
      noGrad(() =>
        scope(() => {
          // The batch arrives in host memory as float32: to the model's device and dtype (no-ops on a float32 CPU model).
          const x0 = fromTypedArray(batch.data, [...batch.shape]);
          const x = device === 'cpu' && dtype === 'float32' ? x0 : x0.to({ device, dtype });
          if (output === 'feature_maps') return model.forwardFeatureMaps(x).map(toArray);
          if (output === 'pre_logits') return toArray(model.forwardHead(model.forwardFeatures(x), { preLogits: true }));
          return toArray(model.forward(x));
        }),
      ),
    );
  }

  dispose(): void {
    if (this.model && this.disposeModel) this.model.dispose();
    this.model = null;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** The checks every backend makes on a batch: a Float32Array of [N, C, H, W] with the model's channel count. */
export function checkBatch(batch: InferenceBatch, inChans: number, name: string): void {
  if (!(batch.data instanceof Float32Array)) throw new TypeError(`inference model ${name}: batch.data must be a Float32Array`);
  const s = batch.shape;
  if (s.length !== 4 || !s.every((d) => Number.isInteger(d) && d > 0)) {
    throw new RangeError(`inference model ${name}: batch.shape must be [N, C, H, W] of positive integers, got [${s.join(', ')}]`);
  }
  if (s[1] !== inChans) throw new RangeError(`inference model ${name}: the batch has ${s[1]} channels, the model takes ${inChans}`);
  const n = s[0] * s[1] * s[2] * s[3];
  if (batch.data.length !== n) {
    throw new RangeError(`inference model ${name}: batch.shape [${s.join(', ')}] needs ${n} values, batch.data has ${batch.data.length}`);
  }
}

function toArray(t: Tensor): InferenceArray {
  return { data: t.to({ device: 'cpu', dtype: 'float32' }).contiguous().toTypedArray() as Float32Array, shape: [...t.shape] };
}

/** Run fn in eval mode, then give every module back its own mode (a wrapped model may be mid-training). */
function withEvalMode<T>(model: Module, fn: () => T): T {
  const modes = [...model.namedModules()].map(([, m]) => [m, m.training] as const);
  if (modes.every(([, t]) => !t)) return fn();
  model.eval();
  try {
    return fn();
  } finally {
    // Pre-order: each module's train(mode) also sets its subtree, which the later entries correct.
    for (const [m, t] of modes) m.train(t);
  }
}

/** A float32 NCHW tensor (e.g. a stack of transformed images) as an InferenceBatch (a copy). */
export function inferenceBatch(x: Tensor): InferenceBatch {
  if (x.shape.length !== 4) throw new RangeError(`inferenceBatch: expected an [N, C, H, W] tensor, got [${x.shape.join(', ')}]`);
  const [n, c, h, w] = x.shape as [number, number, number, number];
  return { data: scope(() => x.float().contiguous().toTypedArray() as Float32Array), shape: [n, c, h, w] };
}

/** Wrap a model the caller keeps (it is not released by dispose() unless `disposeModel: true`). */
export function inferenceModelFrom(model: EfficientNet, opts: TorchInferenceOptions = {}): TorchInferenceModel {
  return new TorchInferenceModel(model, opts);
}

export interface LoadInferenceOptions extends CreateModelOptions {
  /** Only 'torch' (libtorch eager) so far. */
  readonly backend?: 'torch';
}

/**
 * createModel + the InferenceModel wrapper that owns it (dispose() releases the weights), in eval
 * mode, with the checkpoint's label names.
 * @example const m = await loadInferenceModel('tf_efficientnet_b0.ns_jft_in1k', { pretrained: true });
 */
export async function loadInferenceModel(name: string, opts: LoadInferenceOptions = {}): Promise<InferenceModel> {
  const { backend = 'torch', ...create } = opts;
  if (backend !== 'torch') throw new Error(`unknown inference backend "${String(backend)}" (available: torch)`);
  const fullName = resolveModelName(name).fullName;
  // A model that predicts must predict with its own trained head, never a fresh random one.
  const model = await createModel(name, { requireClassifier: create.featuresOnly !== true, ...create });
  try {
    if (model.labelNames === null) {
      const names = await checkpointLabelNames(resolveModelName(name).pretrainedCfg, create);
      if (names && names.length === model.numClasses) model.labelNames = names;
    }
    model.eval();
    return new TorchInferenceModel(model, { name: fullName, disposeModel: true });
  } catch (e) {
    model.dispose();
    throw e;
  }
}

// createModel reads config.json but keeps it to itself; this finds the same file (the checkpoint
// folder's, or the hub snapshot createModel just fetched) for its `label_names`.
async function checkpointLabelNames(cfg: PretrainedCfg, opts: CreateModelOptions): Promise<string[] | null> {
  let path: string | undefined;
  if (opts.checkpointPath) {
    const p = opts.checkpointPath;
    if (existsSync(p) && statSync(p).isDirectory()) path = join(p, 'config.json');
    else if (basename(p) === 'model.safetensors') path = join(dirname(p), 'config.json');
  } else if (opts.pretrained && cfg.hfHubId) {
    const { repoId, revision } = parseHubId(cfg.hfHubId);
    const hub = revision !== undefined && opts.hub?.revision === undefined ? { ...opts.hub, revision } : (opts.hub ?? {});
    path = await findCachedFile(repoId, 'config.json', hub);
  }
  if (!path || !existsSync(path)) return null;
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return null; // createModel has already rejected a config.json it could not read
  }
  const names = (config as { label_names?: unknown } | null)?.label_names;
  return Array.isArray(names) && names.every((n) => typeof n === 'string') ? names : null;
}
