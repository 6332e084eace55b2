// OrtInferenceModel: the InferenceModel seam over ONNX Runtime (onnxruntime-node). The model is our
// own ONNX export (src/onnx), made in memory from an EfficientNet or read from an .onnx file whose
// metadata carries the name, class names and preprocessing. onnxruntime-node is an optional
// dependency: it is imported on first use, and its absence is a clear error, not a crash at load.
import { readFileSync } from 'node:fs';
import {
  checkBatch,
  type EfficientNet,
  type FeatureInfo,
  type InferenceArray,
  type InferenceBatch,
  type InferenceModel,
  type InferenceOutput,
  type InferenceResult,
  type PretrainedCfg,
} from '../models/index.js';
import { decodeModel, exportOnnx, exportOnnxInt8, ONNX_INPUT_NAME, type QuantizeOptions } from '../onnx/index.js';
import { getNumThreads } from '../torch/index.js';

type Ort = typeof import('onnxruntime-node');
type Session = import('onnxruntime-node').InferenceSession;

export class BackendUnavailableError extends Error {
  readonly code = 'E_BACKEND_UNAVAILABLE';
  constructor(message: string) {
    super(message);
    this.name = 'BackendUnavailableError';
  }
}

let ortModule: Promise<Ort> | null = null;
/** For tests: how onnxruntime-node is imported (default: the package itself). */
let importOrt: () => Promise<Ort> = () => import('onnxruntime-node');

export function setOrtImporter(fn: (() => Promise<Ort>) | null): void {
  importOrt = fn ?? (() => import('onnxruntime-node'));
  ortModule = null;
}

/** onnxruntime-node, imported once; a clear error when it is not installed. */
export async function loadOrt(): Promise<Ort> {
  ortModule ??= importOrt().catch((e: unknown) => {
    ortModule = null;
    throw new BackendUnavailableError(
      `the ONNX Runtime backend needs the optional dependency onnxruntime-node, which could not be loaded ` +
        `(${(e as Error).message.split('\n')[0]}): install it (npm install onnxruntime-node, offline: ONNXRUNTIME_NODE_INSTALL=skip) or use --backend torch`,
    );
  });
  return ortModule;
}

export interface OrtInferenceOptions {
  /** Intra-op threads (default: libtorch's thread count, so both backends use the same cores). */
  readonly threads?: number;
  /** timm name (default: the model's). */
  readonly name?: string;
  readonly labelNames?: readonly string[] | null;
  /** ONNX opset of the in-memory export (default the exporter's). */
  readonly opset?: number;
  /** fromModel: export int8 (QDQ), calibrated on these images, instead of fp32. */
  readonly quantize?: QuantizeOptions;
}

interface Meta {
  readonly name: string;
  readonly labelNames: readonly string[] | null;
  readonly pretrainedCfg: PretrainedCfg;
  readonly numClasses: number;
  readonly numFeatures: number;
  readonly featureInfo: readonly FeatureInfo[];
  readonly inChans: number;
  readonly outputs: readonly InferenceOutput[];
  readonly featureOutputs: readonly string[];
  readonly precision: 'fp32' | 'int8';
}

/** An EfficientNet run by ONNX Runtime (CPU execution provider, graph optimisation 'all'). */
export class OrtInferenceModel implements InferenceModel {
  readonly backend = 'onnxruntime';
  /** fp32, or int8 for a quantized (QDQ) export: read from the model's metadata. */
  readonly precision: 'fp32' | 'int8';
  readonly device = 'cpu';
  readonly name: string;
  readonly labelNames: readonly string[] | null;
  readonly pretrainedCfg: PretrainedCfg;
  readonly numClasses: number;
  readonly numFeatures: number;
  readonly featureInfo: readonly FeatureInfo[];
  readonly outputs: readonly InferenceOutput[];
  private session: Session | null;
  private readonly ort: Ort;
  private readonly inChans: number;
  private readonly featureOutputs: readonly string[];

  private constructor(ort: Ort, session: Session, meta: Meta) {
    this.ort = ort;
    this.session = session;
    this.name = meta.name;
    this.labelNames = meta.labelNames;
    this.pretrainedCfg = meta.pretrainedCfg;
    this.numClasses = meta.numClasses;
    this.numFeatures = meta.numFeatures;
    this.featureInfo = meta.featureInfo;
    this.inChans = meta.inChans;
    this.outputs = meta.outputs;
    this.featureOutputs = meta.featureOutputs;
    this.precision = meta.precision;
  }

  /** Export `model` in memory and open it in ONNX Runtime; the model itself is not kept. */
  static async fromModel(model: EfficientNet, opts: OrtInferenceOptions = {}): Promise<OrtInferenceModel> {
    const ort = await loadOrt();
    const outputs: InferenceOutput[] = model.spec.featuresOnly ? ['feature_maps'] : ['logits', 'pre_logits'];
    const exportOpts = {
      outputs,
      ...(opts.name ? { name: opts.name } : {}),
      ...(opts.labelNames !== undefined ? { labelNames: opts.labelNames } : {}),
      ...(opts.opset ? { opset: opts.opset } : {}),
    };
    const bytes = opts.quantize
      ? await exportOnnxInt8(model, { ...exportOpts, quantize: { threads: opts.threads ?? getNumThreads(), ...opts.quantize } })
      : exportOnnx(model, exportOpts);
    return OrtInferenceModel.fromBytes(bytes, opts, ort);
  }

  /** Open an .onnx file written by `export-onnx` (its metadata gives name, classes and preprocessing). */
  static async fromFile(path: string, opts: OrtInferenceOptions = {}): Promise<OrtInferenceModel> {
    return OrtInferenceModel.fromBytes(new Uint8Array(readFileSync(path)), opts);
  }

  static async fromBytes(bytes: Uint8Array, opts: OrtInferenceOptions = {}, ortIn?: Ort): Promise<OrtInferenceModel> {
    const ort = ortIn ?? (await loadOrt());
    const meta = readMeta(bytes, opts);
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      intraOpNumThreads: opts.threads ?? getNumThreads(),
      interOpNumThreads: 1,
      executionMode: 'sequential',
    });
    return new OrtInferenceModel(ort, session, meta);
  }

  async run<O extends InferenceOutput = 'logits'>(batch: InferenceBatch, output?: O): Promise<InferenceResult<O>> {
    const session = this.session;
    if (!session) throw new Error(`inference model ${this.name} was disposed`);
    const out = (output ?? 'logits') as InferenceOutput;
    if (!this.outputs.includes(out)) {
      throw new Error(`inference model ${this.name} cannot give '${out}' (this ONNX model has: ${this.outputs.join(', ')})`);
    }
    checkBatch(batch, this.inChans, this.name);
    const names = out === 'feature_maps' ? [...this.featureOutputs] : [out];
    const input = new this.ort.Tensor('float32', batch.data, [...batch.shape]);
    try {
      const res = await session.run({ [ONNX_INPUT_NAME]: input }, names);
      const arrays: InferenceArray[] = names.map((n) => {
        const t = res[n];
        if (!t) throw new Error(`inference model ${this.name}: ONNX Runtime returned no '${n}'`);
        // Copied out so that releasing ORT's buffer below cannot touch what the caller holds.
        const a = { data: Float32Array.from(t.data as Float32Array), shape: t.dims.map(Number) };
        t.dispose();
        return a;
      });
      return (out === 'feature_maps' ? arrays : arrays[0]!) as InferenceResult<O>;
    } finally {
      input.dispose();
    }
  }

  async dispose(): Promise<void> {
    const s = this.session;
    this.session = null;
    if (s) await s.release();
  }
}

function readMeta(bytes: Uint8Array, opts: OrtInferenceOptions): Meta {
  let props: Map<string, string>;
  try {
    props = new Map(decodeModel(bytes).metadataProps.map((p) => [p.key, p.value]));
  } catch (e) {
    throw new Error(`not an ONNX model (${(e as Error).message})`);
  }
  const json = <T>(key: string): T | undefined => {
    const v = props.get(key);
    if (v === undefined) return undefined;
    try {
      return JSON.parse(v) as T;
    } catch {
      throw new Error(`ONNX metadata ${key} is not JSON`);
    }
  };
  const cfg = json<PretrainedCfg>('pretrained_cfg');
  const name = opts.name ?? props.get('model');
  if (!cfg || !name) {
    throw new Error('this ONNX model has no noisy-student metadata (model, pretrained_cfg): export it with `noisy-student export-onnx`');
  }
  const outNames = json<string[]>('outputs') ?? [];
  const featureOutputs = outNames.filter((n) => n.startsWith('feature_maps.'));
  const outputs: InferenceOutput[] = [];
  if (outNames.includes('logits')) outputs.push('logits');
  if (outNames.includes('pre_logits')) outputs.push('pre_logits');
  if (featureOutputs.length) outputs.push('feature_maps');
  const numClasses = Number(props.get('num_classes') ?? NaN);
  const labelNames = opts.labelNames !== undefined ? opts.labelNames : (json<string[]>('label_names') ?? null);
  if (labelNames && labelNames.length !== numClasses)
    throw new RangeError(`OrtInferenceModel: ${labelNames.length} label names for ${numClasses} classes`);
  return {
    name,
    labelNames: labelNames ? [...labelNames] : null,
    pretrainedCfg: cfg,
    numClasses,
    numFeatures: Number(props.get('num_features') ?? NaN),
    featureInfo: json<FeatureInfo[]>('feature_info') ?? [],
    inChans: Number(props.get('in_chans') ?? 3),
    outputs,
    featureOutputs,
    precision: props.get('precision') === 'int8' ? 'int8' : 'fp32',
  };
}
