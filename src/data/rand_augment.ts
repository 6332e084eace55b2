// RandAugment: timm's config-string grammar and AugmentOp semantics (timm/data/auto_augment.py), plus
// the original Noisy Student variant (tensorflow/tpu randaugment.py as used by the Noisy Student
// code: every chosen op is applied, magnitudes above 10 are allowed, Cutout is one of the ops).
// All randomness (op choice, application probability, magnitude noise, sign, interpolation, cutout
// position) comes from the Rng passed in.
//
// Grammar (timm): "rand" followed by "-"-separated sections, each a key immediately followed by its
// value: m<int> magnitude, n<int> layers, p<float> probability per op, mstd<float> magnitude std
// (> 100 means uniform in [0, m]), mmax<int> magnitude upper bound (default 10), inc<int> use the
// "Increasing" op set, t<name> op set ("weights" for timm's weighted set).
// Noisy Student: "nsrand" with m<int> (default 27), n<int> (default 2), mstd<float>, cutout<0|1>
// (default 1). Unlike timm, a section that cannot be parsed is an error naming it (timm silently
// skips a section with no digits), and inc0 means "off" (timm's bool("0") is True).
import type { ImageU8 } from './image.js';
import type { Rng } from './rng.js';
import {
  type AffineResample,
  type Fill,
  autoContrast,
  brightness,
  color,
  contrast,
  cutout,
  equalize,
  invert,
  posterize,
  rotate,
  sharpness,
  shearX,
  shearY,
  solarize,
  solarizeAdd,
  translateX,
  translateXRel,
  translateY,
  translateYRel,
} from './augment_ops.js';

export type AugmentOpName =
  | 'AutoContrast'
  | 'Equalize'
  | 'Invert'
  | 'Rotate'
  | 'Posterize'
  | 'PosterizeIncreasing'
  | 'PosterizeOriginal'
  | 'Solarize'
  | 'SolarizeIncreasing'
  | 'SolarizeAdd'
  | 'Color'
  | 'ColorIncreasing'
  | 'Contrast'
  | 'ContrastIncreasing'
  | 'Brightness'
  | 'BrightnessIncreasing'
  | 'Sharpness'
  | 'SharpnessIncreasing'
  | 'ShearX'
  | 'ShearY'
  | 'TranslateX'
  | 'TranslateY'
  | 'TranslateXRel'
  | 'TranslateYRel'
  | 'Cutout';

/** timm's `_RAND_TRANSFORMS`. */
export const RAND_TRANSFORMS: readonly AugmentOpName[] = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'Posterize',
  'Solarize',
  'SolarizeAdd',
  'Color',
  'Contrast',
  'Brightness',
  'Sharpness',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
];

/** timm's `_RAND_INCREASING_TRANSFORMS`. */
export const RAND_INCREASING_TRANSFORMS: readonly AugmentOpName[] = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'PosterizeIncreasing',
  'SolarizeIncreasing',
  'SolarizeAdd',
  'ColorIncreasing',
  'ContrastIncreasing',
  'BrightnessIncreasing',
  'SharpnessIncreasing',
  'ShearX',
  'ShearY',
  'TranslateXRel',
  'TranslateYRel',
];

/** timm's `_RAND_WEIGHTED_0` ("tweights"). */
export const RAND_WEIGHTED_0: Readonly<Partial<Record<AugmentOpName, number>>> = {
  Rotate: 3,
  ShearX: 2,
  ShearY: 2,
  TranslateXRel: 1,
  TranslateYRel: 1,
  ColorIncreasing: 0.25,
  SharpnessIncreasing: 0.25,
  AutoContrast: 0.25,
  SolarizeIncreasing: 0.05,
  SolarizeAdd: 0.05,
  ContrastIncreasing: 0.05,
  BrightnessIncreasing: 0.05,
  Equalize: 0.05,
  PosterizeIncreasing: 0.05,
  Invert: 0.05,
};

/** The Noisy Student op list (randaugment.py `available_ops`), Cutout last. */
export const NOISY_STUDENT_TRANSFORMS: readonly AugmentOpName[] = [
  'AutoContrast',
  'Equalize',
  'Invert',
  'Rotate',
  'Posterize',
  'Solarize',
  'Color',
  'Contrast',
  'Brightness',
  'Sharpness',
  'ShearX',
  'ShearY',
  'TranslateX',
  'TranslateY',
  'SolarizeAdd',
  'Cutout',
];

/** timm's `_LEVEL_DENOM` / TF's `_MAX_LEVEL`. */
export const LEVEL_DENOM = 10;

export interface RandAugmentConfig {
  readonly variant: 'timm' | 'noisy_student';
  readonly magnitude: number;
  readonly numLayers: number;
  /** Probability that a chosen op is applied (timm default 0.5; Noisy Student always 1). */
  readonly prob: number;
  /** 0: fixed magnitude; > 0: Gaussian noise; Infinity: uniform in [0, magnitude]. */
  readonly magnitudeStd: number;
  /** Upper clamp of the (noisy) magnitude: timm 10 unless mmax; Noisy Student unbounded. */
  readonly magnitudeMax: number;
  readonly ops: readonly AugmentOpName[];
  /** Choice weights (timm "tweights": ops drawn without replacement); null = uniform with replacement. */
  readonly weights: readonly number[] | null;
}

export interface AugmentHparams {
  /** Pixels for TranslateX/Y at the maximum level (timm: int(0.45 * img_size); TF: 100). */
  readonly translateConst: number;
  /** Fraction for TranslateXRel/YRel at the maximum level (timm default 0.45). */
  readonly translatePct: number;
  /** Fill colour for geometric ops and Cutout (timm: the ImageNet mean in 0..255; TF: 128). */
  readonly fill: Fill;
  /** Resampling for geometric ops; 'random' picks bilinear or bicubic per call (timm default). */
  readonly interpolation: AffineResample | 'random';
  /** Cutout half-size at the maximum level (TF: 40 for ImageNet). */
  readonly cutoutConst: number;
}

export const DEFAULT_HPARAMS: AugmentHparams = {
  translateConst: 250,
  translatePct: 0.45,
  fill: [128, 128, 128],
  interpolation: 'random',
  cutoutConst: 40,
};

/** Noisy Student's hparams for an image size (preprocessing.py: small images scale the constants). */
export function noisyStudentHparams(imageSize: number): AugmentHparams {
  const small = imageSize <= 32;
  return {
    translateConst: small ? Math.floor(imageSize / 8) : 100,
    translatePct: 0.45,
    fill: [128, 128, 128],
    interpolation: 'bilinear',
    cutoutConst: small ? Math.floor(imageSize / 8) : 40,
  };
}

export class RandAugmentConfigError extends Error {
  readonly code = 'E_RANDAUGMENT_CONFIG';
  constructor(
    readonly configString: string,
    readonly token: string,
    detail: string,
  ) {
    super(`invalid RandAugment config "${configString}": section "${token}" ${detail}`);
    this.name = 'RandAugmentConfigError';
  }
}

const INT_RE = /^[0-9]+$/;
const FLOAT_RE = /^[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?$|^inf$/;

/** Parse a timm ("rand-...") or Noisy Student ("nsrand-...") RandAugment string. */
export function parseRandAugment(configString: string): RandAugmentConfig {
  const parts = configString.split('-');
  const head = parts[0] ?? '';
  if (head !== 'rand' && head !== 'nsrand') {
    throw new RandAugmentConfigError(configString, head, 'must be "rand" (timm) or "nsrand" (Noisy Student)');
  }
  const ns = head === 'nsrand';
  let magnitude = ns ? 27 : LEVEL_DENOM;
  let numLayers = 2;
  let prob = ns ? 1.0 : 0.5;
  let magnitudeStd = 0;
  let magnitudeMax = ns ? Infinity : LEVEL_DENOM;
  let increasing = false;
  let opSet: string | null = null;
  let useCutout = true;
  const seen = new Set<string>();
  for (const tok of parts.slice(1)) {
    if (tok === '') throw new RandAugmentConfigError(configString, tok, 'is empty (doubled "-"?)');
    if (!ns && tok.startsWith('t')) {
      opSet = tok.slice(1);
      if (opSet !== 'weights')
        throw new RandAugmentConfigError(configString, tok, `names an unsupported op set "${opSet}" (supported: weights)`);
      continue;
    }
    const m = /^([a-z]+)(.*)$/.exec(tok);
    const key = m?.[1] ?? '';
    const val = m?.[2] ?? '';
    if (!key || val === '' || !/^[0-9]/.test(val))
      throw new RandAugmentConfigError(configString, tok, 'must be a key followed by a number, e.g. "m9"');
    if (seen.has(key)) throw new RandAugmentConfigError(configString, tok, `repeats the key "${key}"`);
    seen.add(key);
    const int = (): number => {
      if (!INT_RE.test(val)) throw new RandAugmentConfigError(configString, tok, `needs an integer value, got "${val}"`);
      return Number(val);
    };
    const float = (): number => {
      if (!FLOAT_RE.test(val)) throw new RandAugmentConfigError(configString, tok, `needs a number, got "${val}"`);
      return Number(val);
    };
    switch (key) {
      case 'm':
        magnitude = int();
        break;
      case 'n':
        numLayers = int();
        break;
      case 'mstd': {
        const v = float();
        magnitudeStd = v > 100 ? Infinity : v;
        break;
      }
      case 'mmax':
        if (ns) throw new RandAugmentConfigError(configString, tok, 'is not a Noisy Student option (its magnitude is unbounded)');
        magnitudeMax = int();
        break;
      case 'p':
        if (ns) throw new RandAugmentConfigError(configString, tok, 'is not a Noisy Student option (its ops are always applied)');
        prob = float();
        if (prob > 1) throw new RandAugmentConfigError(configString, tok, 'must be a probability in [0, 1]');
        break;
      case 'inc':
        if (ns) throw new RandAugmentConfigError(configString, tok, 'is not a Noisy Student option');
        increasing = int() !== 0;
        break;
      case 'cutout':
        if (!ns) throw new RandAugmentConfigError(configString, tok, 'is only a Noisy Student ("nsrand") option');
        useCutout = int() !== 0;
        break;
      default:
        throw new RandAugmentConfigError(configString, tok, `has an unknown key "${key}"`);
    }
  }
  if (ns) {
    const ops = useCutout ? NOISY_STUDENT_TRANSFORMS : NOISY_STUDENT_TRANSFORMS.filter((o) => o !== 'Cutout');
    return { variant: 'noisy_student', magnitude, numLayers, prob, magnitudeStd, magnitudeMax, ops, weights: null };
  }
  if (opSet === 'weights') {
    const ops = Object.keys(RAND_WEIGHTED_0) as AugmentOpName[];
    const w = ops.map((o) => RAND_WEIGHTED_0[o]!);
    const total = w.reduce((a, b) => a + b, 0);
    return { variant: 'timm', magnitude, numLayers, prob, magnitudeStd, magnitudeMax, ops, weights: w.map((x) => x / total) };
  }
  const ops = increasing ? RAND_INCREASING_TRANSFORMS : RAND_TRANSFORMS;
  return { variant: 'timm', magnitude, numLayers, prob, magnitudeStd, magnitudeMax, ops, weights: null };
}

function negate(v: number, rng: Rng): number {
  // timm's _randomly_negate: -v if random() > 0.5.
  return rng.random() > 0.5 ? -v : v;
}

/**
 * The op's argument at `level` (timm's LEVEL_TO_ARG; the Noisy Student variant uses TF's mappings,
 * which differ for SolarizeAdd (no 128 cap), TranslateX/Y (absolute) and Cutout). Draws the random
 * sign where timm does.
 */
export function levelToArg(
  name: AugmentOpName,
  level: number,
  hp: AugmentHparams,
  rng: Rng,
  variant: RandAugmentConfig['variant'] = 'timm',
): number | null {
  const l = level / LEVEL_DENOM;
  switch (name) {
    case 'AutoContrast':
    case 'Equalize':
    case 'Invert':
      return null;
    case 'Rotate':
      return negate(l * 30, rng);
    case 'Posterize':
      return Math.trunc(l * 4);
    case 'PosterizeIncreasing':
      return 4 - Math.trunc(l * 4);
    case 'PosterizeOriginal':
      return Math.trunc(l * 4) + 4;
    case 'Solarize':
      return Math.min(256, Math.trunc(l * 256));
    case 'SolarizeIncreasing':
      return 256 - Math.min(256, Math.trunc(l * 256));
    case 'SolarizeAdd':
      return variant === 'noisy_student' ? Math.trunc(l * 110) : Math.min(128, Math.trunc(l * 110));
    case 'Color':
    case 'Contrast':
    case 'Brightness':
    case 'Sharpness':
      return l * 1.8 + 0.1;
    case 'ColorIncreasing':
    case 'ContrastIncreasing':
    case 'BrightnessIncreasing':
    case 'SharpnessIncreasing':
      return Math.max(0.1, 1.0 + negate(l * 0.9, rng));
    case 'ShearX':
    case 'ShearY':
      return negate(l * 0.3, rng);
    case 'TranslateX':
    case 'TranslateY':
      return negate(l * hp.translateConst, rng);
    case 'TranslateXRel':
    case 'TranslateYRel':
      return negate(l * hp.translatePct, rng);
    case 'Cutout':
      return Math.trunc(l * hp.cutoutConst);
  }
}

function pickResample(hp: AugmentHparams, rng: Rng): AffineResample {
  return hp.interpolation === 'random' ? (rng.random() < 0.5 ? 'bilinear' : 'bicubic') : hp.interpolation;
}

/** Apply one op with its argument already computed (the fixture's level of testing). */
export function applyOp(img: ImageU8, name: AugmentOpName, arg: number | null, hp: AugmentHparams, rng: Rng): ImageU8 {
  const a = arg ?? 0;
  switch (name) {
    case 'AutoContrast':
      return autoContrast(img);
    case 'Equalize':
      return equalize(img);
    case 'Invert':
      return invert(img);
    case 'Rotate':
      return rotate(img, a, pickResample(hp, rng), hp.fill);
    case 'Posterize':
    case 'PosterizeIncreasing':
    case 'PosterizeOriginal':
      return posterize(img, a);
    case 'Solarize':
    case 'SolarizeIncreasing':
      return solarize(img, a);
    case 'SolarizeAdd':
      return solarizeAdd(img, a);
    case 'Color':
    case 'ColorIncreasing':
      return color(img, a);
    case 'Contrast':
    case 'ContrastIncreasing':
      return contrast(img, a);
    case 'Brightness':
    case 'BrightnessIncreasing':
      return brightness(img, a);
    case 'Sharpness':
    case 'SharpnessIncreasing':
      return sharpness(img, a);
    case 'ShearX':
      return shearX(img, a, pickResample(hp, rng), hp.fill);
    case 'ShearY':
      return shearY(img, a, pickResample(hp, rng), hp.fill);
    case 'TranslateX':
      return translateX(img, a, pickResample(hp, rng), hp.fill);
    case 'TranslateY':
      return translateY(img, a, pickResample(hp, rng), hp.fill);
    case 'TranslateXRel':
      return translateXRel(img, a, pickResample(hp, rng), hp.fill);
    case 'TranslateYRel':
      return translateYRel(img, a, pickResample(hp, rng), hp.fill);
    case 'Cutout': {
      const cy = rng.below(img.height);
      const cx = rng.below(img.width);
      return cutout(img, cy, cx, a, hp.fill);
    }
  }
}

/**
 * timm's AugmentOp.__call__: maybe skip (prob), perturb the magnitude (mstd), clamp it to
 * [0, magnitudeMax], convert to the op's argument, apply.
 */
export function applyAugmentOp(img: ImageU8, name: AugmentOpName, config: RandAugmentConfig, hp: AugmentHparams, rng: Rng): ImageU8 {
  if (config.prob < 1.0 && rng.random() > config.prob) return img;
  let magnitude = config.magnitude;
  if (config.magnitudeStd === Infinity) magnitude = rng.uniform(0, magnitude);
  else if (config.magnitudeStd > 0) magnitude = rng.normal(magnitude, config.magnitudeStd);
  magnitude = Math.max(0, Math.min(magnitude, config.magnitudeMax));
  const arg = levelToArg(name, magnitude, hp, rng, config.variant);
  return applyOp(img, name, arg, hp, rng);
}

export type ImageAugment = (img: ImageU8, rng: Rng) => ImageU8;

/** Build the RandAugment transform: `numLayers` ops drawn per image, applied in order. */
export function createRandAugment(
  config: RandAugmentConfig | string,
  hparams: Partial<AugmentHparams> = {},
): ImageAugment & { readonly config: RandAugmentConfig } {
  const cfg = typeof config === 'string' ? parseRandAugment(config) : config;
  const hp: AugmentHparams = { ...DEFAULT_HPARAMS, ...hparams };
  const fn = (img: ImageU8, rng: Rng): ImageU8 => {
    let out = img;
    for (const name of chooseOps(cfg, rng)) out = applyAugmentOp(out, name, cfg, hp, rng);
    return out;
  };
  return Object.assign(fn, { config: cfg });
}

/** numpy's `choice(ops, n, replace=weights is None, p=weights)` semantics on our Rng. */
function chooseOps(cfg: RandAugmentConfig, rng: Rng): AugmentOpName[] {
  const chosen: AugmentOpName[] = [];
  if (!cfg.weights) {
    for (let i = 0; i < cfg.numLayers; i++) chosen.push(rng.choice(cfg.ops));
    return chosen;
  }
  const w = [...cfg.weights];
  const n = Math.min(cfg.numLayers, cfg.ops.length);
  for (let i = 0; i < n; i++) {
    const k = rng.weightedIndex(w);
    chosen.push(cfg.ops[k]!);
    w[k] = 0;
  }
  return chosen;
}
