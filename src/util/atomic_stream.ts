// An output file written piece by piece as results arrive (predictions, feature rows), still
// atomically: the pieces go to a temporary name beside the destination (the `.<name>.<pid>.<n>.tmp`
// pattern atomicWriteFile uses, so a killed writer's leftovers are recognised the same way), which
// is flushed and renamed over the destination at commit. Until then readers see the old file or
// none; abort (or an error) removes the temporary file.
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { WRITE_PIECE_BYTES, diskFullError, fsyncDir, tempPathBeside } from './atomic_write.js';
import { faultPoint } from './fault_points.js';

export { tempPathBeside } from './atomic_write.js';

function writeAll(fd: number, tmp: string, chunk: string | Uint8Array): number {
  const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
  let off = 0;
  while (off < buf.byteLength) {
    off += writeSync(fd, buf, off, Math.min(WRITE_PIECE_BYTES, buf.byteLength - off));
    faultPoint(`write ${tmp}`);
  }
  return buf.byteLength;
}

export class AtomicFileStream {
  readonly tmp: string;
  private fd: number | null;
  private written = 0;

  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.tmp = tempPathBeside(path);
    this.fd = openSync(this.tmp, 'w');
  }

  /** Bytes written so far. */
  get bytes(): number {
    return this.written;
  }

  write(chunk: string | Uint8Array): void {
    if (this.fd === null) throw new Error(`${this.path}: write after the file was committed or aborted`);
    try {
      this.written += writeAll(this.fd, this.tmp, chunk);
    } catch (e) {
      this.abort();
      throw diskFullError(e, this.path, this.written) ?? e;
    }
  }

  /** Append the whole of file `src` (read in 1 MiB pieces, never whole). */
  append(src: string): void {
    const fd = openSync(src, 'r');
    try {
      const buf = Buffer.allocUnsafe(1 << 20);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        if (n === 0) break;
        this.write(buf.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Flush, close and rename into place (and make the rename durable). */
  commit(): void {
    if (this.fd === null) throw new Error(`${this.path}: committed after it was committed or aborted`);
    const fd = this.fd;
    try {
      fsyncSync(fd);
      closeSync(fd);
      this.fd = null;
      faultPoint(`rename ${this.tmp}`);
      renameSync(this.tmp, this.path);
    } catch (e) {
      this.abort();
      throw diskFullError(e, this.path, this.written) ?? e;
    }
    fsyncDir(dirname(this.path));
  }

  /** Drop what was written: the destination is left as it was. Safe to call more than once. */
  abort(): void {
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed by a failed write: the file is removed below either way
      }
      this.fd = null;
    }
    rmSync(this.tmp, { force: true });
  }
}

/** Write `path` through `fn`'s pieces: committed when `fn` returns, nothing left when it throws. */
export async function writeFileAtomicallyFrom<T>(path: string, fn: (out: AtomicFileStream) => Promise<T> | T): Promise<T> {
  const out = new AtomicFileStream(path);
  try {
    const r = await fn(out);
    out.commit();
    return r;
  } catch (e) {
    out.abort();
    throw e;
  }
}
