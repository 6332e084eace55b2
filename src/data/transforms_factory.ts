// timm's `create_transform` (timm/data/transforms_factory.py) for images already decoded to ImageU8.
// The image stages reproduce PIL/torchvision; the last stage turns the uint8 image into a float32
// CHW array (ToTensor + Normalize, then random erasing when training). `finalize` is the pluggable
// final step: the default returns the FloatCHW itself; the tensor layer passes a function that wraps
// it into a Tensor.
//
// Eval (transforms_imagenet_eval): scale = floor(size / crop_pct) per edge, then
//   center: torchvision Resize(scale) on the shorter side (when the scale is square), else timm's
//           ResizeKeepRatio(scale) — which timm builds WITHOUT the configured interpolation, i.e.
//           bilinear; reproduced as is — then CenterCrop(size);
//   squash: Resize((scale_h, scale_w)) ignoring the aspect ratio, then CenterCrop(size);
//   border: ResizeKeepRatio(scale, longest=1) then CenterCropOrPad(size, fill=round(255 * mean)).
// Train (transforms_imagenet_train, train_crop_mode 'rrc'): RandomResizedCrop(scale, ratio,
//   interpolation) -> hflip -> vflip -> RandAugment (or ColorJitter when no auto-augment) ->
//   ToTensor + Normalize -> RandomErasing.
import { type FloatCHW, type ImageU8, grayToRgb, rgbToGray } from './image.js';
import type { Rng } from './rng.js';
import { type DataConfig, type Interpolation, type TrainInterpolation, evalScaleSize, parseInterpolation } from './data_config.js';
import { roundHalfEven } from './py_math.js';
import { centerCropBox, centerCropOrPad } from './transforms/crop.js';
import { hflip, vflip } from './transforms/flip.js';
import { type ResampleFilter, resize, resizeShorterSide, resizeWindow, shorterSideSize } from './transforms/resize.js';
import { resizeKeepRatioSize } from './transforms/resize_keep_ratio.js';
import { randomResizedCropParams, resizedCrop } from './transforms/random_resized_crop.js';
import { toNormalizedCHW } from './transforms/to_tensor.js';
import { type ColorJitterSpec, createColorJitter } from './transforms/color_jitter.js';
import { type ErasingMode, createRandomErasing } from './transforms/random_erasing.js';
import { type AugmentHparams, createRandAugment, noisyStudentHparams, parseRandAugment } from './rand_augment.js';

export type ImageStep = (img: ImageU8, rng: Rng | undefined) => ImageU8;

export interface TrainTransformOptions {
  /** RandomResizedCrop area range (timm default [0.08, 1]). */
  readonly scale?: readonly [number, number];
  /** RandomResizedCrop aspect range (timm default [3/4, 4/3]). */
  readonly ratio?: readonly [number, number];
  readonly hflip?: number;
  readonly vflip?: number;
  /** Used only when no auto-augment is set (timm disables it with RandAugment). Default 0.4. */
  readonly colorJitter?: ColorJitterSpec | null;
  /** "rand-m9-mstd0.5-inc1", "nsrand-m27-n2", ... or null for none. */
  readonly autoAugment?: string | null;
  /** Overrides the RandAugment hparams derived from the config (fill, translate, interpolation). */
  readonly augmentHparams?: Partial<AugmentHparams>;
  /** Train-time interpolation; timm's train.py default is 'random' (bilinear or bicubic per sample). */
  readonly interpolation?: TrainInterpolation;
  readonly reProb?: number;
  readonly reMode?: ErasingMode;
  readonly reCount?: number;
  /** timm's no_aug: Resize(size) + CenterCrop(size) only. */
  readonly noAug?: boolean;
}

export interface CreateTransformOptions<T> extends TrainTransformOptions {
  readonly isTraining?: boolean;
  /** Final step applied to the normalised CHW float array (default: identity). */
  readonly finalize?: (x: FloatCHW) => T;
}

export interface Transform<T = FloatCHW> {
  (img: ImageU8, rng?: Rng): T;
  readonly config: DataConfig;
  readonly isTraining: boolean;
  /** Human-readable steps, in order (like timm's Compose repr). */
  readonly steps: readonly string[];
  /** The uint8 image right before ToTensor (for inspection and parity tests). */
  readonly toImage: (img: ImageU8, rng?: Rng) => ImageU8;
  /** ToTensor + Normalize (+ random erasing when training), without `finalize`. */
  readonly toFloat: (img: ImageU8, rng?: Rng) => FloatCHW;
  /** As toFloat, written into `out` (e.g. a sample's slot of a batch buffer, no copy after). */
  readonly toFloatInto: (img: ImageU8, rng: Rng | undefined, out: Float32Array) => FloatCHW;
}

export class TransformError extends Error {
  readonly code = 'E_TRANSFORM';
  constructor(message: string) {
    super(message);
    this.name = 'TransformError';
  }
}

interface Step {
  readonly name: string;
  readonly apply: ImageStep;
}

function needRng(rng: Rng | undefined, what: string): Rng {
  if (!rng) throw new TransformError(`${what} is random: pass an Rng (e.g. Rng.forSample(seed, epoch, index))`);
  return rng;
}

function pickInterp(interp: TrainInterpolation, rng: Rng | undefined): Interpolation {
  if (interp !== 'random') return interp;
  return needRng(rng, 'random interpolation').random() < 0.5 ? 'bilinear' : 'bicubic';
}

/** Match the image's channels to the model input (1: PIL convert("L"), 3: convert("RGB")). */
function channelStep(inChans: number): Step {
  if (inChans !== 1 && inChans !== 3) throw new TransformError(`input channels must be 1 or 3, got ${inChans}`);
  return {
    name: inChans === 1 ? 'ConvertL' : 'ConvertRGB',
    apply: (img) => (inChans === 1 ? rgbToGray(img) : grayToRgb(img)),
  };
}

/**
 * Resize to rw x rh, computing only the pixels a following center crop to w x h keeps (resizeWindow:
 * byte for byte what the crop of the full resize holds). When the resize is smaller than the crop
 * on an edge (the crop pads), the full resize is returned and the crop step does the rest.
 */
function resizeForCenterCrop(img: ImageU8, rw: number, rh: number, filter: ResampleFilter, h: number, w: number): ImageU8 {
  if (rw < w || rh < h) return resize(img, rw, rh, filter);
  const [left, top] = centerCropBox(rw, rh, w, h);
  return resizeWindow(img, rw, rh, [left, top, w, h], filter);
}

/** The center crop after resizeForCenterCrop: an image already of the crop's size is the crop. */
function centerCropStep(h: number, w: number, fill?: readonly number[]): ImageStep {
  return (img) => (img.width === w && img.height === h ? img : centerCropOrPad(img, h, w, fill));
}

function evalSteps(config: DataConfig): Step[] {
  const [, h, w] = config.inputSize;
  const [sh, sw] = evalScaleSize(config);
  const interp = config.interpolation;
  const steps: Step[] = [];
  // Each resize below computes only what its center crop keeps (resizeForCenterCrop).
  if (config.cropMode === 'squash') {
    steps.push({
      name: `Resize(size=(${sh}, ${sw}), interpolation=${interp})`,
      apply: (img) => resizeForCenterCrop(img, sw, sh, interp, h, w),
    });
    steps.push({ name: `CenterCrop(size=(${h}, ${w}))`, apply: centerCropStep(h, w) });
  } else if (config.cropMode === 'border') {
    const fill = config.mean.map((m) => roundHalfEven(255 * m));
    steps.push({
      name: `ResizeKeepRatio(size=(${sh}, ${sw}), interpolation=${interp}, longest=1.000)`,
      apply: (img) => {
        const [rh, rw] = resizeKeepRatioSize(img.height, img.width, sh, sw, 1.0);
        return resizeForCenterCrop(img, rw, rh, interp, h, w);
      },
    });
    steps.push({ name: `CenterCropOrPad(size=(${h}, ${w}))`, apply: centerCropStep(h, w, fill) });
  } else {
    if (sh === sw) {
      steps.push({
        name: `Resize(size=${sh}, interpolation=${interp})`,
        apply: (img) => {
          const [rw, rh] = shorterSideSize(img.width, img.height, sh);
          return resizeForCenterCrop(img, rw, rh, interp, h, w);
        },
      });
    } else {
      // timm passes no interpolation here, so ResizeKeepRatio uses its default, bilinear.
      steps.push({
        name: `ResizeKeepRatio(size=(${sh}, ${sw}), interpolation=bilinear, longest=0.000)`,
        apply: (img) => {
          const [rh, rw] = resizeKeepRatioSize(img.height, img.width, sh, sw, 0.0);
          return resizeForCenterCrop(img, rw, rh, 'bilinear', h, w);
        },
      });
    }
    steps.push({ name: `CenterCrop(size=(${h}, ${w}))`, apply: centerCropStep(h, w) });
  }
  return steps;
}

function trainSteps(config: DataConfig, o: TrainTransformOptions): Step[] {
  const [, h, w] = config.inputSize;
  const interp: TrainInterpolation = o.interpolation ?? config.interpolation;
  if (interp !== 'random') parseInterpolation(interp);
  const steps: Step[] = [];
  if (o.noAug) {
    const i = interp === 'random' ? 'bilinear' : interp;
    if (h === w) steps.push({ name: `Resize(size=${h}, interpolation=${i})`, apply: (img) => resizeShorterSide(img, h, i) });
    else steps.push({ name: `Resize(size=(${h}, ${w}), interpolation=${i})`, apply: (img) => resize(img, w, h, i) });
    steps.push({ name: `CenterCrop(size=(${h}, ${w}))`, apply: (img) => centerCropOrPad(img, h, w) });
    return steps;
  }
  const scale = o.scale ?? [0.08, 1.0];
  const ratio = o.ratio ?? [3 / 4, 4 / 3];
  steps.push({
    name: `RandomResizedCropAndInterpolation(size=(${h}, ${w}), scale=(${scale.join(', ')}), ratio=(${ratio.map((r) => r.toFixed(4)).join(', ')}), interpolation=${interp})`,
    apply: (img, rng) => {
      const r = needRng(rng, 'RandomResizedCrop');
      const p = randomResizedCropParams(img.width, img.height, scale, ratio, r);
      return resizedCrop(img, p, w, h, pickInterp(interp, r));
    },
  });
  const hp = o.hflip ?? 0.5;
  if (hp > 0)
    steps.push({ name: `RandomHorizontalFlip(p=${hp})`, apply: (img, rng) => (needRng(rng, 'hflip').random() < hp ? hflip(img) : img) });
  const vp = o.vflip ?? 0;
  if (vp > 0)
    steps.push({ name: `RandomVerticalFlip(p=${vp})`, apply: (img, rng) => (needRng(rng, 'vflip').random() < vp ? vflip(img) : img) });
  const aa = o.autoAugment ?? null;
  if (aa) {
    const cfg = parseRandAugment(aa);
    const sizeMin = Math.min(h, w);
    const base: Partial<AugmentHparams> =
      cfg.variant === 'noisy_student'
        ? noisyStudentHparams(sizeMin)
        : {
            translateConst: Math.trunc(sizeMin * 0.45),
            fill: config.mean.map((m) => Math.min(255, roundHalfEven(255 * m))),
            interpolation: interp === 'random' ? 'random' : interp === 'bilinear' || interp === 'nearest' ? interp : 'bicubic',
          };
    const ra = createRandAugment(cfg, { ...base, ...o.augmentHparams });
    steps.push({ name: `RandAugment(${aa})`, apply: (img, rng) => ra(img, needRng(rng, 'RandAugment')) });
  } else if (o.colorJitter !== null) {
    const spec = o.colorJitter ?? 0.4;
    const cj = createColorJitter(spec);
    steps.push({ name: `ColorJitter(${JSON.stringify(spec)})`, apply: (img, rng) => cj(img, needRng(rng, 'ColorJitter')) });
  }
  return steps;
}

/**
 * timm's `create_transform(**data_config, is_training=...)` over ImageU8 inputs. Random steps draw
 * from the Rng passed at call time; eval transforms need none.
 */
export function createTransform<T = FloatCHW>(config: DataConfig, opts: CreateTransformOptions<T> = {}): Transform<T> {
  const isTraining = opts.isTraining === true;
  const steps: Step[] = [channelStep(config.inputSize[0]), ...(isTraining ? trainSteps(config, opts) : evalSteps(config))];
  const [inChans] = config.inputSize;
  if (config.mean.length !== inChans || config.std.length !== inChans) {
    throw new TransformError(`mean/std need ${inChans} values (got ${config.mean.length}/${config.std.length})`);
  }
  const reProb = isTraining && !opts.noAug ? (opts.reProb ?? 0) : 0;
  const erase = reProb > 0 ? createRandomErasing({ probability: reProb, mode: opts.reMode ?? 'const', maxCount: opts.reCount ?? 1 }) : null;
  const toImage = (img: ImageU8, rng?: Rng): ImageU8 => {
    let out = img;
    for (const s of steps) out = s.apply(out, rng);
    return out;
  };
  const toFloatInto = (img: ImageU8, rng: Rng | undefined, out: Float32Array | undefined): FloatCHW => {
    const x = toNormalizedCHW(toImage(img, rng), config.mean, config.std, out);
    return erase ? erase(x, needRng(rng, 'RandomErasing')) : x;
  };
  const toFloat = (img: ImageU8, rng?: Rng): FloatCHW => toFloatInto(img, rng, undefined);
  const finalize = opts.finalize ?? ((x: FloatCHW) => x as unknown as T);
  const names = [
    ...steps.map((s) => s.name),
    'MaybeToTensor()',
    `Normalize(mean=[${config.mean.join(', ')}], std=[${config.std.join(', ')}])`,
    ...(erase ? [`RandomErasing(p=${reProb}, mode=${opts.reMode ?? 'const'}, count=(1, ${opts.reCount ?? 1}))`] : []),
  ];
  const fn = (img: ImageU8, rng?: Rng): T => finalize(toFloat(img, rng));
  return Object.assign(fn, { config, isTraining, steps: names, toImage, toFloat, toFloatInto });
}
