// What a job skipped: every command that reads images reports the images it could not decode the
// way predict does (a count and the first names on stderr, the full list in the job's output folder
// as skipped.jsonl), and stops once more than `maxSkipped` of the images it reads are unreadable:
// a folder that is mostly broken should fail loudly, not train or score on what is left.
//
// Each image is counted once, by path (by set and index for in-memory images): training reads the
// same broken file every epoch, and a resumed job reads the list of the attempt before it.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { atomicWriteFile } from '../util/atomic_write.js';
import type { SampleError } from './loader_batch.js';

export const SKIPPED_FILE = 'skipped.jsonl';
/** The default of every command's --max-skipped: one unreadable image in a hundred. */
export const DEFAULT_MAX_SKIPPED = 0.01;

export interface SkippedImage {
  readonly path: string | null;
  readonly index: number;
  /** Which of the job's sets it belongs to ('train', 'val', 'unlabeled', ...). */
  readonly set: string;
  readonly message: string;
}

export interface SkipReportOptions {
  /** Images the job reads, all sets together: the denominator of maxSkipped. */
  readonly total: number;
  /** The fraction of `total` that may be skipped (0..1); one more stops the job. */
  readonly maxSkipped: number;
  /** Folder for skipped.jsonl; null: report on stderr only. */
  readonly dir: string | null;
  /** Count the images an earlier attempt of this job listed in dir/skipped.jsonl (a resumed job). */
  readonly resume?: boolean;
  /** The option that sets maxSkipped, as the user spells it (default --max-skipped). */
  readonly option?: string;
}

export class TooManySkippedError extends Error {
  readonly code = 'E_TOO_MANY_SKIPPED';
  constructor(message: string) {
    super(message);
    this.name = 'TooManySkippedError';
  }
}

/** A path as the user would type it: relative to the working directory when below it. */
function shown(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith('..') && !isAbsolute(r) ? r : p;
}

export class SkipReport {
  private readonly byKey = new Map<string, SkippedImage>();
  private written = 0;

  constructor(private readonly o: SkipReportOptions) {
    if (!(o.maxSkipped >= 0 && o.maxSkipped <= 1)) throw new RangeError(`maxSkipped must be a fraction in [0, 1], got ${o.maxSkipped}`);
    if (o.resume && o.dir && existsSync(this.file!)) {
      for (const line of readFileSync(this.file!, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        try {
          this.remember(JSON.parse(line) as SkippedImage);
        } catch {
          // A torn line cannot happen with atomic writes; if the file was edited by hand, skip the line.
        }
      }
      this.written = this.byKey.size;
    }
  }

  /** Where the full list goes (null without an output folder). */
  get file(): string | null {
    return this.o.dir ? join(this.o.dir, SKIPPED_FILE) : null;
  }

  get count(): number {
    return this.byKey.size;
  }

  get images(): readonly SkippedImage[] {
    return [...this.byKey.values()];
  }

  private remember(s: SkippedImage): boolean {
    const key = s.path ?? `${s.set}#${s.index}`;
    if (this.byKey.has(key)) return false;
    this.byKey.set(key, { path: s.path, index: s.index, set: s.set, message: s.message });
    return true;
  }

  /** Record one skipped sample (a repeat is ignored); throws TooManySkippedError past maxSkipped. */
  add(e: SampleError, set: string): void {
    if (!this.remember({ ...e, set })) return;
    if (this.count > this.o.maxSkipped * this.o.total) {
      this.write();
      const pct = ((100 * this.count) / Math.max(1, this.o.total)).toFixed(1);
      const option = this.o.option ?? '--max-skipped';
      throw new TooManySkippedError(
        `${this.count} of ${this.o.total} images (${pct}%) could not be read, more than ${option} ${this.o.maxSkipped} allows: ` +
          `${this.names()}${this.file ? ` (full list in ${shown(this.file)})` : ''}; fix or remove those files, or raise ${option}`,
      );
    }
  }

  private names(n = 5): string {
    const all = this.images.map((s) => (s.path ? shown(s.path) : `${s.set} image ${s.index}`));
    return all.slice(0, n).join(', ') + (all.length > n ? `, ... (${all.length - n} more)` : '');
  }

  /** Write skipped.jsonl (atomically) when there is something new to list. */
  write(): void {
    if (!this.file || this.count === this.written) return;
    atomicWriteFile(this.file, this.images.map((s) => `${JSON.stringify(s)}\n`).join(''));
    this.written = this.count;
  }

  /** The one-line summary ("skipped N unreadable image(s): a.jpg, ... (full list in DIR/skipped.jsonl)"), or null. */
  summary(): string | null {
    if (this.count === 0) return null;
    return `skipped ${this.count} unreadable image(s): ${this.names()}${this.file ? ` (full list in ${shown(this.file)})` : ''}`;
  }

  /** Write the list and return the summary line (null when nothing was skipped). */
  finish(): string | null {
    this.write();
    return this.summary();
  }
}
