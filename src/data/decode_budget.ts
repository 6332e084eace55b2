// A byte budget for decodes running at the same time: each decode reserves what its header says it
// will allocate (libvips' buffer plus our RGB copy) and releases it when done, so N workers or N
// prefetched batches cannot decode N large images at once. Requests are granted in arrival order;
// one that does not fit waits for releases, except that a decode is always admitted when nothing
// else is in flight (an image over the budget but under the per-image cap still loads, alone).
// Every waiting reservation ends: granted by a release, or rejected by cancel().

/** What a decode asks of a budget; the returned function gives the bytes back (idempotent). */
export interface DecodeBudget {
  reserve(bytes: number): Promise<() => void>;
}

/** Default bytes of decodes in flight for the loader and the inference commands' inputs. */
export const DEFAULT_DECODE_BYTES_IN_FLIGHT = 1024 * 1024 * 1024;

interface Waiter {
  readonly bytes: number;
  readonly grant: () => void;
  readonly reject: (e: Error) => void;
}

export class ByteBudget implements DecodeBudget {
  private used = 0;
  private readonly waiting: Waiter[] = [];
  /** The most bytes reserved at once so far (for tuning and tests). */
  peak = 0;

  constructor(readonly limit: number) {
    if (!(limit > 0)) throw new RangeError(`a decode byte budget must be positive, got ${limit}`);
  }

  reserve(bytes: number): Promise<() => void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ bytes, grant: () => resolve(this.releaser(bytes)), reject });
      this.pump();
    });
  }

  /** Reject every waiting reservation (the owner is shutting down). */
  cancel(err: Error): void {
    for (const w of this.waiting.splice(0)) w.reject(err);
  }

  private releaser(bytes: number): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.used -= bytes;
      this.pump();
    };
  }

  private pump(): void {
    while (this.waiting.length > 0) {
      const head = this.waiting[0]!;
      if (this.used > 0 && this.used + head.bytes > this.limit) return;
      this.waiting.shift();
      this.used += head.bytes;
      this.peak = Math.max(this.peak, this.used);
      head.grant();
    }
  }
}
