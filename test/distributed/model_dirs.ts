// What the data-parallel tests compare between two finished model folders: the weights' relative gap
// and the logged step losses.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSafetensors, noGrad } from '../../src/torch/index.js';

/** ||a - b|| / ||b|| over the float parameters of two model folders (not BatchNorm's running statistics). */
export function weightGap(a: string, b: string): number {
  const ta = loadSafetensors(join(a, 'model/model.safetensors')).tensors;
  const tb = loadSafetensors(join(b, 'model/model.safetensors')).tensors;
  assert.deepEqual([...ta.keys()].sort(), [...tb.keys()].sort());
  let num = 0;
  let den = 0;
  noGrad(() => {
    for (const [k, t] of ta) {
      const u = tb.get(k)!;
      if (!t.dtype.startsWith('float') || k.includes('running_')) continue;
      num += t.sub(u).square().sum().item() as number;
      den += u.square().sum().item() as number;
    }
  });
  for (const t of [...ta.values(), ...tb.values()]) t.dispose();
  return Math.sqrt(num / den);
}

/** The training loss of every step a run's metrics.jsonl logged, in order. */
export const stepLosses = (dir: string): number[] =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { loss?: number })
    .filter((l) => l.loss !== undefined)
    .map((l) => l.loss!);
