// Dropout and drop-path masks keyed per sample, for data-parallel training: a row's mask is a pure
// function of (its sample key, the layer's salt, the element), so it is the same whichever batch,
// rank or micro-batch the sample lands in. The key is (seed, epoch, source, dataset index), the
// same coordinates the data loader keys each sample's augmentation by; with it, W ranks training
// slices of a global batch draw exactly the masks one process draws for the whole batch.
//
// Counter-based (as JAX's or Philox's streams): element j of row n keeps when
// mix32(rowKey(n) + j * golden) < keep * 2^32. Written in JavaScript because the masks are small (one
// value per sample for drop-path, [N, features] for the head's dropout): a few microseconds per
// block, against a native op for every distinct shape.
import { mix32, safeIntWords } from '../../util/mix32.js';

const GOLDEN = 0x9e3779b9;

/** Which of a batch's sets a sample came from (its dataset index counts within that set). */
export type SampleSource = 'labeled' | 'unlabeled';

const SOURCE_WORD: Readonly<Record<SampleSource, number>> = { labeled: 0x1abe1ed, unlabeled: 0x0f1abe1 };

/** One 32-bit key per sample: (seed, epoch, source, dataset index). */
export function sampleNoiseKeys(seed: number, epoch: number, source: SampleSource, indices: ArrayLike<number>): Uint32Array {
  let h = 0x5eed0d0d;
  for (const w of [...safeIntWords(seed), ...safeIntWords(epoch), SOURCE_WORD[source]]) h = mix32((h ^ w) + GOLDEN);
  const out = new Uint32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    // Dataset indices are non-negative safe integers: the words of safeIntWords, without an array per sample.
    const index = indices[i]!;
    if (!(Number.isSafeInteger(index) && index >= 0)) throw new RangeError(`a dataset index must be a safe integer >= 0, got ${index}`);
    const lo = (index % 0x100000000) >>> 0;
    const hi = Math.floor(index / 0x100000000) >>> 0;
    out[i] = mix32((mix32((h ^ lo) + GOLDEN) ^ hi) + GOLDEN);
  }
  return out;
}

/** A salt per call site (a block's module name, 'head'), so two layers never share a mask. */
export function noiseSalt(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = mix32(h ^ name.charCodeAt(i));
  return h;
}

/**
 * The keep mask of `perRow` elements for each keyed row, already scaled: 1/keep where kept, 0
 * where dropped (the inverted dropout both layers apply).
 */
export function keyedKeepMask(keys: Uint32Array, salt: number, perRow: number, keepProb: number): Float32Array {
  if (!(keepProb > 0 && keepProb <= 1)) throw new RangeError(`keep probability must be in (0, 1], got ${keepProb}`);
  const out = new Float32Array(keys.length * perRow);
  const threshold = keepProb * 0x100000000; // u < threshold with u uniform on [0, 2^32): P = keep
  const scale = 1 / keepProb;
  for (let n = 0; n < keys.length; n++) {
    const row = mix32((keys[n]! ^ salt) + GOLDEN);
    const base = n * perRow;
    for (let j = 0; j < perRow; j++) if (mix32(row + Math.imul(j + 1, GOLDEN)) < threshold) out[base + j] = scale;
  }
  return out;
}
