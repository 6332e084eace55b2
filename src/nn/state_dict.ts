// Loading a state dict into a Module: values are copied into the existing tensors (so optimizers
// holding them stay valid); every problem is reported at once, by key.
import { noGrad, scope, type Tensor } from '../torch/index.js';
import type { Module } from './module.js';

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
  /** Keys present on both sides with different shapes. */
  mismatched: { key: string; expected: readonly number[]; got: readonly number[] }[];
}

export class StateDictError extends Error {
  readonly code = 'E_STATE_DICT';
  constructor(readonly result: LoadStateDictResult) {
    const parts: string[] = [];
    const list = (xs: string[]): string => (xs.length > 12 ? `${xs.slice(0, 12).join(', ')}, ... (${xs.length} in all)` : xs.join(', '));
    if (result.missing.length) parts.push(`missing keys: ${list(result.missing)}`);
    if (result.unexpected.length) parts.push(`unexpected keys: ${list(result.unexpected)}`);
    if (result.mismatched.length) {
      parts.push(
        `mis-shaped keys: ${result.mismatched
          .slice(0, 12)
          .map((m) => `${m.key} (checkpoint [${m.got.join(', ')}], model [${m.expected.join(', ')}])`)
          .join(', ')}`,
      );
    }
    super(`checkpoint does not fit the model: ${parts.join('; ')}`);
    this.name = 'StateDictError';
  }
}

/**
 * Copy `sd` into the module. strict (default): any missing, unexpected or mis-shaped key throws a
 * StateDictError listing all of them, and nothing is changed. Non-strict: matching keys load,
 * the rest are reported in the result (mis-shaped keys are never loaded).
 */
export function loadStateDict(module: Module, sd: ReadonlyMap<string, Tensor>, opts: { strict?: boolean } = {}): LoadStateDictResult {
  const strict = opts.strict ?? true;
  const own = module.stateDict();
  const result: LoadStateDictResult = { missing: [], unexpected: [], mismatched: [] };
  for (const key of own.keys()) if (!sd.has(key)) result.missing.push(key);
  for (const [key, t] of sd) {
    const mine = own.get(key);
    if (!mine) result.unexpected.push(key);
    else if (!sameShape(mine.shape, t.shape)) result.mismatched.push({ key, expected: mine.shape, got: t.shape });
  }
  if (strict && (result.missing.length || result.unexpected.length || result.mismatched.length)) throw new StateDictError(result);
  noGrad(() =>
    scope(() => {
      for (const [key, t] of sd) {
        const mine = own.get(key);
        if (mine && sameShape(mine.shape, t.shape)) mine.copy_(t);
      }
    }),
  );
  return result;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
