// FusedTorchInferenceModel: the InferenceModel seam over the fused libtorch path. The EfficientNet's
// eval forward is folded into a plan once (fused_plan.ts: BatchNorm into the convs, in float64) and
// handed to the native FusedProgram, which runs the whole forward per batch in one call on the
// compute thread (channels_last, oneDNN convs, the addon's own depthwise kernel, activations in
// place). Outputs are plain Float32Arrays: no tensor outlives a call, and none is made in JS.
import { native, type NativeFusedOptions, type NativeFusedProgram, type NativeFusedStep } from '../torch/native.js';
import type { EfficientNet, FeatureInfo } from './efficientnet.js';
import { buildFusedPlan, type FusedStep } from './fused_plan.js';
import type { InferenceArray, InferenceBatch, InferenceModel, InferenceOutput, InferenceResult } from './inference.js';
import type { PretrainedCfg } from './pretrained.js';

export interface FusedInferenceOptions {
  /** 'bf16': weights and activations in bfloat16 through oneDNN (AMX where the CPU has it); outputs stay float32. */
  readonly precision?: 'fp32' | 'bf16';
  /** timm name; default `architecture.tag` of the model's pretrained cfg. */
  readonly name?: string;
  /** Default: the model's own labelNames. */
  readonly labelNames?: readonly string[] | null;
  /** Release the model with dispose() (default false: the caller keeps it). */
  readonly disposeModel?: boolean;
  /** Kernel choices, for benchmarks that compare them (the defaults are the fastest measured). */
  readonly kernels?: Readonly<Pick<NativeFusedOptions, 'ownDepthwise' | 'ownDepthwiseLarge' | 'gemmPointwise' | 'prepack' | 'dnnl'>>;
}

/** Time of one step of a profiled run. */
export interface FusedStepTime {
  readonly kind: string;
  readonly name: string;
  readonly ms: number;
}

/**
 * An EfficientNet behind the InferenceModel interface, fused: same outputs as TorchInferenceModel
 * (within float32 rounding of the folded BatchNorm), whatever the model's training mode (this is
 * always the eval forward). The model's weights are copied at construction: later changes to the
 * model do not reach this one.
 */
export class FusedTorchInferenceModel implements InferenceModel {
  readonly backend = 'torch-fused';
  readonly device = 'cpu';
  readonly name: string;
  readonly precision: 'fp32' | 'bf16';
  readonly labelNames: readonly string[] | null;
  readonly pretrainedCfg: PretrainedCfg;
  readonly outputs: readonly InferenceOutput[];
  readonly numClasses: number;
  readonly numFeatures: number;
  readonly featureInfo: readonly FeatureInfo[];
  private model: EfficientNet | null;
  private program: NativeFusedProgram | null;
  private readonly disposeModel: boolean;
  private readonly inChans: number;
  private readonly stepNames: readonly { kind: string; name: string }[];
  private readonly stops: { readonly all: number; readonly preLogits: number };

  constructor(model: EfficientNet, opts: FusedInferenceOptions = {}) {
    const cfg = model.pretrainedCfg;
    if (!cfg) throw new Error('FusedTorchInferenceModel: the model has no pretrainedCfg (its preprocessing); create it with createModel');
    const precision = opts.precision ?? 'fp32';
    if (precision !== 'fp32' && precision !== 'bf16') {
      throw new RangeError(`FusedTorchInferenceModel: precision must be 'fp32' or 'bf16', got '${String(precision)}'`);
    }
    const names = opts.labelNames !== undefined ? opts.labelNames : model.labelNames;
    if (names && names.length !== model.numClasses) {
      throw new RangeError(`FusedTorchInferenceModel: ${names.length} label names for ${model.numClasses} classes`);
    }
    this.name = opts.name ?? (cfg.tag ? `${cfg.architecture}.${cfg.tag}` : cfg.architecture);
    this.precision = precision;
    this.labelNames = names ? [...names] : null;
    this.pretrainedCfg = cfg;
    this.outputs = model.spec.featuresOnly ? ['feature_maps'] : ['logits', 'pre_logits'];
    this.numClasses = model.numClasses;
    this.numFeatures = model.numFeatures;
    this.featureInfo = model.featureInfo.map((f) => ({ ...f }));
    this.inChans = model.spec.inChans;
    const plan = buildFusedPlan(model);
    try {
      this.program = new native.FusedProgram(plan.steps.map(toNative), {
        inChans: plan.inChans,
        precision,
        ...opts.kernels,
      });
      this.stepNames = plan.steps.map((s) => ({ kind: s.kind, name: 'name' in s ? s.name : s.kind }));
      this.stops = { all: plan.steps.length, preLogits: plan.preLogitsStop };
    } finally {
      // The native program holds its own references to the folded weights.
      plan.dispose();
    }
    this.model = model;
    this.disposeModel = opts.disposeModel ?? false;
  }

  /** The EfficientNet it was built from (the fused copy does not follow later changes to it). */
  get module(): EfficientNet {
    if (!this.model) throw new Error(`inference model ${this.name} was disposed`);
    return this.model;
  }

  // async: every error, a bad batch included, is a rejection.
  async run<O extends InferenceOutput = 'logits'>(batch: InferenceBatch, output?: O): Promise<InferenceResult<O>> {
    const out = (output ?? 'logits') as InferenceOutput;
    const { outputs } = await this.exec(batch, out, false);
    return (out === 'feature_maps' ? outputs : outputs[0]!) as InferenceResult<O>;
  }

  /** One run with every step timed (for benchmarks): the step's kind (conv1x1, dw3x3, se, add, ...), module and milliseconds. */
  async profile(batch: InferenceBatch, output: InferenceOutput = 'logits'): Promise<FusedStepTime[]> {
    const { stepMs } = await this.exec(batch, output, true);
    return (stepMs ?? []).map((ms, i) => ({ ...this.stepNames[i]!, ms }));
  }

  /** Which kernel each step runs on (oneDNN, the addon's own depthwise kernel, ATen). */
  describe(): { kind: string; name: string; impl: string }[] {
    return this.checkedProgram()
      .describe()
      .map((d, i) => ({ ...d, name: this.stepNames[i]!.name }));
  }

  private async exec(batch: InferenceBatch, output: InferenceOutput, profile: boolean) {
    const program = this.checkedProgram();
    if (!this.outputs.includes(output)) {
      const why = this.outputs.includes('feature_maps')
        ? 'it was loaded as a features_only model (feature maps only)'
        : "load it with featuresOnly: true for 'feature_maps'";
      throw new Error(`inference model ${this.name} cannot give '${output}': ${why}`);
    }
    checkBatch(batch, this.inChans, this.name);
    const stop = output === 'pre_logits' ? this.stops.preLogits : this.stops.all;
    const r = await program.run(batch.data, batch.shape, stop, profile);
    return { outputs: r.outputs as InferenceArray[], stepMs: r.stepMs };
  }

  private checkedProgram(): NativeFusedProgram {
    if (!this.program) throw new Error(`inference model ${this.name} was disposed`);
    return this.program;
  }

  dispose(): void {
    this.program?.release();
    this.program = null;
    if (this.model && this.disposeModel) this.model.dispose();
    this.model = null;
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

function toNative(s: FusedStep): NativeFusedStep {
  switch (s.op) {
    case 'conv':
      return {
        op: 'conv',
        kind: s.kind,
        weight: s.weight.h,
        bias: s.bias.h,
        stride: s.stride,
        dilation: s.dilation,
        groups: s.groups,
        padding: s.padding === 'same' ? -1 : s.padding,
        act: s.act,
      };
    case 'se':
      return {
        op: 'se',
        kind: s.kind,
        reduceWeight: s.reduceWeight.h,
        reduceBias: s.reduceBias.h,
        expandWeight: s.expandWeight.h,
        expandBias: s.expandBias.h,
        act: s.act,
      };
    case 'pool':
      return { op: 'pool', kind: s.kind, pool: s.pool };
    case 'linear':
      return { op: 'linear', kind: s.kind, weight: s.weight.h, bias: s.bias.h };
    default:
      return { op: s.op, kind: s.kind };
  }
}

// The same checks and messages as TorchInferenceModel's (inference.ts keeps its copy private).
function checkBatch(batch: InferenceBatch, inChans: number, name: string): void {
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
