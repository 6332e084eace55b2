// Loading the reference values made by scripts/gen_train_fixtures.py (torch 1.13 / formulas).
import { join } from 'node:path';
import { loadSafetensors, type Tensor } from '../../src/torch/index.js';
import { REPO_ROOT } from '../helpers/paths.js';

export const TRAIN_FIXTURES = join(REPO_ROOT, 'test/fixtures/train');

export interface Fixture {
  get(name: string): Tensor;
  has(name: string): boolean;
  names(): string[];
  meta: Readonly<Record<string, string>>;
  dispose(): void;
}

export function loadFixture(file: string): Fixture {
  const { tensors, metadata } = loadSafetensors(join(TRAIN_FIXTURES, `${file}.safetensors`));
  for (const t of tensors.values()) t.keep();
  return {
    get(name) {
      const t = tensors.get(name);
      if (t === undefined) throw new Error(`fixture ${file}: no tensor "${name}"`);
      return t;
    },
    has: (name) => tensors.has(name),
    names: () => [...tensors.keys()],
    meta: metadata,
    dispose() {
      for (const t of tensors.values()) t.dispose();
    },
  };
}

/** max |a-b| and max |a-b|/max(|b|, tiny) over two same-shaped tensors. */
export function diffs(actual: Tensor, expected: Tensor): { abs: number; rel: number } {
  const a = actual.toArray();
  const e = expected.toArray();
  if (a.length !== e.length) throw new Error(`length ${a.length} vs ${e.length}`);
  let abs = 0;
  let rel = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - e[i]!);
    if (Number.isNaN(d)) return { abs: Infinity, rel: Infinity };
    abs = Math.max(abs, d);
    rel = Math.max(rel, d / Math.max(Math.abs(e[i]!), 1e-30));
  }
  return { abs, rel };
}

/** Collects per-case worst differences and prints them once (the parity numbers in the report). */
export class ParityLog {
  private rows = new Map<string, { abs: number; rel: number }>();
  add(key: string, d: { abs: number; rel: number }): void {
    const cur = this.rows.get(key) ?? { abs: 0, rel: 0 };
    this.rows.set(key, { abs: Math.max(cur.abs, d.abs), rel: Math.max(cur.rel, d.rel) });
  }
  print(title: string): void {
    const lines = [...this.rows].map(
      ([k, v]) => `  ${k.padEnd(34)} max|diff| ${v.abs.toExponential(2)}  max rel ${v.rel.toExponential(2)}`,
    );
    console.log(`${title}\n${lines.join('\n')}`);
  }
}
