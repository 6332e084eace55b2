// The tf_efficientnet_b0 fixture computed by the real timm (../shared/fixtures/timm/tf_efficientnet_b0):
// its weights, reference tensors and tolerances, shared by the parity and inference tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensors, type Tensor } from '../../src/torch/index.js';
import { FIXTURES } from './paths.js';

export const B0_DIR = join(FIXTURES, 'tf_efficientnet_b0');
export const B0_WEIGHTS = join(B0_DIR, 'model.safetensors');

const TOL = JSON.parse(readFileSync(join(B0_DIR, 'tolerances.json'), 'utf8')) as {
  files: Record<string, Record<string, { atol: number }>>;
};

/** The fixture's absolute tolerance for `key` of `file`. */
export function tol(file: string, key: string): number {
  const t = TOL.files[file]?.[key]?.atol;
  if (t === undefined) throw new Error(`no tolerance for ${file}:${key}`);
  return t;
}

/** The eval outputs (io) and the training-step tensors (step); the caller disposes them. */
export function loadB0Fixtures(): { io: Map<string, Tensor>; step: Map<string, Tensor> } {
  return {
    io: loadSafetensors(join(B0_DIR, 'io.safetensors')).tensors,
    step: loadSafetensors(join(B0_DIR, 'train_step.safetensors')).tensors,
  };
}

export function ref(m: Map<string, Tensor>, k: string): Tensor {
  const t = m.get(k);
  if (!t) throw new Error(`fixture has no ${k}`);
  return t;
}
