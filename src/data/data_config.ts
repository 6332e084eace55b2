// timm's `resolve_data_config` (timm/data/config.py): which input size, interpolation, mean/std,
// crop_pct and crop_mode a model's preprocessing uses. Explicit args win over the model's pretrained
// config, which wins over timm's defaults; "unset" follows Python truthiness as timm does (an empty
// string or a 0 crop_pct counts as unset).

export type Interpolation = 'nearest' | 'bilinear' | 'bicubic' | 'box' | 'hamming' | 'lanczos';
/** 'random' picks bilinear or bicubic per sample (timm's training default). */
export type TrainInterpolation = Interpolation | 'random';
export type CropMode = 'center' | 'squash' | 'border';

export const INTERPOLATIONS: readonly Interpolation[] = ['nearest', 'bilinear', 'bicubic', 'box', 'hamming', 'lanczos'];
export const CROP_MODES: readonly CropMode[] = ['center', 'squash', 'border'];

export const IMAGENET_DEFAULT_MEAN: readonly number[] = [0.485, 0.456, 0.406];
export const IMAGENET_DEFAULT_STD: readonly number[] = [0.229, 0.224, 0.225];
export const DEFAULT_CROP_PCT = 0.875;
export const DEFAULT_CROP_MODE: CropMode = 'center';

export interface DataConfig {
  /** [channels, height, width]. */
  readonly inputSize: readonly [number, number, number];
  readonly interpolation: Interpolation;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly cropPct: number;
  readonly cropMode: CropMode;
}

/** The data fields of a timm `pretrained_cfg`, snake_case as timm writes them (camelCase also accepted). */
export interface PretrainedCfgLike {
  readonly input_size?: readonly number[];
  readonly test_input_size?: readonly number[];
  readonly interpolation?: string;
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
  readonly crop_pct?: number;
  readonly test_crop_pct?: number;
  readonly crop_mode?: string;
  readonly inputSize?: readonly number[];
  readonly testInputSize?: readonly number[];
  readonly cropPct?: number;
  readonly testCropPct?: number;
  readonly cropMode?: string;
}

/** Overrides, as timm's `args` (train.py flags), in camelCase. */
export interface DataConfigArgs {
  readonly inChans?: number;
  readonly chans?: number;
  readonly inputSize?: readonly number[];
  readonly imgSize?: number;
  readonly interpolation?: string;
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
  readonly cropPct?: number;
  readonly cropMode?: string;
  /** Use the tag's `test_input_size` / `test_crop_pct` when it has them (timm's use_test_size). */
  readonly useTestSize?: boolean;
}

export class DataConfigError extends Error {
  readonly code = 'E_DATA_CONFIG';
  constructor(message: string) {
    super(message);
    this.name = 'DataConfigError';
  }
}

/**
 * Anything that carries a pretrained config: an EfficientNet, an InferenceModel of any backend.
 * Structural, so data/ needs nothing from models/.
 */
export interface HasPretrainedCfg {
  readonly pretrainedCfg?: PretrainedCfgLike | null | undefined;
}

type CfgSource = PretrainedCfgLike | HasPretrainedCfg | null | undefined;

function pick<T>(cfg: PretrainedCfgLike, snake: keyof PretrainedCfgLike, camel: keyof PretrainedCfgLike): T | undefined {
  const v = cfg[snake] ?? cfg[camel];
  return v === null ? undefined : (v as T | undefined);
}

function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v) && v.length === 0) return false;
  return true;
}

function toSize3(v: readonly number[], what: string): [number, number, number] {
  if (v.length !== 3 || !v.every((d) => Number.isInteger(d) && d > 0)) {
    throw new DataConfigError(`${what} must be [channels, height, width] of positive integers, got ${JSON.stringify(v)}`);
  }
  return [v[0]!, v[1]!, v[2]!];
}

export function parseInterpolation(v: string): Interpolation {
  if ((INTERPOLATIONS as readonly string[]).includes(v)) return v as Interpolation;
  throw new DataConfigError(`unknown interpolation "${v}" (expected one of ${INTERPOLATIONS.join(', ')})`);
}

export function parseCropMode(v: string): CropMode {
  if ((CROP_MODES as readonly string[]).includes(v)) return v as CropMode;
  throw new DataConfigError(`unknown crop_mode "${v}" (expected one of ${CROP_MODES.join(', ')})`);
}

function perChannel(v: readonly number[], inChans: number, what: string): readonly number[] {
  if (!v.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new DataConfigError(`${what} must be finite numbers`);
  if (v.length === 1) return Array.from({ length: inChans }, () => v[0]!);
  if (v.length !== inChans) throw new DataConfigError(`${what} has ${v.length} values but the input has ${inChans} channels`);
  return [...v];
}

/**
 * timm's `resolve_data_config(args, pretrained_cfg | model)`. `source` is a pretrained config or
 * anything with a `pretrainedCfg` property (a model, an InferenceModel).
 */
export function resolveDataConfig(args: DataConfigArgs = {}, source?: CfgSource): DataConfig {
  let cfg: PretrainedCfgLike = {};
  if (source && typeof source === 'object') {
    cfg = 'pretrainedCfg' in source ? (source.pretrainedCfg ?? {}) : (source as PretrainedCfgLike);
  }
  const useTest = args.useTestSize === true;

  let inChans = 3;
  if (args.inChans != null) inChans = args.inChans;
  else if (args.chans != null) inChans = args.chans;

  let inputSize: [number, number, number] = [inChans, 224, 224];
  const testInput = pick<readonly number[]>(cfg, 'test_input_size', 'testInputSize');
  const cfgInput = pick<readonly number[]>(cfg, 'input_size', 'inputSize');
  if (args.inputSize != null) {
    inputSize = toSize3(args.inputSize, 'inputSize');
    inChans = inputSize[0];
  } else if (args.imgSize != null) {
    if (!Number.isInteger(args.imgSize) || args.imgSize <= 0)
      throw new DataConfigError(`imgSize must be a positive integer, got ${args.imgSize}`);
    inputSize = [inChans, args.imgSize, args.imgSize];
  } else if (useTest && testInput != null) {
    inputSize = toSize3(testInput, 'test_input_size');
  } else if (cfgInput != null) {
    inputSize = toSize3(cfgInput, 'input_size');
  }

  let interpolation: Interpolation = 'bicubic';
  const cfgInterp = pick<string>(cfg, 'interpolation', 'interpolation');
  if (truthy(args.interpolation)) interpolation = parseInterpolation(args.interpolation!);
  else if (truthy(cfgInterp)) interpolation = parseInterpolation(cfgInterp!);

  let mean: readonly number[] = IMAGENET_DEFAULT_MEAN;
  const cfgMean = pick<readonly number[]>(cfg, 'mean', 'mean');
  if (args.mean != null) mean = perChannel(args.mean, inChans, 'mean');
  else if (truthy(cfgMean)) mean = [...cfgMean!];

  let std: readonly number[] = IMAGENET_DEFAULT_STD;
  const cfgStd = pick<readonly number[]>(cfg, 'std', 'std');
  if (args.std != null) std = perChannel(args.std, inChans, 'std');
  else if (truthy(cfgStd)) std = [...cfgStd!];

  let cropPct = DEFAULT_CROP_PCT;
  const cfgTestCrop = pick<number>(cfg, 'test_crop_pct', 'testCropPct');
  const cfgCrop = pick<number>(cfg, 'crop_pct', 'cropPct');
  if (truthy(args.cropPct)) cropPct = args.cropPct!;
  else if (useTest && truthy(cfgTestCrop)) cropPct = cfgTestCrop!;
  else if (truthy(cfgCrop)) cropPct = cfgCrop!;
  if (!(cropPct > 0) || !Number.isFinite(cropPct)) throw new DataConfigError(`crop_pct must be > 0, got ${cropPct}`);

  let cropMode: CropMode = DEFAULT_CROP_MODE;
  const cfgCropMode = pick<string>(cfg, 'crop_mode', 'cropMode');
  if (truthy(args.cropMode)) cropMode = parseCropMode(args.cropMode!);
  else if (truthy(cfgCropMode)) cropMode = parseCropMode(cfgCropMode!);

  return { inputSize, interpolation, mean, std, cropPct, cropMode };
}

/** timm's eval scale size: floor(size / crop_pct) per edge, [height, width]. */
export function evalScaleSize(config: DataConfig): [number, number] {
  return [Math.floor(config.inputSize[1] / config.cropPct), Math.floor(config.inputSize[2] / config.cropPct)];
}
