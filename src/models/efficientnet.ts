// The EfficientNet module, built from a resolved spec (builder_spec.ts) so that its module tree and
// state-dict keys are timm's: conv_stem, bn1, blocks.<stage>.<block>.<layer>, conv_head, bn2,
// classifier. Blocks run their layers in registration order, which for every block kind (ds, ir,
// er, cn) is also timm's execution order; a residual add follows when the block has a skip.
//
// Papers: EfficientNet (Tan & Le, 2019), Noisy Student (Xie et al., 2020); reference
// implementation: timm's efficientnet.py / _efficientnet_blocks.py.
import { scope, type Generator, type Tensor } from '../torch/index.js';
import {
  BatchNorm2d,
  Conv2d,
  Identity,
  Linear,
  Module,
  ModuleList,
  SqueezeExcite,
  dropPath,
  dropout,
  globalPool,
  noiseSalt,
  noiseSource,
  poolFeatMult,
  assertContextSupported,
  assertOnDevice,
  runForward,
  type ForwardContext,
} from '../nn/index.js';
import type { BlockConfig, BnSpec, ConvSpec, EfficientNetSpec, FeatureInfoEntry, GlobalPool, LayerSpec } from './builder_spec.js';
import type { PretrainedCfg } from './pretrained.js';

const HEAD_NOISE_SALT = noiseSalt('head');

function conv(s: ConvSpec, generator?: Generator): Conv2d {
  return new Conv2d({
    inChs: s.inChs,
    outChs: s.outChs,
    kernel: s.kernel,
    stride: s.stride,
    dilation: s.dilation,
    groups: s.groups,
    bias: s.bias,
    padding: s.padding,
    ...(generator ? { generator } : {}),
  });
}

function bn(s: BnSpec): BatchNorm2d {
  return new BatchNorm2d(s.numFeatures, { eps: s.eps, momentum: s.momentum, act: s.act });
}

function layer(s: LayerSpec, generator?: Generator): Conv2d | BatchNorm2d | SqueezeExcite {
  switch (s.type) {
    case 'conv':
      return conv(s, generator);
    case 'bn':
      return bn(s);
    case 'se':
      return new SqueezeExcite(s.chs, s.rdChs, { act: s.act, ...(generator ? { generator } : {}) });
  }
}

type Layer = Conv2d | BatchNorm2d | SqueezeExcite;

/** One EfficientNet block (DepthwiseSeparableConv, InvertedResidual, EdgeResidual or ConvBnAct). */
export class EfficientNetBlock extends Module {
  readonly kind: BlockConfig['kind'];
  readonly hasSkip: boolean;
  dropPathRate: number;
  private readonly layers: Layer[] = [];
  /** Keyed drop-path masks differ per block: the salt is the block's module name. */
  private readonly noiseSalt: number;

  constructor(cfg: BlockConfig, generator?: Generator) {
    super();
    this.kind = cfg.kind;
    this.hasSkip = cfg.hasSkip;
    this.dropPathRate = cfg.dropPathRate;
    this.noiseSalt = noiseSalt(cfg.name);
    for (const l of cfg.layers) this.layers.push(this.registerModule(l.name.slice(cfg.name.length + 1), layer(l, generator)));
  }

  /** Drop-path follows this block's training mode; the context only supplies its randomness. */
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    let y = x;
    for (const l of this.layers) y = l.forward(y);
    return this.hasSkip ? dropPath(y, this.dropPathRate, this.training, noiseSource(ctx, this.noiseSalt)).add(x) : y;
  }
}

export interface FeatureInfo {
  module: string;
  numChs: number;
  reduction: number;
  stage: number;
  index: number;
}

function featureInfoOf(entries: readonly FeatureInfoEntry[]): FeatureInfo[] {
  return entries.map((e) => ({ module: e.module, numChs: e.numChs, reduction: e.reduction, stage: e.stage, index: e.index }));
}

export interface EfficientNetOptions {
  /** Randomness for the initial weights (libtorch's global generator when absent). */
  generator?: Generator;
  pretrainedCfg?: PretrainedCfg;
  /** Class names from the checkpoint's config.json (`label_names`), one per class. */
  labelNames?: readonly string[] | null;
}

/**
 * timm's EfficientNet (or, with spec.featuresOnly, EfficientNetFeatures: no head, forward returns
 * the feature maps at the requested stages).
 */
export class EfficientNet extends Module {
  readonly spec: EfficientNetSpec;
  /** The pretrained config this model was created with (drives resolveDataConfig). */
  pretrainedCfg: PretrainedCfg | undefined;
  /** Class names the checkpoint came with (config.json `label_names`), or null. */
  labelNames: readonly string[] | null;
  readonly featureInfo: FeatureInfo[];
  readonly numFeatures: number;
  numClasses: number;
  globalPoolType: GlobalPool;
  dropRate: number;
  private readonly convStem: Conv2d;
  private readonly bn1: BatchNorm2d;
  private readonly blocks: ModuleList<ModuleList<EfficientNetBlock>>;
  private readonly convHead: Conv2d | null;
  private readonly bn2: BatchNorm2d | null;
  private classifier: Linear | Identity | null;
  /** features_only: which stage outputs to return, by stage index. */
  private readonly featureStages: Set<number> | null;

  constructor(spec: EfficientNetSpec, opts: EfficientNetOptions = {}) {
    super();
    const g = opts.generator;
    this.spec = spec;
    this.pretrainedCfg = opts.pretrainedCfg;
    this.labelNames = opts.labelNames && opts.labelNames.length === spec.numClasses ? [...opts.labelNames] : null;
    this.numFeatures = spec.numFeatures;
    this.numClasses = spec.numClasses;
    this.globalPoolType = spec.globalPool;
    this.dropRate = spec.dropRate;
    this.convStem = this.registerModule('conv_stem', conv(spec.stem.conv, g));
    this.bn1 = this.registerModule('bn1', bn(spec.stem.bn));
    this.blocks = this.registerModule(
      'blocks',
      new ModuleList(spec.stages.map((stage) => new ModuleList(stage.map((b) => new EfficientNetBlock(b, g))))),
    );
    if (spec.featuresOnly) {
      this.convHead = null;
      this.bn2 = null;
      this.classifier = null;
      const info = spec.featuresOnlyInfo ?? [];
      this.featureInfo = featureInfoOf(info);
      this.featureStages = new Set(info.map((e) => Number(e.module.split('.')[1])));
    } else {
      this.convHead = spec.head ? this.registerModule('conv_head', conv(spec.head.conv, g)) : null;
      this.bn2 = spec.head ? this.registerModule('bn2', bn(spec.head.bn)) : null;
      this.classifier = this.makeClassifier(spec.numClasses, g);
      this.featureInfo = featureInfoOf(spec.featureInfo);
      this.featureStages = null;
    }
  }

  private makeClassifier(numClasses: number, generator?: Generator): Linear | Identity {
    const inF = this.numFeatures * poolFeatMult(this.globalPoolType);
    return numClasses > 0
      ? this.registerModule('classifier', new Linear(inF, numClasses, generator ? { generator } : {}))
      : this.registerModule('classifier', new Identity());
  }

  // Every entry point runs in the modules' own training mode (train()/eval()); the context says
  // where and how (device, autocast, randomness).

  /** Stem and blocks, then (full model) conv_head + bn2: the unpooled features, [N, numFeatures, H/32, W/32]. */
  forwardFeatures(x: Tensor, ctx?: ForwardContext): Tensor {
    this.assertFull('forwardFeatures');
    checkContext(x, ctx, 'forwardFeatures');
    return runForward(ctx, () =>
      scope(() => {
        let y = this.bn1.forward(this.convStem.forward(x));
        for (const stage of this.blocks.items) for (const b of stage.items) y = b.forward(y, ctx);
        if (this.convHead && this.bn2) y = this.bn2.forward(this.convHead.forward(y));
        return y;
      }),
    );
  }

  /** Global pool, dropout, classifier; with preLogits, stop after pooling (and dropout). */
  forwardHead(x: Tensor, opts: { preLogits?: boolean; ctx?: ForwardContext } = {}): Tensor {
    this.assertFull('forwardHead');
    checkContext(x, opts.ctx, 'forwardHead');
    return scope(() => {
      let y = globalPool(x, this.globalPoolType, true);
      y = dropout(y, this.dropRate, this.training, noiseSource(opts.ctx, HEAD_NOISE_SALT));
      if (opts.preLogits || !this.classifier || this.classifier instanceof Identity) return y;
      return this.classifier.forward(y);
    });
  }

  /** Logits [N, numClasses] (full model), or the list of feature maps (featuresOnly). */
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    if (this.featureStages) throw new Error('this is a features_only model: call forwardFeatureMaps(x)');
    // The head joins the features' autocast (the classifier's matmul runs in the lower dtype too).
    return runForward(ctx, () => scope(() => this.forwardHead(this.forwardFeatures(x, ctx), { ...(ctx ? { ctx } : {}) })));
  }

  /** features_only: the feature maps at featureInfo's modules, shallowest first. */
  forwardFeatureMaps(x: Tensor, ctx?: ForwardContext): Tensor[] {
    const stages = this.featureStages;
    if (!stages) throw new Error('forwardFeatureMaps needs a model created with featuresOnly: true');
    checkContext(x, ctx, 'forwardFeatureMaps');
    return runForward(ctx, () =>
      scope(() => {
        const out: Tensor[] = [];
        let y = this.bn1.forward(this.convStem.forward(x));
        this.blocks.items.forEach((stage, i) => {
          for (const b of stage.items) y = b.forward(y, ctx);
          if (stages.has(i)) out.push(y);
        });
        return out;
      }),
    );
  }

  /** Replace the classifier (timm's reset_classifier): a new randomly initialised head, or none (0). */
  resetClassifier(numClasses: number, opts: { globalPool?: GlobalPool; generator?: Generator } = {}): void {
    this.assertFull('resetClassifier');
    if (opts.globalPool !== undefined) this.globalPoolType = opts.globalPool;
    this.removeModule('classifier');
    this.numClasses = numClasses;
    this.classifier = this.makeClassifier(numClasses, opts.generator);
  }

  /** Stochastic depth rate per block (the linear ramp timm builds), e.g. to noise a student. */
  setDropPathRate(rate: number): void {
    const total = this.spec.totalBlocks;
    let i = 0;
    for (const stage of this.blocks.items) {
      for (const b of stage.items) {
        b.dropPathRate = (rate * i) / total;
        i++;
      }
    }
  }

  private assertFull(what: string): void {
    if (this.featureStages) throw new Error(`${what} is not available on a features_only model`);
  }
}

// A context asking for autocast the build cannot do is refused rather than silently run in float32;
// the forward itself runs inside libtorch's autocast (runForward).
function checkContext(x: Tensor, ctx: ForwardContext | undefined, where: string): void {
  if (!ctx) return;
  assertContextSupported(ctx, `EfficientNet.${where}`);
  assertOnDevice(x, ctx, `EfficientNet.${where}`);
}
