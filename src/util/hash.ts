// Content keys. A stage's folder and its resume key are a hash of what it depends on, written as
// canonical JSON (object keys sorted) so that the same inputs always give the same key, wherever
// the run lives and whichever order a config file listed its fields in.
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

/** JSON with object keys sorted (undefined fields dropped, as JSON.stringify drops them). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v)) {
      const o = v as Record<string, unknown>;
      return Object.fromEntries(
        Object.keys(o)
          .sort()
          .map((k) => [k, o[k]]),
      );
    }
    return v;
  });
}

/** A 16-hex-digit key of a JSON-able value. */
export function contentHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

/** SHA-256 of a file's bytes, 16 hex digits, read in chunks (weights files can be large). */
export function fileHash(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex').slice(0, 16);
}
