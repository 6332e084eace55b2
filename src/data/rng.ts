// A small, fast, seedable and splittable PRNG (xoshiro128**, 32-bit arithmetic only, so it is cheap
// in V8 and identical everywhere). Every random decision in the data pipeline takes an Rng argument:
// nothing reads a global generator, so a sample's augmentation depends only on (seed, epoch, index)
// and never on which worker thread processed it or in which order.
//
// It does not reproduce Python's Mersenne Twister: timm's random draws cannot be matched anyway
// (they interleave with torch/numpy generators). Distributions follow Python's formulas where that
// matters for semantics (uniform = a + (b - a) * random(), randint inclusive of both ends).

import { mix32, safeIntWords } from '../util/mix32.js';

const TWO_POW_26 = 67108864;
const TWO_POW_53 = 9007199254740992;

const LANE_KEYS = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344] as const;

/** Split a safe integer (or bigint) key into 32-bit words, low word first; negative keys are allowed. */
function keyWords(key: number | bigint): number[] {
  if (typeof key === 'bigint') {
    const words: number[] = [];
    let k = BigInt.asUintN(128, key);
    for (let i = 0; i < 4; i++) {
      words.push(Number(k & 0xffffffffn));
      k >>= 32n;
    }
    return words;
  }
  if (!Number.isSafeInteger(key)) throw new RangeError(`Rng key must be a safe integer or bigint, got ${key}`);
  return safeIntWords(key);
}

/** Derive four state words from a list of keys; each lane absorbs every key with its own constant. */
function deriveState(keys: readonly (number | bigint)[]): [number, number, number, number] {
  const words: number[] = [keys.length];
  for (const k of keys) words.push(...keyWords(k), 0x9e3779b9);
  const s: number[] = [];
  for (let lane = 0; lane < 4; lane++) {
    let h: number = LANE_KEYS[lane]!;
    for (const w of words) h = mix32((h ^ w) + Math.imul(lane + 1, 0x9e3779b9));
    s.push(mix32(h + 0x6a09e667));
  }
  if ((s[0]! | s[1]! | s[2]! | s[3]!) === 0) s[0] = 1; // the all-zero state is a fixed point
  return [s[0]!, s[1]!, s[2]!, s[3]!];
}

export interface RngState {
  readonly s: readonly [number, number, number, number];
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  private constructor(s: readonly [number, number, number, number]) {
    this.s0 = s[0] >>> 0;
    this.s1 = s[1] >>> 0;
    this.s2 = s[2] >>> 0;
    this.s3 = s[3] >>> 0;
  }

  /** A generator from one or more integer keys, e.g. `Rng.fromKeys(seed)`. */
  static fromKeys(...keys: (number | bigint)[]): Rng {
    return new Rng(deriveState(keys));
  }

  static fromSeed(seed: number | bigint): Rng {
    return Rng.fromKeys(seed);
  }

  /**
   * The generator of one sample in one epoch: a pure function of (seed, epoch, index), so the same
   * sample gets the same augmentation whatever the worker count, batch order or resume point.
   */
  static forSample(seed: number | bigint, epoch: number, index: number): Rng {
    return Rng.fromKeys(seed, 0x5a4d91e, epoch, index);
  }

  static fromState(state: RngState): Rng {
    return new Rng(state.s);
  }

  getState(): RngState {
    return { s: [this.s0, this.s1, this.s2, this.s3] };
  }

  clone(): Rng {
    return new Rng([this.s0, this.s1, this.s2, this.s3]);
  }

  /** An independent child stream named by `key`, derived from the current state without advancing it. */
  split(key: number | bigint): Rng {
    return Rng.fromKeys(this.s0, this.s1, this.s2, this.s3, key);
  }

  /** Advance this generator and return a new independent one (for handing to a sub-step). */
  fork(): Rng {
    return Rng.fromKeys(this.nextU32(), this.nextU32(), this.nextU32(), this.nextU32());
  }

  /** xoshiro128**: next 32-bit unsigned integer. */
  nextU32(): number {
    const s0 = this.s0;
    const s1 = this.s1;
    const s2 = this.s2;
    const s3 = this.s3;
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    let n2 = (s2 ^ s0) >>> 0;
    let n3 = (s3 ^ s1) >>> 0;
    const n1 = (s1 ^ n2) >>> 0;
    const n0 = (s0 ^ n3) >>> 0;
    n2 = (n2 ^ t) >>> 0;
    n3 = rotl(n3, 11);
    this.s0 = n0;
    this.s1 = n1;
    this.s2 = n2;
    this.s3 = n3;
    return r;
  }

  /** Uniform double in [0, 1) with 53 random bits (Python's `random.random()` construction). */
  random(): number {
    const a = this.nextU32() >>> 5;
    const b = this.nextU32() >>> 6;
    return (a * TWO_POW_26 + b) / TWO_POW_53;
  }

  /** Python's `random.uniform(a, b)`: a + (b - a) * random(). */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.random();
  }

  /** Uniform integer in [lo, hi], both ends included (Python's `random.randint`); unbiased. */
  randint(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi < lo) {
      throw new RangeError(`randint needs integers lo <= hi, got ${lo}, ${hi}`);
    }
    const span = hi - lo + 1;
    if (span <= 0x100000000) {
      // Lemire-free rejection: reject the top partial block so every value is equally likely.
      const limit = 0x100000000 - (0x100000000 % span);
      let x = this.nextU32();
      while (x >= limit) x = this.nextU32();
      return lo + (x % span);
    }
    return lo + Math.floor(this.random() * span);
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return this.randint(0, n - 1);
  }

  /** True with probability p. */
  bernoulli(p: number): boolean {
    return this.random() < p;
  }

  /** Normal deviate (Box-Muller; no cached second value, so the stream position is simple). */
  normal(mean = 0, std = 1): number {
    let u = this.random();
    while (u === 0) u = this.random();
    const v = this.random();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('choice from an empty list');
    return items[this.below(items.length)]!;
  }

  /** Index drawn with the given non-negative weights (need not sum to 1). */
  weightedIndex(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let r = this.random() * total;
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i]!;
      if (r < 0) return i;
    }
    return weights.length - 1;
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(arr: T[] | Int32Array | Uint32Array): void {
    for (let i = arr.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = arr[i]!;
      arr[i] = arr[j]!;
      arr[j] = t;
    }
  }

  /** A permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    this.shuffle(p);
    return p;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
