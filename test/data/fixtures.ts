// Paths to the shared timm fixtures and small readers for them (test helper, not a test file).
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { readSafetensorsRaw, rawToTypedArray } from '../../src/torch/safetensors_format.js';

export const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
export const DOG_JPG = `${SHARED}data/dog.jpg`;
export const PREPROCESS_DIR = `${SHARED}fixtures/timm/preprocess/`;
export const RANDAUGMENT_DIR = `${SHARED}fixtures/timm/randaugment/`;

export function readJson<T = unknown>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export function readTensors(path: string): Map<string, { shape: readonly number[]; data: Float32Array | Uint8Array }> {
  const { tensors } = readSafetensorsRaw(path);
  const out = new Map<string, { shape: readonly number[]; data: Float32Array | Uint8Array }>();
  for (const [k, t] of tensors) {
    const a = rawToTypedArray(t);
    if (!(a instanceof Float32Array) && !(a instanceof Uint8Array)) throw new Error(`unexpected dtype for ${k}`);
    out.set(k, { shape: t.shape, data: a });
  }
  return out;
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** max |a - b|, mean |a - b| and the fraction of elements within `tol`. */
export function diffStats(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): { max: number; mean: number; within: number } {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let max = 0;
  let sum = 0;
  let within = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > max) max = d;
    sum += d;
    if (d <= tol) within++;
  }
  return { max, mean: sum / a.length, within: within / a.length };
}
