// The EfficientNet family members we register, with timm's names and generator values.
//
// References (as in timm/models/efficientnet.py):
// - EfficientNet: Rethinking Model Scaling for CNNs - https://arxiv.org/abs/1905.11946
// - Adversarial Examples Improve Image Recognition (AdvProp, the `ap` weights) - https://arxiv.org/abs/1911.09665
// - Self-training with Noisy Student improves ImageNet classification (the `ns` weights) - https://arxiv.org/abs/1911.04252
// - Model Rubik's Cube: Twisting Resolution, Depth and Width for TinyNets - https://arxiv.org/abs/2010.14819
//
// `tf_` variants are the ports of Google's TF checkpoints: they need TF "SAME" padding and BN eps 1e-3,
// or the ported weights give different outputs (see ../shared/fixtures/timm/README.md for how much).
// The plain variants use PyTorch symmetric padding and BN eps 1e-5. BN momentum stays PyTorch's 0.1
// for both: timm's tf_ entrypoints only change eps.
import type { ArchDef } from './arch.js';
import {
  resolveEfficientNetSpec,
  roundChannels,
  type BuildSpecOptions,
  type EfficientNetGenConfig,
  type EfficientNetSpec,
} from './builder_spec.js';

export const BN_EPS_TF_DEFAULT = 1e-3;
export const BN_EPS_PT_DEFAULT = 1e-5;
export const BN_MOMENTUM_PT_DEFAULT = 0.1;

/** The EfficientNet-B0 stages (timm's `_gen_efficientnet` arch_def); every B/L variant scales it. */
export const EFFICIENTNET_ARCH_DEF: ArchDef = [
  ['ds_r1_k3_s1_e1_c16_se0.25'],
  ['ir_r2_k3_s2_e6_c24_se0.25'],
  ['ir_r2_k5_s2_e6_c40_se0.25'],
  ['ir_r3_k3_s2_e6_c80_se0.25'],
  ['ir_r3_k5_s1_e6_c112_se0.25'],
  ['ir_r4_k5_s2_e6_c192_se0.25'],
  ['ir_r1_k3_s1_e6_c320_se0.25'],
];

/** timm's `_gen_test_efficientnet`: one block per stage covering cn/er/ir, for fast CI runs. */
export const TEST_EFFICIENTNET_ARCH_DEF: ArchDef = [
  ['cn_r1_k3_s1_e1_c16_skip'],
  ['er_r1_k3_s2_e4_c24'],
  ['er_r1_k3_s2_e4_c32'],
  ['ir_r1_k3_s2_e4_c48_se0.25'],
  ['ir_r1_k3_s2_e4_c64_se0.25'],
];

export type VariantFamily = 'efficientnet' | 'tinynet' | 'test_efficientnet';

export interface EfficientNetVariant {
  readonly family: VariantFamily;
  /** Width multiplier (timm's channel_multiplier; TinyNet's `w`). */
  readonly channelMultiplier: number;
  /** Depth multiplier (TinyNet's `d`). */
  readonly depthMultiplier: number;
  /** TF port: 'same' padding and BN eps 1e-3. */
  readonly tfCompat: boolean;
  /**
   * Dropout before the classifier by default. timm's entrypoints leave it at 0 (its docstrings only
   * recommend `paperDropRate` for training), and so do we, so that createModel(name) equals timm's.
   */
  readonly dropRate: number;
  /** The dropout the paper trained with (timm's docstring table); a training recipe hint only. */
  readonly paperDropRate?: number;
  /** The paper's input resolution (EfficientNet's table; TinyNet: 224 x its resolution multiplier `r`). */
  readonly paperResolution: number;
  /** TinyNet's resolution multiplier `r` (the model itself does not depend on it). */
  readonly resolutionMultiplier?: number;
}

const effnet = (w: number, d: number, res: number, drop: number, tfCompat: boolean): EfficientNetVariant => ({
  family: 'efficientnet',
  channelMultiplier: w,
  depthMultiplier: d,
  tfCompat,
  dropRate: 0,
  paperDropRate: drop,
  paperResolution: res,
});
const tinynet = (r: number, w: number, d: number): EfficientNetVariant => ({
  family: 'tinynet',
  channelMultiplier: w,
  depthMultiplier: d,
  tfCompat: false,
  dropRate: 0,
  // timm's cfg comments: int(224 * r)
  paperResolution: Math.trunc(224 * r),
  resolutionMultiplier: r,
});

/** Every architecture we register, keyed by timm's name. (channel, depth, resolution, dropout) from timm's table. */
export const VARIANTS = {
  efficientnet_b0: effnet(1.0, 1.0, 224, 0.2, false),
  efficientnet_b1: effnet(1.0, 1.1, 240, 0.2, false),
  efficientnet_b2: effnet(1.1, 1.2, 260, 0.3, false),
  efficientnet_b3: effnet(1.2, 1.4, 300, 0.3, false),
  efficientnet_b4: effnet(1.4, 1.8, 380, 0.4, false),
  efficientnet_b5: effnet(1.6, 2.2, 456, 0.4, false),
  efficientnet_b6: effnet(1.8, 2.6, 528, 0.5, false),
  efficientnet_b7: effnet(2.0, 3.1, 600, 0.5, false),
  efficientnet_b8: effnet(2.2, 3.6, 672, 0.5, false),
  efficientnet_l2: effnet(4.3, 5.3, 800, 0.5, false),
  tf_efficientnet_b0: effnet(1.0, 1.0, 224, 0.2, true),
  tf_efficientnet_b1: effnet(1.0, 1.1, 240, 0.2, true),
  tf_efficientnet_b2: effnet(1.1, 1.2, 260, 0.3, true),
  tf_efficientnet_b3: effnet(1.2, 1.4, 300, 0.3, true),
  tf_efficientnet_b4: effnet(1.4, 1.8, 380, 0.4, true),
  tf_efficientnet_b5: effnet(1.6, 2.2, 456, 0.4, true),
  tf_efficientnet_b6: effnet(1.8, 2.6, 528, 0.5, true),
  tf_efficientnet_b7: effnet(2.0, 3.1, 600, 0.5, true),
  tf_efficientnet_b8: effnet(2.2, 3.6, 672, 0.5, true),
  tf_efficientnet_l2: effnet(4.3, 5.3, 800, 0.5, true),
  tinynet_a: tinynet(0.86, 1.0, 1.2),
  tinynet_b: tinynet(0.84, 0.75, 1.1),
  tinynet_c: tinynet(0.825, 0.54, 0.85),
  tinynet_d: tinynet(0.68, 0.54, 0.695),
  tinynet_e: tinynet(0.475, 0.51, 0.6),
  test_efficientnet: {
    family: 'test_efficientnet',
    channelMultiplier: 1.0,
    depthMultiplier: 1.0,
    tfCompat: false,
    dropRate: 0,
    paperResolution: 160,
  },
} as const satisfies Record<string, EfficientNetVariant>;

export type ArchName = keyof typeof VARIANTS;

export const ARCH_NAMES: readonly ArchName[] = Object.keys(VARIANTS) as ArchName[];

export function isArchName(name: string): name is ArchName {
  return Object.prototype.hasOwnProperty.call(VARIANTS, name);
}

/**
 * The generator config timm's entrypoint would build for this architecture
 * (`_gen_efficientnet`, `_gen_tinynet` or `_gen_test_efficientnet`).
 */
export function genConfig(arch: ArchName): EfficientNetGenConfig {
  const v: EfficientNetVariant = VARIANTS[arch];
  const common = {
    bnEps: v.tfCompat ? BN_EPS_TF_DEFAULT : BN_EPS_PT_DEFAULT,
    bnMomentum: BN_MOMENTUM_PT_DEFAULT,
    padType: v.tfCompat ? ('same' as const) : ('' as const),
    seFromExp: false,
    stemKernel: 3,
  };
  switch (v.family) {
    case 'efficientnet':
      return {
        ...common,
        archDef: EFFICIENTNET_ARCH_DEF,
        channelMultiplier: v.channelMultiplier,
        channelDivisor: 8,
        roundLimit: 0.9,
        depthMultiplier: v.depthMultiplier,
        depthTrunc: 'ceil',
        stemSize: 32,
        fixStem: false,
        numFeatures: roundChannels(1280, v.channelMultiplier, 8),
        act: 'swish',
      };
    case 'tinynet':
      return {
        ...common,
        archDef: EFFICIENTNET_ARCH_DEF,
        channelMultiplier: v.channelMultiplier,
        channelDivisor: 8,
        roundLimit: 0.9,
        depthMultiplier: v.depthMultiplier,
        // TinyNet keeps small stages small: depth rounds instead of ceil, the stem is not scaled
        // and the head never narrows below 1280.
        depthTrunc: 'round',
        stemSize: 32,
        fixStem: true,
        numFeatures: Math.max(1280, roundChannels(1280, v.channelMultiplier, 8)),
        act: 'swish',
      };
    case 'test_efficientnet':
      return {
        ...common,
        archDef: TEST_EFFICIENTNET_ARCH_DEF,
        channelMultiplier: v.channelMultiplier,
        channelDivisor: 8,
        // timm's test model rounds with round_limit=0 so tiny widths never jump up a divisor.
        roundLimit: 0,
        depthMultiplier: v.depthMultiplier,
        depthTrunc: 'ceil',
        stemSize: 24,
        fixStem: false,
        numFeatures: roundChannels(256, v.channelMultiplier, 8, 0),
        act: 'silu',
      };
  }
}

/** Resolve an architecture plus model options into its full layer-level spec. */
export function resolveModelSpec(arch: ArchName, options: BuildSpecOptions = {}): EfficientNetSpec {
  return resolveEfficientNetSpec(genConfig(arch), { dropRate: VARIANTS[arch].dropRate, ...options });
}
