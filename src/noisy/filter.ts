// The filter/balance stage of Noisy Student: the semantics of the original `filter_unlabel.py`
// (google-research/noisystudent) as a pure function over per-image pseudo-label records.
//
// What the original does, and what this module reproduces:
//  1. Every unlabeled image is assigned to its teacher argmax class; its confidence is the top-1
//     probability.
//  2. Confidences are compared against a grid of thresholds 0.00, 0.01, ..., 1.00. An image counts
//     "at or above" grid value i/100 when `confidence >= i/100` (double comparison: a float32
//     probability is compared by its exact value, as numpy does when it promotes float32 to float64).
//  3. Per class, the thresholds are walked from 1.00 down to the minimum threshold (default 0.3),
//     summing the images at or above each; the walk stops at the first threshold where the
//     cumulative count reaches K (`use_top`) or at the minimum threshold. That threshold and the
//     count `total` at it are the class's selection.
//  4. Every image at or above the class threshold gets `K / total` copies (the integer part, plus one
//     more with probability equal to the fractional part). With `total > K` that is a random keep
//     with probability K/total (so the class ends near K, and only images at/above the class threshold
//     can be kept); with `total < K` each image is duplicated. `upsample = false` caps the factor at 1;
//     `useAll` keeps every image above the minimum threshold exactly once.
//
// Differences, all deliberate:
//  - The random draws come from our seeded xoshiro Rng, one independent stream per class (keyed by
//    seed and class), in the order "confidence descending, id ascending" (the original sorts by -prob
//    with Python's stable sort over the file order). So a class's selection depends only on (seed,
//    that class's records), never on the other classes.
//  - `downsample: 'exact-topk'` keeps exactly the K most confident images of an over-full class (ties
//    broken by smaller id) instead of the random keep; `upsampleRounding: 'exact'` gives the
//    fractional extra copies to the most confident images so an under-full class gets exactly K.
//    Both are opt-in; the default is the original's behaviour, whose expected count is exactly K per
//    class and whose spread (binomial, sd ≈ sqrt(K)) is negligible at the sizes the method is used at.
//  - The minimum threshold must lie on the 0.01 grid, as in the original (which asserts when it does
//    not). A value within 1e-9 of a grid point is snapped onto it (so `0.1 + 0.2` means 0.3), and the
//    snapped value `i / 100` is what confidences are compared with: a confidence of exactly 0.3 is
//    kept at threshold 0.3, 0.2999 is dropped. Anything else is a RangeError.
//  - The original's `max_prob = 2` guard is not needed: confidences must be finite numbers; values a
//    little above 1 (float rounding) fall in the 1.00 bin as in the original.
import { Rng } from '../data/rng.js';

/** One unlabeled image's pseudo-label: its id, the teacher's argmax class and that class's probability. */
export interface PseudoLabelRecord {
  readonly id: number;
  readonly label: number;
  readonly confidence: number;
}

export type DownsampleMode = 'original' | 'exact-topk';
export type UpsampleRounding = 'random' | 'exact';

export interface FilterOptions {
  readonly numClasses: number;
  /** K, the target number of images per class (`--num_image`; 130000 for ImageNet, 53113 for SVHN). */
  readonly perClass: number;
  /** Minimum confidence (`--min_threshold`), on the 0.01 grid. Default 0.3. */
  readonly threshold?: number;
  /** Duplicate images of classes with fewer than K (`--upsample`). Default true. */
  readonly upsample?: boolean;
  /** Keep every image at or above the threshold exactly once, no balancing (`--use_all`). Default false. */
  readonly useAll?: boolean;
  /** Over-full classes: the original's random keep with probability K/total, or exactly the top K. Default 'original'. */
  readonly downsample?: DownsampleMode;
  /** Under-full classes: the fractional copy drawn at random (original) or given to the most confident. Default 'random'. */
  readonly upsampleRounding?: UpsampleRounding;
  readonly seed: number;
}

export interface FilterEntry {
  readonly id: number;
  readonly label: number;
  readonly confidence: number;
  /** How many times this image appears in the balanced set (>= 1). */
  readonly copies: number;
}

export type ClassAction = 'downsample' | 'upsample' | 'keep' | 'empty';

export interface ClassFilterStats {
  readonly label: number;
  /** Images whose argmax is this class, whatever their confidence. */
  readonly assigned: number;
  /** Of those, images at or above the minimum threshold: the class count before balancing. */
  readonly passed: number;
  /** The class threshold the grid walk selected (the minimum threshold unless the class is over-full). */
  readonly threshold: number;
  /** Images at or above the class threshold: the original's `total_image`, the denominator of K/total. */
  readonly candidates: number;
  readonly action: ClassAction;
  /** Images in the balanced set, counting copies: the class count after balancing. */
  readonly kept: number;
  /** Distinct images in the balanced set. */
  readonly uniqueKept: number;
  /** The lowest confidence among the kept images (null when none is kept). */
  readonly lowestKeptConfidence: number | null;
}

export interface FilterStats {
  readonly numClasses: number;
  readonly perClass: number;
  readonly minThreshold: number;
  readonly upsample: boolean;
  readonly useAll: boolean;
  readonly downsample: DownsampleMode;
  readonly upsampleRounding: UpsampleRounding;
  readonly seed: number;
  readonly classes: readonly ClassFilterStats[];
  /** Per class, `passed` (count before balancing). */
  readonly before: readonly number[];
  /** Per class, `kept` (count after balancing, with copies). */
  readonly after: readonly number[];
  /** Per class, the selected threshold. */
  readonly thresholds: readonly number[];
  /** All records. */
  readonly images: number;
  /** Records at or above the minimum threshold. */
  readonly passed: number;
  /** Length of the balanced set, copies included. */
  readonly kept: number;
  /** Distinct images in the balanced set. */
  readonly uniqueKept: number;
}

export interface FilterResult {
  /** The balanced set as sample ids with repeats, shuffled by the seed: what the student trains on. */
  readonly ids: number[];
  /** The kept images (copies >= 1), by class, then confidence descending, then id. */
  readonly entries: FilterEntry[];
  readonly stats: FilterStats;
}

export class FilterError extends Error {
  readonly code = 'E_FILTER';
  constructor(message: string) {
    super(message);
    this.name = 'FilterError';
  }
}

/** Number of steps on the threshold grid (thresholds are i / GRID for i = 0..GRID). */
export const THRESHOLD_GRID = 100;
export const DEFAULT_THRESHOLD = 0.3;

const CLASS_STREAM = 0x6b1a55;
const SHUFFLE_STREAM = 0x5f1ff1e;

/** Validate a threshold and return its grid index (0..100); `0.1 + 0.2` gives 30. */
export function thresholdGridIndex(threshold: number): number {
  if (!Number.isFinite(threshold) || threshold < 0 || threshold > 1) {
    throw new RangeError(`threshold must be in [0, 1], got ${threshold}`);
  }
  const scaled = threshold * THRESHOLD_GRID;
  const idx = Math.round(scaled);
  if (Math.abs(scaled - idx) > 1e-9) {
    throw new RangeError(`threshold ${threshold} is not on the 0.01 grid the original filter_unlabel.py uses (e.g. 0.3 or 0.25)`);
  }
  return idx;
}

/** The grid value i/100 (the correctly rounded double, equal to the literal `0.3` for i = 30). */
function gridValue(i: number): number {
  return i / THRESHOLD_GRID;
}

/**
 * The records as columns: what a pseudo-label set read from its shards holds (12 bytes per image
 * instead of a ~70-byte object each), and what the filter walks without building per-image objects.
 */
export interface RecordColumns {
  readonly ids: Int32Array;
  readonly labels: Int32Array;
  /** The confidences are float32 probabilities, so a Float32Array holds them exactly. */
  readonly confidences: Float32Array;
}

/** Records given as a list of objects or as columns. */
export type PseudoLabelRecords = readonly PseudoLabelRecord[] | RecordColumns;

/** Uniform access to either form, by position. */
interface RecordView {
  readonly length: number;
  id(i: number): number;
  label(i: number): number;
  confidence(i: number): number;
}

function view(records: PseudoLabelRecords): RecordView {
  if (Array.isArray(records)) {
    const list = records as readonly PseudoLabelRecord[];
    return { length: list.length, id: (i) => list[i]!.id, label: (i) => list[i]!.label, confidence: (i) => list[i]!.confidence };
  }
  const c = records as RecordColumns;
  if (c.labels.length !== c.ids.length || c.confidences.length !== c.ids.length)
    throw new FilterError(
      `record columns of different lengths: ${c.ids.length} ids, ${c.labels.length} labels, ${c.confidences.length} confidences`,
    );
  return { length: c.ids.length, id: (i) => c.ids[i]!, label: (i) => c.labels[i]!, confidence: (i) => c.confidences[i]! };
}

function validate(records: RecordView, opts: FilterOptions): void {
  if (!Number.isInteger(opts.numClasses) || opts.numClasses < 1) throw new RangeError(`numClasses must be a positive integer`);
  if (!Number.isInteger(opts.perClass) || opts.perClass < 1) {
    throw new RangeError(`perClass (K) must be a positive integer, got ${opts.perClass}`);
  }
  if (!Number.isSafeInteger(opts.seed)) throw new RangeError(`seed must be a safe integer, got ${opts.seed}`);
  // Ids in ascending order (as a set read from its shards lists them) are distinct without a Set
  // of every id; any other order is checked with one.
  let seen: Set<number> | null = null;
  for (let i = 0; i < records.length; i++) {
    const id = records.id(i);
    if (!Number.isSafeInteger(id)) throw new FilterError(`record id must be an integer, got ${id}`);
    if (seen === null && i > 0 && !(id > records.id(i - 1))) {
      seen = new Set<number>();
      for (let j = 0; j < i; j++) seen.add(records.id(j));
    }
    if (seen !== null) {
      if (seen.has(id)) throw new FilterError(`duplicate record id ${id}`);
      seen.add(id);
    }
    const label = records.label(i);
    if (!Number.isInteger(label) || label < 0 || label >= opts.numClasses) {
      throw new FilterError(`record ${id}: label ${label} is not a class in [0, ${opts.numClasses})`);
    }
    const confidence = records.confidence(i);
    if (!Number.isFinite(confidence) || confidence < 0) {
      throw new FilterError(`record ${id}: confidence ${confidence} is not a finite non-negative number`);
    }
  }
}

/**
 * Filter pseudo-labels by confidence and balance them to K images per class, as filter_unlabel.py
 * does (see the header of this file). Pure and deterministic in (records, options); the records may
 * be objects or columns, with the same result.
 */
export function filterAndBalance(input: PseudoLabelRecords, opts: FilterOptions): FilterResult {
  const records = view(input);
  validate(records, opts);
  const minIdx = thresholdGridIndex(opts.threshold ?? DEFAULT_THRESHOLD);
  const minThreshold = gridValue(minIdx);
  const K = opts.perClass;
  const upsample = opts.upsample ?? true;
  const useAll = opts.useAll ?? false;
  const downsample = opts.downsample ?? 'original';
  const upsampleRounding = opts.upsampleRounding ?? 'random';
  if (downsample !== 'original' && downsample !== 'exact-topk') throw new RangeError(`unknown downsample mode ${String(downsample)}`);
  if (upsampleRounding !== 'random' && upsampleRounding !== 'exact') {
    throw new RangeError(`unknown upsampleRounding ${String(upsampleRounding)}`);
  }

  // Positions of the records grouped by class (a counting sort: two Int32Arrays, not a list per class).
  const start = new Int32Array(opts.numClasses + 1);
  for (let i = 0; i < records.length; i++) start[records.label(i) + 1]!++;
  for (let c = 0; c < opts.numClasses; c++) start[c + 1]! += start[c]!;
  const byClass = new Int32Array(records.length);
  const fill = start.slice(0, opts.numClasses);
  for (let i = 0; i < records.length; i++) byClass[fill[records.label(i)]!++] = i;
  // Confidence descending, then id ascending. The result is -1, 0 or 1 (small integers): a float
  // difference would be a heap number per comparison, millions of them for a large set.
  const compare = (a: number, b: number): number => {
    const ca = records.confidence(a);
    const cb = records.confidence(b);
    if (ca !== cb) return ca > cb ? -1 : 1;
    const ia = records.id(a);
    const ib = records.id(b);
    return ia < ib ? -1 : ia > ib ? 1 : 0;
  };

  const entries: FilterEntry[] = [];
  const classes: ClassFilterStats[] = [];
  for (let c = 0; c < opts.numClasses; c++) {
    const items = byClass.subarray(start[c]!, start[c + 1]!).sort(compare);
    const conf = (k: number): number => records.confidence(items[k]!);
    const n = items.length;
    let passed = 0;
    while (passed < n && conf(passed) >= minThreshold) passed++;

    // The grid walk (get_threshold): from 1.00 down, cumulative count of images >= i/100.
    let cum = 0;
    let thrIdx = minIdx;
    for (let i = THRESHOLD_GRID; i >= minIdx; i--) {
      const g = gridValue(i);
      while (cum < n && conf(cum) >= g) cum++;
      if (!useAll && cum >= K) {
        thrIdx = i;
        break;
      }
      if (i === minIdx) thrIdx = i;
    }
    const total = cum; // images at or above the class threshold (a prefix of `items`)

    // The copies (get_keep_image_idx).
    const copies = new Int32Array(total);
    let action: ClassAction;
    if (total === 0) action = 'empty';
    else if (useAll || total === K) action = 'keep';
    else action = total > K ? 'downsample' : 'upsample';

    if (total > 0) {
      let factor = useAll ? 1 : K / total;
      if (!upsample) factor = Math.min(factor, 1);
      const whole = Math.trunc(factor);
      const frac = factor - whole;
      if (action === 'downsample' && downsample === 'exact-topk') {
        for (let k = 0; k < K; k++) copies[k] = 1;
      } else if (action === 'upsample' && upsample && upsampleRounding === 'exact') {
        const extra = K - whole * total;
        for (let k = 0; k < total; k++) copies[k] = whole + (k < extra ? 1 : 0);
      } else {
        // One draw per candidate, most confident first: np.random.random() < frac.
        const rng = Rng.fromKeys(opts.seed, CLASS_STREAM, c);
        for (let k = 0; k < total; k++) copies[k] = whole + (rng.random() < frac ? 1 : 0);
      }
    }

    let kept = 0;
    let uniqueKept = 0;
    let lowest: number | null = null;
    for (let k = 0; k < total; k++) {
      const cp = copies[k]!;
      if (cp === 0) continue;
      const r = items[k]!;
      entries.push({ id: records.id(r), label: c, confidence: records.confidence(r), copies: cp });
      kept += cp;
      uniqueKept++;
      lowest = records.confidence(r); // items are in descending confidence
    }
    classes.push({
      label: c,
      assigned: n,
      passed,
      threshold: gridValue(thrIdx),
      candidates: total,
      action,
      kept,
      uniqueKept,
      lowestKeptConfidence: lowest,
    });
  }

  const ids: number[] = [];
  for (const e of entries) for (let k = 0; k < e.copies; k++) ids.push(e.id);
  Rng.fromKeys(opts.seed, SHUFFLE_STREAM).shuffle(ids);

  const stats: FilterStats = {
    numClasses: opts.numClasses,
    perClass: K,
    minThreshold,
    upsample,
    useAll,
    downsample,
    upsampleRounding,
    seed: opts.seed,
    classes,
    before: classes.map((s) => s.passed),
    after: classes.map((s) => s.kept),
    thresholds: classes.map((s) => s.threshold),
    images: records.length,
    passed: classes.reduce((a, s) => a + s.passed, 0),
    kept: ids.length,
    uniqueKept: entries.length,
  };
  return { ids, entries, stats };
}

// ---------------------------------------------------------------------------------------------
// Pseudo-label accuracy (when the unlabeled images' true labels are known, e.g. the demo's split).

export interface AccuracyCount {
  readonly correct: number;
  readonly total: number;
  /** correct / total, or null when total is 0. */
  readonly accuracy: number | null;
}

export interface PseudoLabelAccuracy {
  /** Every record with a known true label: the teacher's raw accuracy on the unlabeled set. */
  readonly overall: AccuracyCount;
  /** Records at or above the minimum threshold (only with a filter result). */
  readonly passed?: AccuracyCount;
  /** The balanced set counting every copy, as the original counts the filtered records. */
  readonly balanced?: AccuracyCount;
  /** The balanced set counting each distinct image once. */
  readonly balancedUnique?: AccuracyCount;
  /** Records whose true label is unknown (skipped everywhere). */
  readonly unknown: number;
}

export type TrueLabels = ArrayLike<number> | ReadonlyMap<number, number> | ((id: number) => number | undefined);

function lookup(trueLabels: TrueLabels): (id: number) => number | undefined {
  if (typeof trueLabels === 'function') return trueLabels;
  if (trueLabels instanceof Map) return (id) => (trueLabels as ReadonlyMap<number, number>).get(id);
  const arr = trueLabels as ArrayLike<number>;
  return (id) => (id >= 0 && id < arr.length ? arr[id] : undefined);
}

function acc(correct: number, total: number): AccuracyCount {
  return { correct, total, accuracy: total > 0 ? correct / total : null };
}

/**
 * Accuracy of the pseudo-labels against known true labels: over all records, and (with the filter's
 * result) over the images that passed the threshold and over the balanced set, where a duplicated
 * image counts once per copy. A true label that is undefined or negative means "unknown".
 */
export function pseudoLabelAccuracy(input: PseudoLabelRecords, trueLabels: TrueLabels, result?: FilterResult): PseudoLabelAccuracy {
  const truth = lookup(trueLabels);
  const known = (id: number): number | undefined => {
    const t = truth(id);
    return t === undefined || t < 0 || !Number.isFinite(t) ? undefined : t;
  };
  let correct = 0;
  let total = 0;
  let unknown = 0;
  let pCorrect = 0;
  let pTotal = 0;
  const minThreshold = result?.stats.minThreshold;
  const records = view(input);
  for (let i = 0; i < records.length; i++) {
    const t = known(records.id(i));
    if (t === undefined) {
      unknown++;
      continue;
    }
    const ok = t === records.label(i) ? 1 : 0;
    correct += ok;
    total++;
    if (minThreshold !== undefined && records.confidence(i) >= minThreshold) {
      pCorrect += ok;
      pTotal++;
    }
  }
  if (!result) return { overall: acc(correct, total), unknown };
  let bCorrect = 0;
  let bTotal = 0;
  let uCorrect = 0;
  let uTotal = 0;
  for (const e of result.entries) {
    const t = known(e.id);
    if (t === undefined) continue;
    const ok = t === e.label ? 1 : 0;
    bCorrect += ok * e.copies;
    bTotal += e.copies;
    uCorrect += ok;
    uTotal++;
  }
  return {
    overall: acc(correct, total),
    passed: acc(pCorrect, pTotal),
    balanced: acc(bCorrect, bTotal),
    balancedUnique: acc(uCorrect, uTotal),
    unknown,
  };
}

// ---------------------------------------------------------------------------------------------
// Confidence histogram (for stats and the report).

export interface ConfidenceHistogram {
  /** bins + 1 edges from `from` to `to`. */
  readonly edges: number[];
  readonly counts: number[];
}

/**
 * Histogram of confidences over equal-width bins in [from, to] (default 20 bins over [0, 1]). A value
 * exactly on an edge goes to the bin that starts there (0.3 lands in [0.3, 0.35)); values at or above
 * `to` go to the last bin, below `from` to the first.
 */
export function confidenceHistogram(
  confidences: Iterable<number> | readonly PseudoLabelRecord[] | RecordColumns,
  opts: { bins?: number; from?: number; to?: number } = {},
): ConfidenceHistogram {
  const bins = opts.bins ?? 20;
  const from = opts.from ?? 0;
  const to = opts.to ?? 1;
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`bins must be a positive integer, got ${bins}`);
  if (!(to > from)) throw new RangeError(`histogram range [${from}, ${to}] is empty`);
  const edge = (i: number): number => from + ((to - from) * i) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => edge(i));
  const counts = new Array<number>(bins).fill(0);
  const items = 'confidences' in confidences ? confidences.confidences : (confidences as Iterable<number | PseudoLabelRecord>);
  for (const item of items) {
    const c = typeof item === 'number' ? item : item.confidence;
    if (!Number.isFinite(c)) continue;
    let i = Math.floor(((c - from) / (to - from)) * bins);
    i = Math.min(bins - 1, Math.max(0, i));
    // Correct the float rounding of the division against the exact edge values.
    while (i + 1 < bins && c >= edge(i + 1)) i++;
    while (i > 0 && c < edge(i)) i--;
    counts[i]!++;
  }
  return { edges, counts };
}
