// The pure arithmetic of timm's EfficientNet builder: from an arch definition and width/depth
// multipliers to a fully resolved list of layers (channels, kernels, strides, dilations, groups, SE
// widths, padding, BN settings, drop-path rates, feature-info), with no tensor engine involved.
//
// Mirrors, in order: `_gen_efficientnet` / `_gen_tinynet` (timm/models/efficientnet.py, the generator
// values live in variants.ts), `decode_arch_def` + `_scale_stage_depth`, `round_channels` /
// `make_divisible` (timm/layers/helpers.py), `EfficientNetBuilder.__call__` + `_make_block`
// (timm/models/_efficientnet_builder.py), the block constructors (`_efficientnet_blocks.py`) and
// `get_padding_value` (timm/layers/padding.py). The nn layer builds Modules from this spec; the tests
// check it against the state-dict manifests of the real timm models.
//
// Float arithmetic is done in the same order as timm so that IEEE doubles round identically
// (e.g. ceil(3 * 1.1) = 4 because 3 * 1.1 = 3.3000000000000003), and Python's round() (half to
// even) is reproduced where timm uses it.
import { ACT_CODE_NAMES, decodeBlock, encodeBlock, type ArchDef, type BlockSpec, type KernelSize } from './arch.js';
import { symmetricPadding as getPadding, isStaticSame as isStaticPad } from '../nn/padding.js';

/** timm's activation names, as `get_act_layer` receives them ('swish' is SiLU). */
export type ActName = 'relu' | 'relu6' | 'hard_swish' | 'swish' | 'silu' | 'mish';
/** timm's `pad_type`: '' = PyTorch symmetric padding, 'same' = TF SAME, 'valid' = none. */
export type PadType = '' | 'same' | 'valid';
export type DepthTrunc = 'ceil' | 'round';
export type GlobalPool = 'avg' | 'max' | 'avgmax' | 'catavgmax' | '';
/** Where features_only taps a stage: the block output ('' / 'bottleneck') or the expanded width ('expansion'). */
export type FeatureLocation = '' | 'bottleneck' | 'expansion';

/** Everything `_gen_efficientnet`-style generators pass to the model: the architecture, fixed. */
export interface EfficientNetGenConfig {
  readonly archDef: ArchDef;
  readonly channelMultiplier: number;
  /** `round_channels` divisor (8 for every EfficientNet B/L variant). */
  readonly channelDivisor: number;
  /** `make_divisible` round_limit used by round_channels (0.9; the test model uses 0). */
  readonly roundLimit: number;
  readonly depthMultiplier: number;
  /** 'ceil' for EfficientNet, 'round' for TinyNet. */
  readonly depthTrunc: DepthTrunc;
  readonly stemSize: number;
  readonly stemKernel: number;
  /** TinyNet keeps the stem at 32 channels whatever the width multiplier. */
  readonly fixStem: boolean;
  /** Head width (conv_head out chs), already rounded by the generator; 0 = no head conv. */
  readonly numFeatures: number;
  readonly padType: PadType;
  readonly bnEps: number;
  readonly bnMomentum: number;
  readonly act: ActName;
  /** false for EfficientNet: the SE ratio is relative to the block *input* chs (divided by exp ratio). */
  readonly seFromExp: boolean;
  /** decode_arch_def's group_size override for blocks whose string has no `gs`; undefined = none. */
  readonly groupSize?: number;
}

/** Per-model options on top of the architecture (timm's create_model kwargs that change structure). */
export interface BuildSpecOptions {
  readonly inChans?: number;
  readonly numClasses?: number;
  readonly globalPool?: GlobalPool;
  readonly dropRate?: number;
  readonly dropPathRate?: number;
  readonly outputStride?: 8 | 16 | 32;
  readonly featuresOnly?: boolean;
  /** features_only outputs (indices into the full feature list; negative counts from the end). */
  readonly outIndices?: readonly number[];
  /** Default: '' for the full model, 'bottleneck' for features_only (as timm). */
  readonly featureLocation?: FeatureLocation;
}

export interface ConvSpec {
  readonly type: 'conv';
  /** Module path, e.g. 'blocks.1.0.conv_dw' (state-dict keys are `${name}.weight`, `${name}.bias`). */
  readonly name: string;
  readonly inChs: number;
  readonly outChs: number;
  readonly kernel: number;
  readonly stride: number;
  readonly dilation: number;
  readonly groups: number;
  readonly bias: boolean;
  /** Static symmetric padding, or 'dynamic': TF SAME computed from the input size at run time (Conv2dSame). */
  readonly padding: number | 'dynamic';
}

export interface BnSpec {
  readonly type: 'bn';
  readonly name: string;
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;
  /** Activation applied after normalising (timm's BatchNormAct2d), or null for none. */
  readonly act: ActName | null;
}

export interface SeSpec {
  readonly type: 'se';
  readonly name: string;
  readonly chs: number;
  readonly rdChs: number;
  readonly act: ActName;
  readonly gate: 'sigmoid';
  readonly convReduce: ConvSpec;
  readonly convExpand: ConvSpec;
}

export type LayerSpec = ConvSpec | BnSpec | SeSpec;

interface BlockConfigBase {
  /** 'blocks.<stage>.<index in stage>' */
  readonly name: string;
  readonly stageIdx: number;
  readonly indexInStage: number;
  /** Global block index across all stages (drives the drop-path ramp). */
  readonly blockIdx: number;
  readonly inChs: number;
  /** Width of the spatial conv: expanded chs for ir/er, input chs for ds, output chs for cn. */
  readonly midChs: number;
  readonly outChs: number;
  /** Kernel of the spatial conv (dw conv for ds/ir, expansion conv for er, the conv for cn). */
  readonly kernel: number;
  readonly stride: number;
  readonly dilation: number;
  /** Groups of the spatial conv (mid chs = depthwise). */
  readonly groups: number;
  /** SE reduced width, 0 when the block has no SE. */
  readonly seChs: number;
  readonly hasSkip: boolean;
  readonly act: ActName;
  readonly padType: PadType;
  readonly dropPathRate: number;
  /** Modules in timm's registration order (= state-dict order). */
  readonly layers: readonly LayerSpec[];
  /** The canonical block string this block came from (before scaling). */
  readonly source: string;
}

export interface DsBlockConfig extends BlockConfigBase {
  readonly kind: 'ds' | 'dsa';
  readonly pwKernel: number;
  /** Activation after the pointwise conv ('dsa'). */
  readonly pwAct: boolean;
}
export interface IrBlockConfig extends BlockConfigBase {
  readonly kind: 'ir';
  readonly expKernel: number;
  readonly pwKernel: number;
  readonly expRatio: number;
}
export interface ErBlockConfig extends BlockConfigBase {
  readonly kind: 'er';
  readonly pwKernel: number;
  readonly expRatio: number;
}
export interface CnBlockConfig extends BlockConfigBase {
  readonly kind: 'cn';
}
export type BlockConfig = DsBlockConfig | IrBlockConfig | ErBlockConfig | CnBlockConfig;

export interface FeatureInfoEntry {
  readonly module: string;
  readonly numChs: number;
  readonly reduction: number;
  readonly stage: number;
  /** Position in the full feature list (timm's FeatureInfo adds it for features_only models). */
  readonly index: number;
  /** For 'expansion' taps only: the hook kind timm registers. */
  readonly hookType?: 'forward' | 'forward_pre';
}

export interface EfficientNetSpec {
  readonly inChans: number;
  readonly stemChs: number;
  readonly stem: { readonly conv: ConvSpec; readonly bn: BnSpec };
  readonly stages: readonly (readonly BlockConfig[])[];
  readonly totalBlocks: number;
  /** conv_head + bn2, absent for features_only or when the generator asks for no head. */
  readonly head: { readonly conv: ConvSpec; readonly bn: BnSpec } | null;
  /** Width of forward_features' output (head width, or the last block's chs without a head). */
  readonly numFeatures: number;
  readonly globalPool: GlobalPool;
  readonly classifier: { readonly name: 'classifier'; readonly inFeatures: number; readonly numClasses: number } | null;
  readonly numClasses: number;
  readonly dropRate: number;
  readonly dropPathRate: number;
  readonly bnEps: number;
  readonly bnMomentum: number;
  readonly act: ActName;
  readonly padType: PadType;
  readonly outputStride: number;
  /** Full model's feature_info (timm's `model.feature_info`: one entry per stage that ends a reduction). */
  readonly featureInfo: readonly FeatureInfoEntry[];
  readonly featuresOnly: boolean;
  /** The features_only outputs (timm's EfficientNetFeatures.feature_info.get_dicts()), or null. */
  readonly featuresOnlyInfo: readonly FeatureInfoEntry[] | null;
  readonly outIndices: readonly number[] | null;
  /** Names of convs that need dynamic TF SAME padding (timm's Conv2dSame), in module order. */
  readonly dynamicSameConvs: readonly string[];
}

export class UnsupportedArchError extends Error {
  readonly code = 'E_UNSUPPORTED_ARCH';
  constructor(
    readonly archString: string,
    detail: string,
  ) {
    super(`Unsupported block "${archString}": ${detail}`);
    this.name = 'UnsupportedArchError';
  }
}

export class BuildSpecError extends Error {
  readonly code = 'E_BUILD_SPEC';
  constructor(detail: string) {
    super(detail);
    this.name = 'BuildSpecError';
  }
}

// ---------------------------------------------------------------------------------------------
// timm's numeric helpers

/** Python 3's round(): nearest integer, ties to even (round(2.5) = 2). timm uses it for SE widths and depth. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** timm's make_divisible: nearest multiple of `divisor`, never below `minValue` or 10% under v (round_limit). */
export function makeDivisible(v: number, divisor = 8, minValue?: number, roundLimit = 0.9): number {
  const min = minValue || divisor;
  let newV = Math.max(min, Math.floor(Math.trunc(v + divisor / 2) / divisor) * divisor);
  if (newV < roundLimit * v) newV += divisor;
  return newV;
}

/** timm's round_channels: width-multiply then make_divisible; a falsy multiplier leaves chs unchanged. */
export function roundChannels(channels: number, multiplier = 1.0, divisor = 8, roundLimit = 0.9): number {
  if (!multiplier) return channels;
  return makeDivisible(channels * multiplier, divisor, undefined, roundLimit);
}

/**
 * timm's _scale_stage_depth: scale the total repeats of a stage, then share them out to the stage's
 * block definitions from the last one backwards (so the first block is the least likely to grow).
 * Returns the scaled repeat count per block definition.
 */
export function scaleStageDepth(repeats: readonly number[], depthMultiplier: number, depthTrunc: DepthTrunc): number[] {
  let numRepeat = repeats.reduce((a, b) => a + b, 0);
  let numRepeatScaled = depthTrunc === 'round' ? Math.max(1, pyRound(numRepeat * depthMultiplier)) : Math.ceil(numRepeat * depthMultiplier);
  const out: number[] = [];
  for (let i = repeats.length - 1; i >= 0; i--) {
    const r = repeats[i]!;
    const rs = Math.max(1, pyRound((r / numRepeat) * numRepeatScaled));
    out.push(rs);
    numRepeat -= r;
    numRepeatScaled -= rs;
  }
  return out.reverse();
}

// timm's get_padding / is_static_pad / TF SAME pad live with the conv that uses them (nn/padding.ts).
export { symmetricPadding as getPadding, isStaticSame as isStaticPad, tfSamePad } from '../nn/padding.js';

/** timm's get_padding_value for one conv: static padding, or 'dynamic' when only run-time TF SAME works. */
export function convPadding(padType: PadType, kernel: number, stride = 1, dilation = 1): number | 'dynamic' {
  if (padType === 'same') return isStaticPad(kernel, stride, dilation) ? getPadding(kernel, stride, dilation) : 'dynamic';
  if (padType === 'valid') return 0;
  return getPadding(kernel, stride, dilation);
}

// ---------------------------------------------------------------------------------------------
// decode_arch_def

/** One stage after depth scaling: the block specs, one entry per repeat (timm deep-copies them). */
export function decodeAndScaleArchDef(archDef: ArchDef, depthMultiplier: number, depthTrunc: DepthTrunc): BlockSpec[][] {
  return archDef.map((stageStrings) => {
    const specs = stageStrings.map(decodeBlock);
    const scaled = scaleStageDepth(
      specs.map((s) => s.repeats),
      depthMultiplier,
      depthTrunc,
    );
    const out: BlockSpec[] = [];
    specs.forEach((s, i) => {
      for (let r = 0; r < scaled[i]!; r++) out.push(s);
    });
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// EfficientNetBuilder

function intKernel(spec: BlockSpec, k: KernelSize, what: string): number {
  if (typeof k === 'number') return k;
  throw new UnsupportedArchError(
    encodeBlock(spec),
    `mixed-kernel ${what} (${k.join('.')}) needs MixedConv2d, which this library does not build`,
  );
}

// timm's num_groups: 0/undefined group size = one group; 1 = depthwise; else channels / group size.
function numGroups(spec: BlockSpec, groupSize: number | undefined, channels: number): number {
  if (!groupSize) return 1;
  if (channels % groupSize !== 0) {
    throw new BuildSpecError(`block "${encodeBlock(spec)}": ${channels} channels not divisible by group size ${groupSize}`);
  }
  return channels / groupSize;
}

function resolveFeatureLocation(o: BuildSpecOptions): FeatureLocation {
  return o.featureLocation ?? (o.featuresOnly ? 'bottleneck' : '');
}

/**
 * Resolve a generator config plus per-model options into the full layer-level spec.
 * @example resolveEfficientNetSpec(genConfig('tf_efficientnet_b0'), { numClasses: 10 }).stages[1][0].midChs // 96
 */
export function resolveEfficientNetSpec(gen: EfficientNetGenConfig, options: BuildSpecOptions = {}): EfficientNetSpec {
  const inChans = options.inChans ?? 3;
  const numClasses = options.numClasses ?? 1000;
  const globalPool = options.globalPool ?? 'avg';
  const dropRate = options.dropRate ?? 0;
  const dropPathRate = options.dropPathRate ?? 0;
  const outputStride = options.outputStride ?? 32;
  const featuresOnly = options.featuresOnly ?? false;
  const featureLocation = resolveFeatureLocation(options);
  if (!Number.isInteger(inChans) || inChans < 1) throw new BuildSpecError(`inChans must be a positive integer, got ${inChans}`);
  if (!Number.isInteger(numClasses) || numClasses < 0) {
    throw new BuildSpecError(`numClasses must be a non-negative integer, got ${numClasses}`);
  }
  for (const [k, v] of [
    ['dropRate', dropRate],
    ['dropPathRate', dropPathRate],
  ] as const) {
    if (!(v >= 0 && v < 1)) throw new BuildSpecError(`${k} must be in [0, 1), got ${v}`);
  }
  if (![8, 16, 32].includes(outputStride)) throw new BuildSpecError(`outputStride must be 8, 16 or 32, got ${outputStride}`);

  const roundChs = (c: number): number => roundChannels(c, gen.channelMultiplier, gen.channelDivisor, gen.roundLimit);
  const bn = (name: string, numFeatures: number, act: ActName | null): BnSpec => ({
    type: 'bn',
    name,
    numFeatures,
    eps: gen.bnEps,
    momentum: gen.bnMomentum,
    act,
  });
  const conv = (
    name: string,
    inChs: number,
    outChs: number,
    kernel: number,
    o: { stride?: number; dilation?: number; groups?: number; bias?: boolean; padType?: PadType } = {},
  ): ConvSpec => {
    const stride = o.stride ?? 1;
    const dilation = o.dilation ?? 1;
    return {
      type: 'conv',
      name,
      inChs,
      outChs,
      kernel,
      stride,
      dilation,
      groups: o.groups ?? 1,
      bias: o.bias ?? false,
      padding: convPadding(o.padType ?? gen.padType, kernel, stride, dilation),
    };
  };
  // SqueezeExcite convs are plain nn.Conv2d 1x1 with bias (no pad_type).
  const se = (name: string, chs: number, rdChs: number, act: ActName): SeSpec => ({
    type: 'se',
    name,
    chs,
    rdChs,
    act,
    gate: 'sigmoid',
    convReduce: conv(`${name}.conv_reduce`, chs, rdChs, 1, { bias: true, padType: '' }),
    convExpand: conv(`${name}.conv_expand`, rdChs, chs, 1, { bias: true, padType: '' }),
  });

  // Stem
  const stemChs = gen.fixStem ? gen.stemSize : roundChs(gen.stemSize);
  const stem = {
    conv: conv('conv_stem', inChans, stemChs, gen.stemKernel, { stride: 2 }),
    bn: bn('bn1', stemChs, gen.act),
  };

  // Blocks
  const stagesArgs = decodeAndScaleArchDef(gen.archDef, gen.depthMultiplier, gen.depthTrunc);
  if (stagesArgs.length === 0 || stagesArgs[0]!.length === 0) throw new BuildSpecError('arch definition has no blocks');
  const totalBlocks = stagesArgs.reduce((a, s) => a + s.length, 0);
  let inChs = stemChs;
  let currentStride = 2;
  let currentDilation = 1;
  let globalIdx = 0;
  const features: Omit<FeatureInfoEntry, 'index'>[] = [];
  if (stagesArgs[0]![0]!.stride > 1) {
    // The first stage reduces again: the stem output is the first feature level.
    features.push({ module: 'bn1', numChs: stemChs, stage: 0, reduction: currentStride });
  }
  const stages: BlockConfig[][] = [];
  stagesArgs.forEach((stageArgs, stageIdx) => {
    const blocks: BlockConfig[] = [];
    stageArgs.forEach((spec, indexInStage) => {
      const lastBlock = indexInStage + 1 === stageArgs.length;
      let stride = indexInStage >= 1 ? 1 : spec.stride;
      let nextDilation = currentDilation;
      if (stride > 1) {
        const nextOutputStride = currentStride * stride;
        if (nextOutputStride > outputStride) {
          // Past the requested output stride a stride becomes a dilation of the following blocks.
          nextDilation = currentDilation * stride;
          stride = 1;
        } else {
          currentStride = nextOutputStride;
        }
      }
      const dilation = currentDilation;
      currentDilation = nextDilation;

      const block = makeBlock(spec, {
        name: `blocks.${stageIdx}.${indexInStage}`,
        stageIdx,
        indexInStage,
        blockIdx: globalIdx,
        inChs,
        stride,
        dilation,
        dropPathRate: (dropPathRate * globalIdx) / totalBlocks,
      });
      blocks.push(block);
      inChs = block.outChs;

      if (lastBlock) {
        const next = stagesArgs[stageIdx + 1];
        if (next === undefined || next[0]!.stride > 1) {
          features.push({ stage: stageIdx + 1, reduction: currentStride, ...blockFeature(block, featureLocation) });
        }
      }
      globalIdx++;
    });
    stages.push(blocks);
  });

  function blockFeature(b: BlockConfig, loc: FeatureLocation): { module: string; numChs: number; hookType?: 'forward' | 'forward_pre' } {
    if (loc !== 'expansion') return { module: `blocks.${b.stageIdx}`, numChs: b.outChs };
    switch (b.kind) {
      case 'cn':
        return { module: `${b.name}.bn1`, numChs: b.outChs, hookType: 'forward' };
      case 'ds':
      case 'dsa':
        return { module: `${b.name}.conv_pw`, numChs: b.midChs, hookType: 'forward_pre' };
      case 'ir':
      case 'er':
        return { module: `${b.name}.conv_pwl`, numChs: b.midChs, hookType: 'forward_pre' };
    }
  }

  interface BlockPlace {
    name: string;
    stageIdx: number;
    indexInStage: number;
    blockIdx: number;
    inChs: number;
    stride: number;
    dilation: number;
    dropPathRate: number;
  }
  function makeBlock(spec: BlockSpec, at: BlockPlace): BlockConfig {
    const src = encodeBlock(spec);
    const act: ActName = spec.act !== undefined ? (ACT_CODE_NAMES[spec.act] as ActName) : gen.act;
    const outChs = roundChs(spec.outChs);
    const groupSize = spec.groupSize ?? gen.groupSize;
    const common = {
      name: at.name,
      stageIdx: at.stageIdx,
      indexInStage: at.indexInStage,
      blockIdx: at.blockIdx,
      inChs: at.inChs,
      outChs,
      stride: at.stride,
      dilation: at.dilation,
      act,
      padType: gen.padType,
      dropPathRate: at.dropPathRate,
      source: src,
    };
    const n = at.name;
    // _make_block: the SE ratio is given relative to the block input, so divide by the expansion
    // (se_from_exp=False); SqueezeExcite then rounds mid * ratio with Python's round().
    const seWidth = (seRatio: number, expRatio: number, seInChs: number): number => {
      if (!seRatio) return 0;
      const ratio = gen.seFromExp ? seRatio : seRatio / expRatio;
      return pyRound(seInChs * ratio);
    };
    switch (spec.kind) {
      case 'ds':
      case 'dsa': {
        if (spec.spaceToDepth) throw new UnsupportedArchError(src, 'space-to-depth (d1) blocks are not built by this library');
        const k = intKernel(spec, spec.dwKernel, 'depthwise kernel');
        const pk = intKernel(spec, spec.pwKernel, 'pointwise kernel');
        const groups = numGroups(spec, groupSize ?? 1, at.inChs);
        const pwAct = spec.kind === 'dsa';
        const noskip = spec.kind === 'dsa' || spec.noskip;
        const seChs = seWidth(spec.seRatio, 1.0, at.inChs);
        const layers: LayerSpec[] = [
          conv(`${n}.conv_dw`, at.inChs, at.inChs, k, { stride: at.stride, dilation: at.dilation, groups }),
          bn(`${n}.bn1`, at.inChs, act),
        ];
        if (seChs) layers.push(se(`${n}.se`, at.inChs, seChs, act));
        layers.push(conv(`${n}.conv_pw`, at.inChs, outChs, pk), bn(`${n}.bn2`, outChs, pwAct ? act : null));
        return {
          kind: spec.kind,
          ...common,
          midChs: at.inChs,
          kernel: k,
          groups,
          seChs,
          hasSkip: at.stride === 1 && at.inChs === outChs && !noskip,
          layers,
          pwKernel: pk,
          pwAct,
        };
      }
      case 'ir': {
        if (spec.spaceToDepth) throw new UnsupportedArchError(src, 'space-to-depth (d1) blocks are not built by this library');
        if (spec.numExperts) throw new UnsupportedArchError(src, 'CondConv (cc) blocks are not built by this library');
        const k = intKernel(spec, spec.dwKernel, 'depthwise kernel');
        const ek = intKernel(spec, spec.expKernel, 'expansion kernel');
        const pk = intKernel(spec, spec.pwKernel, 'projection kernel');
        const midChs = makeDivisible(at.inChs * spec.expRatio);
        const groups = numGroups(spec, groupSize ?? 1, midChs);
        const seChs = seWidth(spec.seRatio, spec.expRatio, midChs);
        const layers: LayerSpec[] = [
          conv(`${n}.conv_pw`, at.inChs, midChs, ek),
          bn(`${n}.bn1`, midChs, act),
          conv(`${n}.conv_dw`, midChs, midChs, k, { stride: at.stride, dilation: at.dilation, groups }),
          bn(`${n}.bn2`, midChs, act),
        ];
        if (seChs) layers.push(se(`${n}.se`, midChs, seChs, act));
        layers.push(conv(`${n}.conv_pwl`, midChs, outChs, pk), bn(`${n}.bn3`, outChs, null));
        return {
          kind: 'ir',
          ...common,
          midChs,
          kernel: k,
          groups,
          seChs,
          hasSkip: at.inChs === outChs && at.stride === 1 && !spec.noskip,
          layers,
          expKernel: ek,
          pwKernel: pk,
          expRatio: spec.expRatio,
        };
      }
      case 'er': {
        const k = intKernel(spec, spec.expKernel, 'expansion kernel');
        const pk = intKernel(spec, spec.pwKernel, 'projection kernel');
        // `fc` (TF EdgeTPU quirk): size the expansion from a forced, width-rounded input width.
        const midChs =
          spec.forceInChs > 0 ? makeDivisible(roundChs(spec.forceInChs) * spec.expRatio) : makeDivisible(at.inChs * spec.expRatio);
        const groups = numGroups(spec, groupSize ?? 0, midChs);
        const seChs = seWidth(spec.seRatio, spec.expRatio, midChs);
        const layers: LayerSpec[] = [
          conv(`${n}.conv_exp`, at.inChs, midChs, k, { stride: at.stride, dilation: at.dilation, groups }),
          bn(`${n}.bn1`, midChs, act),
        ];
        if (seChs) layers.push(se(`${n}.se`, midChs, seChs, act));
        layers.push(conv(`${n}.conv_pwl`, midChs, outChs, pk), bn(`${n}.bn2`, outChs, null));
        return {
          kind: 'er',
          ...common,
          midChs,
          kernel: k,
          groups,
          seChs,
          hasSkip: at.inChs === outChs && at.stride === 1 && !spec.noskip,
          layers,
          pwKernel: pk,
          expRatio: spec.expRatio,
        };
      }
      case 'cn': {
        const groups = numGroups(spec, groupSize ?? 0, at.inChs);
        const layers: LayerSpec[] = [
          conv(`${n}.conv`, at.inChs, outChs, spec.kernel, { stride: at.stride, dilation: at.dilation, groups }),
          bn(`${n}.bn1`, outChs, act),
        ];
        return {
          kind: 'cn',
          ...common,
          midChs: outChs,
          kernel: spec.kernel,
          groups,
          seChs: 0,
          hasSkip: spec.skip && at.stride === 1 && at.inChs === outChs,
          layers,
        };
      }
      case 'uir':
      case 'mha':
      case 'mqa':
        throw new UnsupportedArchError(src, `"${spec.kind}" (MobileNet-V4) blocks are not built by this library`);
    }
  }

  // Head
  const headIn = inChs;
  let head: EfficientNetSpec['head'] = null;
  let numFeatures = headIn;
  if (!featuresOnly && gen.numFeatures > 0) {
    head = { conv: conv('conv_head', headIn, gen.numFeatures, 1), bn: bn('bn2', gen.numFeatures, gen.act) };
    numFeatures = gen.numFeatures;
  }
  let classifier: EfficientNetSpec['classifier'] = null;
  if (!featuresOnly && numClasses > 0) {
    classifier = { name: 'classifier', inFeatures: numFeatures * (globalPool === 'catavgmax' ? 2 : 1), numClasses };
  }

  const featureInfo: FeatureInfoEntry[] = features.map((f, index) => ({ ...f, index }));
  let featuresOnlyInfo: FeatureInfoEntry[] | null = null;
  let outIndices: number[] | null = null;
  if (featuresOnly) {
    const requested = options.outIndices ?? featureInfo.map((_, i) => i);
    outIndices = requested.map((i) => {
      const abs = i < 0 ? featureInfo.length + i : i;
      if (!Number.isInteger(i) || abs < 0 || abs >= featureInfo.length) {
        const n = featureInfo.length;
        throw new BuildSpecError(`outIndices: ${i} is out of range for ${n} feature levels (0..${n - 1})`);
      }
      return abs;
    });
    featuresOnlyInfo = outIndices.map((i) => featureInfo[i]!);
  } else if (options.outIndices !== undefined) {
    throw new BuildSpecError('outIndices only applies with featuresOnly: true');
  }

  const spec: EfficientNetSpec = {
    inChans,
    stemChs,
    stem,
    stages,
    totalBlocks,
    head,
    numFeatures,
    globalPool,
    classifier,
    numClasses: featuresOnly ? 0 : numClasses,
    dropRate,
    dropPathRate,
    bnEps: gen.bnEps,
    bnMomentum: gen.bnMomentum,
    act: gen.act,
    padType: gen.padType,
    outputStride,
    featureInfo,
    featuresOnly,
    featuresOnlyInfo,
    outIndices,
    dynamicSameConvs: [],
  };
  return {
    ...spec,
    dynamicSameConvs: allConvs(spec)
      .filter((c) => c.padding === 'dynamic')
      .map((c) => c.name),
  };
}

// ---------------------------------------------------------------------------------------------
// Derived views

/** Every module of the model in timm's registration order (stem, blocks, head). */
export function allLayers(spec: EfficientNetSpec): LayerSpec[] {
  const out: LayerSpec[] = [spec.stem.conv, spec.stem.bn];
  for (const stage of spec.stages) for (const b of stage) out.push(...b.layers);
  if (spec.head) out.push(spec.head.conv, spec.head.bn);
  return out;
}

/** Every conv, SE convs included, in module order. */
export function allConvs(spec: EfficientNetSpec): ConvSpec[] {
  const out: ConvSpec[] = [];
  for (const l of allLayers(spec)) {
    if (l.type === 'conv') out.push(l);
    else if (l.type === 'se') out.push(l.convReduce, l.convExpand);
  }
  return out;
}

export interface StateDictEntry {
  readonly key: string;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int64';
  /** Trainable parameter (true) or buffer (BN running stats, num_batches_tracked). */
  readonly param: boolean;
}

/**
 * The state-dict keys, shapes and dtypes timm's model has for this spec, in timm's order. Lets the
 * nn layer (and a checkpoint loader) check a Module or a file against the spec without building it.
 */
export function stateDictEntries(spec: EfficientNetSpec): StateDictEntry[] {
  const out: StateDictEntry[] = [];
  const convEntries = (c: ConvSpec): void => {
    out.push({ key: `${c.name}.weight`, shape: [c.outChs, c.inChs / c.groups, c.kernel, c.kernel], dtype: 'float32', param: true });
    if (c.bias) out.push({ key: `${c.name}.bias`, shape: [c.outChs], dtype: 'float32', param: true });
  };
  for (const l of allLayers(spec)) {
    if (l.type === 'conv') convEntries(l);
    else if (l.type === 'se') {
      convEntries(l.convReduce);
      convEntries(l.convExpand);
    } else {
      const c = [l.numFeatures];
      out.push(
        { key: `${l.name}.weight`, shape: c, dtype: 'float32', param: true },
        { key: `${l.name}.bias`, shape: c, dtype: 'float32', param: true },
        { key: `${l.name}.running_mean`, shape: c, dtype: 'float32', param: false },
        { key: `${l.name}.running_var`, shape: c, dtype: 'float32', param: false },
        { key: `${l.name}.num_batches_tracked`, shape: [], dtype: 'int64', param: false },
      );
    }
  }
  if (spec.classifier) {
    const { inFeatures, numClasses } = spec.classifier;
    out.push(
      { key: 'classifier.weight', shape: [numClasses, inFeatures], dtype: 'float32', param: true },
      { key: 'classifier.bias', shape: [numClasses], dtype: 'float32', param: true },
    );
  }
  return out;
}

/** Number of trainable parameters (timm's `sum(p.numel() for p in model.parameters())`). */
export function countParams(spec: EfficientNetSpec): number {
  return stateDictEntries(spec)
    .filter((e) => e.param)
    .reduce((a, e) => a + e.shape.reduce((x, y) => x * y, 1), 0);
}
