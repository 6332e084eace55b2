// The one set of commander argument parsers. Every number, list or choice on the command line goes
// through these, so "0", "abc" and "1.5" are refused the same way everywhere, with a message that
// says what is expected; commander puts the flag and the value in front of it:
//   error: option '--shard-size <n>' argument '0' is invalid. must be an integer >= 1
import { InvalidArgumentError } from 'commander';

/** A commander argument parser: the option's text in, the value out, InvalidArgumentError if refused. */
export type ArgParser<T> = (value: string) => T;

export interface IntRange {
  /** Smallest value allowed (inclusive). */
  readonly min?: number;
  /** Largest value allowed (inclusive). */
  readonly max?: number;
}

export interface NumberRange extends IntRange {
  /** Exclusive lower bound: the value must be > gt. */
  readonly gt?: number;
  /** Exclusive upper bound: the value must be < lt. */
  readonly lt?: number;
}

// Decimal integers only: "1e3", "0x10", "1.0" and "" are refused rather than read some other way.
const INT_RE = /^[+-]?\d+$/;
// Decimal numbers with an optional exponent; not "Infinity", "0x10" or "" (which Number() accepts).
const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** "must be an integer >= 1", "must be a number > 0 and <= 1": the expectation, said once for every refusal. */
function expectation(kind: 'an integer' | 'a number', r: NumberRange): string {
  const bounds: string[] = [];
  if (r.gt !== undefined) bounds.push(`> ${r.gt}`);
  if (r.min !== undefined) bounds.push(`>= ${r.min}`);
  if (r.lt !== undefined) bounds.push(`< ${r.lt}`);
  if (r.max !== undefined) bounds.push(`<= ${r.max}`);
  return `must be ${kind}${bounds.length > 0 ? ` ${bounds.join(' and ')}` : ''}`;
}

function inRange(n: number, r: NumberRange): boolean {
  return (
    (r.min === undefined || n >= r.min) &&
    (r.max === undefined || n <= r.max) &&
    (r.gt === undefined || n > r.gt) &&
    (r.lt === undefined || n < r.lt)
  );
}

/**
 * Integers, optionally within [min, max]. `intArg(1)` (a bare number: the minimum) is the older
 * call form and means the same as `intArg({ min: 1 })`.
 */
export function intArg(range?: number | IntRange): ArgParser<number> {
  const r: IntRange = typeof range === 'number' ? { min: range } : (range ?? {});
  const message = expectation('an integer', r);
  return (value) => {
    const s = value.trim();
    const n = Number(s);
    if (!INT_RE.test(s) || !Number.isSafeInteger(n) || !inRange(n, r)) throw new InvalidArgumentError(message);
    return n;
  };
}

/** Finite numbers, optionally within bounds (min/max inclusive, gt/lt exclusive). */
export function numberArg(range: NumberRange = {}): ArgParser<number> {
  const message = expectation('a number', range);
  return (value) => {
    const s = value.trim();
    const n = Number(s);
    if (!NUMBER_RE.test(s) || !Number.isFinite(n) || !inRange(n, range)) throw new InvalidArgumentError(message);
    return n;
  };
}

/** One of a fixed set of strings (for a parser; an Option's own `.choices()` does the same). */
export function choiceArg<const T extends string>(choices: readonly T[]): ArgParser<T> {
  const message = `must be one of: ${choices.join(', ')}`;
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(message);
    return value as T;
  };
}

/** The item's own refusal, said of that item: "'x' must be an integer >= 0". */
function parseItem<T>(parser: ArgParser<T>, item: string, context: string): T {
  try {
    return parser(item);
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw new InvalidArgumentError(`${context}: '${item}' ${e.message}`);
    throw e;
  }
}

function splitList(value: string): string[] {
  return value.split(',').map((s) => s.trim());
}

/** Comma-separated values ("0,1,2"), each read by `parser`; `length` requires exactly that many. */
export function listArg<T>(parser: ArgParser<T>, o: { readonly length?: number } = {}): ArgParser<T[]> {
  const context = o.length === undefined ? 'must be a comma-separated list' : `must be ${o.length} comma-separated values`;
  return (value) => {
    const items = splitList(value);
    if (o.length !== undefined && items.length !== o.length) {
      throw new InvalidArgumentError(`${context}, got ${items.length}`);
    }
    return items.map((item) => parseItem(parser, item, context));
  };
}

/** A fixed-length comma-separated list whose items each have their own parser ("0.6,1" for a range). */
export function tupleArg<T extends unknown[]>(parsers: { readonly [K in keyof T]: ArgParser<T[K]> }): ArgParser<T> {
  const list = parsers as readonly ArgParser<unknown>[];
  const context = `must be ${list.length} comma-separated values`;
  return (value) => {
    const items = splitList(value);
    if (items.length !== list.length) throw new InvalidArgumentError(`${context}, got ${items.length}`);
    return items.map((item, i) => parseItem(list[i]!, item, context)) as T;
  };
}

/** Comma-separated integers >= 0 ("0,1,2"): indices such as feature-map numbers. */
export const intListArg: ArgParser<number[]> = listArg(intArg({ min: 0 }));
