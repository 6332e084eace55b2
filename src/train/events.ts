// One progress event type for every long library call (train, pseudo-label, run): the CLI's bars and
// log lines consume it, a service can forward it. `stage` names what is running ('train',
// 'teacher', 'student 1', 'pseudo-label 2', ...).
import type { EvalResult } from './loop.js';

export type ProgressEvent =
  | {
      readonly type: 'step';
      readonly stage: string;
      readonly epoch: number;
      readonly epochs: number;
      /** Batches done in this epoch, this step's included (1..batches). */
      readonly batch: number;
      readonly batches: number;
      readonly loss: number;
      readonly lr: number;
      readonly samples: number;
      readonly seconds: number;
    }
  | {
      readonly type: 'epoch';
      readonly stage: string;
      readonly epoch: number;
      readonly epochs: number;
      readonly trainLoss: number;
      readonly eval: EvalResult | null;
      readonly seconds: number;
    }
  /** Items done of a total (images labelled, evaluated...). */
  | { readonly type: 'items'; readonly stage: string; readonly done: number; readonly total: number; readonly unit: string }
  | { readonly type: 'log'; readonly stage: string; readonly message: string };

export type ProgressListener = (e: ProgressEvent) => void;

/** Thrown when a long call is cancelled through its AbortSignal. */
export class AbortedError extends Error {
  readonly code = 'E_ABORTED';
  constructor(what: string, reason?: unknown) {
    super(`${what} was cancelled`, reason === undefined ? undefined : { cause: reason });
    this.name = 'AbortedError';
  }
}

/** Throw an AbortedError (the signal's reason as its cause) once `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortedError(what, signal.reason);
}
