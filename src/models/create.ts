// createModel: timm's create_model for our EfficientNets, with weights from the Hugging Face hub
// (pretrained: true), a local file or a checkpoint directory. Pretrained means pretrained: when no
// weights can be had, it throws; it never falls back to a random init.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import {
  cat,
  loadSafetensors,
  noGrad,
  parseDevice,
  readSafetensorsHeader,
  scope,
  type Device,
  type Generator,
  type Tensor,
} from '../torch/index.js';
import { loadStateDict } from '../nn/index.js';
import { EfficientNet } from './efficientnet.js';
import { resolveModelName } from './names.js';
import { resolveModelSpec } from './variants.js';
import { downloadPretrained, type HubOptions } from './hub.js';
import { pretrainedCfgFromTimmDict, type PretrainedCfg } from './pretrained.js';
import type { GlobalPool } from './builder_spec.js';

export interface CreateModelOptions {
  /** Load timm's pretrained weights for the name's tag (downloaded from the hub, cached). */
  pretrained?: boolean;
  /** A local .safetensors file, or a directory with model.safetensors (and config.json). */
  checkpointPath?: string;
  /** Classifier size; a different size than the weights' drops their classifier (new random head). */
  numClasses?: number;
  /** Input channels; pretrained stem weights are adapted like timm (sum for 1, repeat otherwise). */
  inChans?: number;
  dropRate?: number;
  dropPathRate?: number;
  globalPool?: GlobalPool;
  featuresOnly?: boolean;
  outIndices?: readonly number[];
  /** Randomness for the initial weights. */
  generator?: Generator;
  /** Hub settings (cache dir, endpoint, offline, progress...). */
  hub?: HubOptions;
  /** Notices such as a dropped classifier. Default: process.emitWarning. */
  onWarning?: (message: string) => void;
  /**
   * The weights' classifier must be loaded: a checkpoint whose classifier does not fit numClasses is
   * an error instead of a new random head. What predicts, evaluates or pseudo-labels sets it.
   */
  requireClassifier?: boolean;
  /**
   * Where the model's parameters and buffers live: 'cpu' (default), 'cuda', 'cuda:1', ... The model
   * is built and its weights loaded on the CPU, then moved; the device is checked first, so a device
   * this libtorch lacks fails before any download or build.
   */
  device?: Device;
}

export class CheckpointError extends Error {
  readonly code = 'E_CHECKPOINT';
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

interface CheckpointFiles {
  weights: string;
  config: Record<string, unknown> | null;
}

function localCheckpoint(path: string): CheckpointFiles {
  if (!existsSync(path)) throw new CheckpointError(`checkpoint ${path} does not exist`);
  if (statSync(path).isDirectory()) {
    const weights = join(path, 'model.safetensors');
    if (!existsSync(weights)) throw new CheckpointError(`checkpoint directory ${path} has no model.safetensors`);
    const cfgPath = join(path, 'config.json');
    return { weights, config: existsSync(cfgPath) ? readJson(cfgPath) : null };
  }
  if (!path.endsWith('.safetensors')) {
    throw new CheckpointError(`checkpoint ${path}: only .safetensors files (or a directory with model.safetensors) are loaded`);
  }
  // A model folder's model.safetensors given on its own still has its folder's config.json: the one
  // source of its classes, channels and preprocessing, whichever of the two the user names.
  const beside = join(dirname(path), 'config.json');
  return { weights: path, config: basename(path) === 'model.safetensors' && existsSync(beside) ? readJson(beside) : null };
}

/** The weights file and config.json a local checkpoint path (a model folder or a .safetensors file) stands for. */
export function checkpointFiles(path: string): { weights: string; config: Record<string, unknown> | null } {
  return localCheckpoint(path);
}

function readJson(path: string): Record<string, unknown> {
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(`${path} is not a valid config.json: ${(e as Error).message}`);
  }
}

/**
 * Create a model by timm name (`arch`, `arch.tag`, or a legacy alias like `tf_efficientnet_b0_ns`).
 * @example const model = await createModel('tf_efficientnet_b0_ns', { pretrained: true });
 */
export async function createModel(name: string, opts: CreateModelOptions = {}): Promise<EfficientNet> {
  const device = opts.device === undefined ? 'cpu' : parseDevice(opts.device);
  const resolved = resolveModelName(name);
  let cfg: PretrainedCfg = resolved.pretrainedCfg;
  const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m));

  let files: CheckpointFiles | null = null;
  if (opts.checkpointPath) files = localCheckpoint(opts.checkpointPath);
  else if (opts.pretrained) {
    const got = await downloadPretrained(cfg, opts.hub);
    files = { weights: got.weights.path, config: got.config ? readJson(got.config.path) : null };
  }
  // A checkpoint's config.json (hub layout) carries its own pretrained cfg and class count.
  let ckptClasses: number | undefined;
  if (files?.config) {
    const pc = files.config['pretrained_cfg'];
    if (pc && typeof pc === 'object') cfg = pretrainedCfgFromTimmDict(pc as Record<string, unknown>, cfg).cfg;
    if (typeof files.config['num_classes'] === 'number') ckptClasses = files.config['num_classes'];
  }
  // A bare .safetensors file (no config.json) still says what it was trained for through its
  // tensors' shapes: the classifier's rows are its classes, the stem's second dim its input channels.
  // Without this a fine-tuned 10-class file would get a fresh 1000-class head (and a top-1 of 0).
  let ckptInChans: number | undefined;
  if (files && !files.config) {
    const shapes = checkpointShapes(files.weights);
    if (!opts.featuresOnly) ckptClasses = shapes.numClasses;
    ckptInChans = shapes.inChans;
  }

  const numClasses = opts.numClasses ?? ckptClasses ?? cfg.numClasses;
  // A fine-tuned checkpoint's config says how many input channels it was trained on.
  const inChans = opts.inChans ?? ckptInChans ?? cfg.inputSize[0];
  if (inChans !== cfg.inputSize[0]) cfg = { ...cfg, inputSize: [inChans, cfg.inputSize[1], cfg.inputSize[2]] };
  const spec = resolveModelSpec(resolved.arch, {
    numClasses,
    inChans,
    ...(opts.dropRate !== undefined ? { dropRate: opts.dropRate } : {}),
    ...(opts.dropPathRate !== undefined ? { dropPathRate: opts.dropPathRate } : {}),
    ...(opts.globalPool !== undefined ? { globalPool: opts.globalPool } : {}),
    ...(opts.featuresOnly ? { featuresOnly: true } : {}),
    ...(opts.outIndices ? { outIndices: opts.outIndices } : {}),
  });
  const model = new EfficientNet(spec, { pretrainedCfg: cfg, ...(opts.generator ? { generator: opts.generator } : {}) });
  if (files) {
    try {
      loadWeights(model, files.weights, { warn, ...(opts.requireClassifier ? { requireClassifier: true } : {}) });
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  if (device !== 'cpu') {
    try {
      model.to(device);
    } catch (e) {
      model.dispose();
      throw e;
    }
  }
  return model;
}

/**
 * Load a timm-format safetensors checkpoint into a model, adapting what timm adapts: a classifier of
 * another size is dropped (the model keeps its new head), a stem for other input channels is
 * converted, and a features_only model ignores the head. Everything else must fit exactly.
 */
export function loadWeights(
  model: EfficientNet,
  path: string,
  opts: { warn?: (m: string) => void; requireClassifier?: boolean } = {},
): void {
  const warn = opts.warn ?? ((m: string) => process.emitWarning(m));
  const { tensors } = loadSafetensors(path);
  try {
    const own = model.stateDict();
    const sd = new Map(tensors);
    if (model.spec.featuresOnly) {
      for (const k of [...sd.keys()]) if (/^(conv_head|bn2|classifier)\./.test(k)) sd.delete(k);
    }
    const w = sd.get('classifier.weight');
    let dropHead = false;
    if (w && !model.spec.featuresOnly) {
      const mine = own.get('classifier.weight');
      if (!mine || mine.shape[0] !== w.shape[0]) {
        if (opts.requireClassifier) {
          throw new CheckpointError(
            `${path}: its classifier has ${w.shape[0]} classes but the model was built with ${model.numClasses}; ` +
              `predicting or evaluating needs the checkpoint's own classifier: drop --num-classes (or pass ${w.shape[0]})`,
          );
        }
        dropHead = true;
        warn(`${path}: classifier has ${w.shape[0]} classes, the model ${model.numClasses}: the classifier was not loaded (new head).`);
        sd.delete('classifier.weight');
        sd.delete('classifier.bias');
      }
    }
    const stem = sd.get('conv_stem.weight');
    const inChans = model.spec.inChans;
    if (stem && stem.shape[1] !== inChans) {
      const adapted = adaptInputConv(stem, inChans);
      sd.set('conv_stem.weight', adapted);
      tensors.set('__adapted_stem__', adapted); // released with the rest below
      warn(`${path}: stem weights adapted from ${stem.shape[1]} to ${inChans} input channels.`);
    }
    if (dropHead) {
      // Load strictly everything but the classifier, which keeps its fresh initialisation.
      const result = loadStateDict(model, sd, { strict: false });
      const missing = result.missing.filter((k) => !k.startsWith('classifier.'));
      if (missing.length || result.unexpected.length || result.mismatched.length) {
        loadStateDict(model, sd, { strict: true }); // throws the full report
      }
    } else {
      loadStateDict(model, sd, { strict: true });
    }
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** Classes and input channels a weights file's tensors were shaped for (undefined where absent). */
function checkpointShapes(weights: string): { numClasses?: number; inChans?: number } {
  const { entries } = readSafetensorsHeader(weights);
  const head = entries.get('classifier.weight');
  const stem = entries.get('conv_stem.weight');
  return {
    ...(head && head.shape.length === 2 ? { numClasses: head.shape[0] } : {}),
    ...(stem && stem.shape.length === 4 ? { inChans: stem.shape[1] } : {}),
  };
}

/**
 * timm's adapt_input_conv: 1 channel = sum of the RGB filters; N channels = the RGB filters repeated
 * and cut to N, scaled by 3/N so activations keep their scale.
 */
export function adaptInputConv(weight: Tensor, inChans: number): Tensor {
  return noGrad(() =>
    scope(() => {
      const w = weight.float();
      const src = w.shape[1]!;
      if (inChans === 1) {
        if (src > 3) throw new CheckpointError('cannot adapt a stem with more than 3 input channels to 1');
        return w.sum(1, { keepdim: true }).to(weight.dtype);
      }
      if (src !== 3) throw new CheckpointError(`cannot adapt a ${src}-channel stem to ${inChans} channels`);
      const reps = Math.ceil(inChans / 3);
      const tiled = cat(
        Array.from({ length: reps }, () => w),
        1,
      ).slice(1, 0, inChans);
      return tiled.mul(3 / inChans).to(weight.dtype);
    }),
  );
}
