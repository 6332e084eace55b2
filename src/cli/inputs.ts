// Image inputs of the inference commands: paths and folders expanded to a file list, then decoded
// batch by batch. A file that cannot be decoded is reported and skipped (one bad JPEG must not
// stop a folder of thousands); anything else is a real failure and propagates.
import { existsSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { flatFolder, ImageDecodeError, loadImage, type ImageU8 } from '../data/index.js';
import { type LoadImageOptions, readImageHeader } from '../data/image_io.js';
import { DEFAULT_DECODE_BYTES_IN_FLIGHT } from '../data/decode_budget.js';
import { CliError } from './errors.js';

/**
 * Files named directly, and the images in named folders (recursive, naturally sorted), in argument
 * order, each once. Paths are spelled as the user spelled them (a folder's images as FOLDER/rel/path),
 * so reports and outputs read like the command line that made them.
 */
export function expandImageInputs(inputs: readonly string[]): string[] {
  const files: string[] = [];
  const seen = new Set<string>();
  for (const input of inputs) {
    // Fail before the (slow) model load: a mistyped path is a usage error, not a skipped image.
    if (!existsSync(input)) throw new CliError(`${input}: no such file or directory`);
    let found: string[];
    if (statSync(input).isDirectory()) {
      const root = resolve(input);
      found = flatFolder(root).paths.map((p) => join(input, relative(root, p)));
      if (found.length === 0) throw new CliError(`${input}: no images found (looked for .jpg, .png, .webp, ... recursively)`);
    } else found = [input];
    for (const f of found) {
      const key = resolve(f);
      if (!seen.has(key)) files.push(f);
      seen.add(key);
    }
  }
  return files;
}

export interface DecodedImage {
  readonly file: string;
  readonly image: ImageU8;
}
export interface FailedImage {
  readonly file: string;
  readonly error: Error;
}
export interface ImageBatch {
  readonly decoded: DecodedImage[];
  readonly failed: FailedImage[];
}

export interface ImageBatchOptions {
  /**
   * Bytes the batch in use and the batch being decoded may hold together, estimated from each
   * image's header (decoded pixels plus the 8-bit copy). A batch is cut short rather than go over
   * it (it always takes at least one image). Default 1 GiB.
   */
  readonly maxBytesInFlight?: number;
  readonly decode?: LoadImageOptions;
}

interface Decoded {
  readonly batch: ImageBatch;
  /** Index of the first file not in this batch. */
  readonly end: number;
  /** Bytes of the decoded images the batch holds. */
  readonly held: number;
}

/**
 * The files from `start` whose headers fit in `allowance` (at least one; a bomb or an unreadable
 * header is a failed image at once), then decoded concurrently (sharp, on libuv's threads).
 */
async function decodeBatch(
  files: readonly string[],
  start: number,
  batchSize: number,
  allowance: number,
  decode?: LoadImageOptions,
): Promise<Decoded> {
  const admitted: string[] = [];
  const failed: FailedImage[] = [];
  let bytes = 0;
  let end = start;
  for (; end < files.length && admitted.length + failed.length < batchSize; end++) {
    const file = files[end]!;
    let need: number;
    try {
      need = (await readImageHeader(file, decode)).peakBytes;
    } catch (e) {
      if (!(e instanceof ImageDecodeError)) throw e;
      failed.push({ file, error: e });
      continue;
    }
    if (admitted.length > 0 && bytes + need > allowance) break;
    admitted.push(file);
    bytes += need;
  }
  const settled = await Promise.allSettled(admitted.map((f) => loadImage(f, decode)));
  const decoded: DecodedImage[] = [];
  let held = 0;
  settled.forEach((r, i) => {
    const file = admitted[i]!;
    if (r.status === 'fulfilled') {
      decoded.push({ file, image: r.value });
      held += r.value.data.length;
    } else if (r.reason instanceof ImageDecodeError) failed.push({ file, error: r.reason });
    else throw r.reason;
  });
  return { batch: { decoded, failed }, end, held };
}

/**
 * Decoded batches of up to `batchSize` files, in order. The next batch is decoded while the caller
 * runs the model on the current one, within what the current one leaves of `maxBytesInFlight`, so
 * two batches of large images never add up past it (a decompression bomb is refused from its
 * header by loadImage's per-image cap and reported as failed).
 */
export async function* imageBatches(files: readonly string[], batchSize: number, opts: ImageBatchOptions = {}): AsyncGenerator<ImageBatch> {
  const max = opts.maxBytesInFlight ?? DEFAULT_DECODE_BYTES_IN_FLIGHT;
  let next: Promise<Decoded> | null = files.length > 0 ? decodeBatch(files, 0, batchSize, max, opts.decode) : null;
  while (next) {
    const current: Decoded = await next;
    next = current.end < files.length ? decodeBatch(files, current.end, batchSize, max - current.held, opts.decode) : null;
    // An unhandled rejection of the prefetch would kill the process if the consumer stops early.
    next?.catch(() => {});
    yield current.batch;
  }
}
