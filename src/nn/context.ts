// The execution context: where and how a forward pass or a training step runs (device, autocast
// dtype, process group, randomness). The training mode is NOT part of it: that lives on the modules
// (Module.train() / eval()), so a model has one answer to "am I training?".
//
// Device is carried and checked; autocast runs the forward under libtorch's autocast (withAutocast,
// src/torch/autocast.ts) through runForward; the process group is an interface a distributed
// module implements.
import { autocastAvailable, checkAutocastDType, parseDevice, withAutocast, type Generator, type Tensor } from '../torch/index.js';

export type AutocastDType = 'float32' | 'bfloat16' | 'float16';

/** What data-parallel training needs from a process group (c10d's, once bound). */
export interface ProcessGroupLike {
  readonly rank: number;
  readonly worldSize: number;
  /** Sum each tensor in place across the group. */
  allreduce(tensors: readonly Tensor[]): Promise<void>;
  /** Overwrite each tensor in place with rank `root`'s copy. */
  broadcast(tensors: readonly Tensor[], root: number): Promise<void>;
  barrier(): Promise<void>;
}

export interface ExecutionContext {
  /** Device string as torch spells it: 'cpu', 'cuda', 'cuda:1'... (checked by parseDevice where used). */
  readonly device: string;
  /** Mixed precision for the forward pass; null = the parameters' own dtype. */
  readonly autocast: AutocastDType | null;
  readonly processGroup: ProcessGroupLike | null;
  /** Randomness for dropout and drop-path; libtorch's global generator when absent. */
  readonly generator?: Generator;
}

/**
 * What a forward pass reads from the context. Every field is optional so `forward(x)` and
 * `forward(x, { generator })` stay short; a full ExecutionContext is accepted as is.
 */
export type ForwardContext = Partial<Pick<ExecutionContext, 'device' | 'autocast' | 'generator'>> & {
  /**
   * One key per batch row (sampleNoiseKeys: seed, epoch, source, dataset index). When given,
   * dropout and drop-path draw each row's mask from its key instead of from the generator, so a
   * sample's noise does not depend on its batch or on the rank that trains it. Per batch, so it is
   * not part of the ExecutionContext; the trainer sets it for each (micro-)batch.
   */
  readonly sampleKeys?: Uint32Array;
};

export function defaultContext(): ExecutionContext {
  return { device: 'cpu', autocast: null, processGroup: null };
}

/** A complete context from the fields given (the defaults: cpu, no autocast, no process group). */
export function executionContext(partial: Partial<ExecutionContext> = {}): ExecutionContext {
  const device = partial.device ?? 'cpu';
  if (typeof device !== 'string' || !/^[a-z]+(:\d+)?$/.test(device)) {
    throw new TypeError(`device must be a libtorch device string such as 'cpu' or 'cuda:0', got ${JSON.stringify(device)}`);
  }
  const autocast = partial.autocast ?? null;
  if (autocast !== null && !AUTOCAST_DTYPES.includes(autocast)) {
    throw new TypeError(`autocast must be one of ${AUTOCAST_DTYPES.join(', ')} or null, got ${JSON.stringify(autocast)}`);
  }
  return {
    device,
    autocast,
    processGroup: partial.processGroup ?? null,
    ...(partial.generator ? { generator: partial.generator } : {}),
  };
}

const AUTOCAST_DTYPES: readonly AutocastDType[] = ['float32', 'bfloat16', 'float16'];

/** Whether the addon can run a forward under libtorch autocast (a build with the autocast binding). */
export function autocastSupported(): boolean {
  return autocastAvailable();
}

/**
 * Refuse what the context asks for but this build cannot do, before any work starts: silently
 * running in float32 when bfloat16 was asked for would make every timing and accuracy misleading.
 * autocast 'float32' is what runs anyway, so it passes; a lower dtype the device's autocast lacks
 * (float16 on the CPU) is refused by name.
 */
export function assertContextSupported(ctx: ForwardContext | undefined, where: string): void {
  const a = ctx?.autocast ?? null;
  if (a === null || a === 'float32') return;
  if (!autocastSupported()) {
    throw new Error(
      `${where}: autocast '${a}' is not supported (the libtorch addon has no autocast binding: rebuild it); use autocast: null`,
    );
  }
  try {
    checkAutocastDType(a, ctx?.device ?? 'cpu');
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
}

/**
 * Run a forward pass as the context says: under libtorch's autocast when it asks for bfloat16 or
 * float16 (on its device, 'cpu' when unnamed), else as is. Nesting is fine (an inner forward of an
 * autocast forward just joins it). Synchronous, like the forward itself.
 */
export function runForward<T>(ctx: ForwardContext | undefined, fn: () => T): T {
  const a = ctx?.autocast ?? null;
  if (a === null || a === 'float32') return fn();
  return withAutocast(a, fn, { device: ctx?.device ?? 'cpu' });
}

/** Refuse an input that is not on the device the context names ('cuda' is 'cuda:0'). */
export function assertOnDevice(x: Tensor, ctx: ForwardContext | undefined, where: string): void {
  const want = ctx?.device;
  if (want === undefined) return;
  const got = x.device;
  if (parseDevice(got) !== parseDevice(want)) throw new Error(`${where}: the input is on ${got} but the context's device is ${want}`);
}
