// Saving a model in the Hugging Face hub layout timm writes (save_for_hf): model.safetensors with
// timm's keys and no metadata, and config.json, so timm's create_model(pretrained_cfg_overlay=
// dict(file=...)) or our createModel({ checkpointPath: dir }) loads it back. config.json also holds
// `label_names` (timm's key) when the classes have names: the classes travel with the weights.
import { join } from 'node:path';
import { saveSafetensors } from '../torch/index.js';
import { atomicWriteJson } from '../util/atomic_write.js';
import type { EfficientNet } from './efficientnet.js';
import { toHubConfig } from './pretrained.js';

export function saveModel(
  model: EfficientNet,
  dir: string,
  opts: { labelNames?: readonly string[] | null } = {},
): { weights: string; config: string } {
  const weights = join(dir, 'model.safetensors');
  const config = join(dir, 'config.json');
  saveSafetensors(weights, model.stateDict());
  if (model.pretrainedCfg) {
    const labelNames = opts.labelNames ?? (model as { labelNames?: readonly string[] | null }).labelNames ?? null;
    if (labelNames && labelNames.length !== model.numClasses)
      throw new RangeError(`saveModel: ${labelNames.length} label names for ${model.numClasses} classes`);
    atomicWriteJson(config, {
      ...toHubConfig(model.pretrainedCfg, { numClasses: model.numClasses, numFeatures: model.numFeatures }),
      ...(labelNames ? { label_names: [...labelNames] } : {}),
    });
  }
  return { weights, config };
}
