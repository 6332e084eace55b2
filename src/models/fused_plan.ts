// The fused inference plan: an EfficientNet's eval forward as a flat list of plain-data steps, with
// every BatchNorm folded into the conv before it. The native FusedProgram (native/src/fused.cc)
// replays it in one call per batch; building it here keeps the model's structure in one place
// (builder_spec.ts: stem conv+bn, each block's layers in execution order, residual when hasSkip,
// head conv+bn, global pool, classifier).
//
// Folding (eval-mode BN is an affine map per channel): scale = gamma / sqrt(var + eps),
// w' = w * scale (per output channel), b' = beta - mean * scale (+ conv bias * scale). It is done in
// float64 and rounded to float32 once, so the folded conv is as close to conv-then-BN as float32
// allows. The folded tensors are new: the model's own weights are not touched.
import { keep, scope, type Tensor } from '../torch/index.js';
import type { ActName, BnSpec, ConvSpec, GlobalPool, LayerSpec, SeSpec } from './builder_spec.js';
import type { EfficientNet } from './efficientnet.js';

/** What a step is, for profiles: conv kinds by shape, and the other step types by name. */
export type FusedStepKind = string;

export interface FusedConvStep {
  readonly op: 'conv';
  readonly kind: FusedStepKind;
  /** Module path of the conv, e.g. 'blocks.1.0.conv_dw'. */
  readonly name: string;
  /** [out, in / groups, k, k], BN folded in. */
  readonly weight: Tensor;
  /** [out]: the folded BN shift. */
  readonly bias: Tensor;
  readonly stride: number;
  readonly dilation: number;
  readonly groups: number;
  /** Static symmetric padding, or 'same': TF SAME from the input size at run time (timm's Conv2dSame). */
  readonly padding: number | 'same';
  /** Activation after the (folded) BN, or null. */
  readonly act: ActName | null;
}
export interface FusedSeStep {
  readonly op: 'se';
  readonly kind: 'se';
  readonly name: string;
  /** [rd, C] and [rd]: conv_reduce as a linear map. */
  readonly reduceWeight: Tensor;
  readonly reduceBias: Tensor;
  /** [C, rd] and [C]: conv_expand. */
  readonly expandWeight: Tensor;
  readonly expandBias: Tensor;
  readonly act: ActName;
}
/** save: keep the current value for the block's residual; add: add it back (the block ends). */
export interface FusedMarkStep {
  readonly op: 'save' | 'add' | 'tap';
  readonly kind: 'save' | 'add' | 'tap';
  /** The block (save/add) or stage (tap) it belongs to. */
  readonly name: string;
}
export interface FusedPoolStep {
  readonly op: 'pool';
  readonly kind: 'pool';
  readonly pool: Exclude<GlobalPool, ''>;
}
export interface FusedLinearStep {
  readonly op: 'linear';
  readonly kind: 'linear';
  /** [numClasses, inFeatures] */
  readonly weight: Tensor;
  readonly bias: Tensor;
}
export type FusedStep = FusedConvStep | FusedSeStep | FusedMarkStep | FusedPoolStep | FusedLinearStep;

export interface FusedPlan {
  readonly steps: readonly FusedStep[];
  readonly inChans: number;
  readonly featuresOnly: boolean;
  /** Steps to run for pre_logits (everything before the classifier); = steps.length without one. */
  readonly preLogitsStop: number;
  /** Releases the folded tensors (the native program keeps its own references). */
  dispose(): void;
}

const bad = (what: string): Error => new Error(`fused plan: ${what}`);

/**
 * The eval forward of `model` as fused steps. The model must be a float32 CPU EfficientNet; its
 * own tensors are read, never modified. The caller disposes the plan.
 */
export function buildFusedPlan(model: EfficientNet): FusedPlan {
  const spec = model.spec;
  const sd = model.stateDict();
  const get = (key: string): Tensor => {
    const t = sd.get(key);
    if (!t) throw bad(`the model has no ${key}`);
    if (t.device !== 'cpu' || t.dtype !== 'float32')
      throw bad(`${key} is ${t.dtype} on ${t.device}; the fused path runs float32 CPU models`);
    return t;
  };
  const owned: Tensor[] = [];
  const own = (t: Tensor): Tensor => {
    owned.push(keep(t));
    return t;
  };
  const steps: FusedStep[] = [];
  try {
    const convBn = (c: ConvSpec, b: BnSpec, kind: FusedStepKind): FusedConvStep => {
      if (b.numFeatures !== c.outChs) throw bad(`${b.name} (${b.numFeatures}) does not follow ${c.name} (${c.outChs} channels)`);
      const [weight, bias] = scope(() => {
        const scale = get(`${b.name}.weight`)
          .double()
          .div(get(`${b.name}.running_var`).double().add(b.eps).sqrt());
        let shift = get(`${b.name}.bias`)
          .double()
          .sub(get(`${b.name}.running_mean`).double().mul(scale));
        if (c.bias) shift = shift.add(get(`${c.name}.bias`).double().mul(scale));
        const w = get(`${c.name}.weight`)
          .double()
          .mul(scale.view(-1, 1, 1, 1));
        return [own(w.float().contiguous()), own(shift.float().contiguous())];
      });
      return {
        op: 'conv',
        kind,
        name: c.name,
        weight,
        bias,
        stride: c.stride,
        dilation: c.dilation,
        groups: c.groups,
        padding: c.padding === 'dynamic' ? 'same' : c.padding,
        act: b.act,
      };
    };
    const seStep = (s: SeSpec): FusedSeStep => {
      const lin = (c: ConvSpec): [Tensor, Tensor] =>
        scope(() => [own(get(`${c.name}.weight`).clone().reshape(c.outChs, c.inChs)), own(get(`${c.name}.bias`).clone())]);
      const [reduceWeight, reduceBias] = lin(s.convReduce);
      const [expandWeight, expandBias] = lin(s.convExpand);
      return { op: 'se', kind: 'se', name: s.name, reduceWeight, reduceBias, expandWeight, expandBias, act: s.act };
    };
    const layers = (ls: readonly LayerSpec[]): void => {
      for (let i = 0; i < ls.length; i++) {
        const l = ls[i]!;
        if (l.type === 'se') {
          steps.push(seStep(l));
          continue;
        }
        const next = ls[i + 1];
        if (l.type !== 'conv' || next?.type !== 'bn') throw bad(`${l.name}: expected a conv followed by its BatchNorm`);
        steps.push(convBn(l, next, convKind(l)));
        i++;
      }
    };

    steps.push(convBn(spec.stem.conv, spec.stem.bn, 'stem'));
    // features_only taps: the stages whose outputs are feature maps (as EfficientNet.forwardFeatureMaps picks them).
    const taps = new Set((spec.featuresOnly ? (spec.featuresOnlyInfo ?? []) : []).map((e) => Number(e.module.split('.')[1])));
    spec.stages.forEach((stage, si) => {
      for (const b of stage) {
        if (b.hasSkip) steps.push({ op: 'save', kind: 'save', name: b.name });
        layers(b.layers);
        if (b.hasSkip) steps.push({ op: 'add', kind: 'add', name: b.name });
      }
      if (taps.has(si)) steps.push({ op: 'tap', kind: 'tap', name: `blocks.${si}` });
    });
    let preLogitsStop = steps.length;
    if (!spec.featuresOnly) {
      if (spec.head) steps.push(convBn(spec.head.conv, spec.head.bn, 'head'));
      const pool = model.globalPoolType;
      if (pool === '') throw bad("global pool '' (no pooling) is not supported; use the eager model");
      steps.push({ op: 'pool', kind: 'pool', pool });
      preLogitsStop = steps.length;
      // The classifier as the model has it now (resetClassifier may have replaced the spec's);
      // copies, like the folded convs, so that training the model later leaves this plan as it was.
      if (model.numClasses > 0) {
        const weight = own(get('classifier.weight').clone());
        const bias = own(get('classifier.bias').clone());
        steps.push({ op: 'linear', kind: 'linear', weight, bias });
      }
    }
    return {
      steps,
      inChans: spec.inChans,
      featuresOnly: spec.featuresOnly,
      preLogitsStop,
      dispose: () => {
        for (const t of owned.splice(0)) t.dispose();
      },
    };
  } catch (e) {
    for (const t of owned) t.dispose();
    throw e;
  }
}

/** conv1x1, dw3x3, dw5x5, conv3x3 (grouped or dense), ...: the step kinds a profile groups by. */
function convKind(c: ConvSpec): FusedStepKind {
  const k = `${c.kernel}x${c.kernel}`;
  if (c.groups > 1 && c.groups === c.inChs && c.groups === c.outChs) return `dw${k}`;
  return `conv${k}`;
}
