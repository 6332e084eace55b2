// A bijective avalanche on 32-bit words (the lowbias32 finaliser, in the murmur3 family), in 32-bit
// integer arithmetic only, so it is cheap in V8 and gives the same bits on every machine. The
// data pipeline's Rng derives its states with it and dropout's keyed masks are counters through it.

export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The 32-bit words of a safe integer: low, high, sign (negative keys are distinct from positive ones). */
export function safeIntWords(key: number): [number, number, number] {
  if (!Number.isSafeInteger(key)) throw new RangeError(`key must be a safe integer, got ${key}`);
  const a = Math.abs(key);
  return [(a % 0x100000000) >>> 0, Math.floor(a / 0x100000000) >>> 0, key < 0 ? 1 : 0];
}
