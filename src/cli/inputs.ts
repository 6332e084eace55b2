// Image inputs of the inference commands: paths and folders expanded to a file list, then decoded
// batch by batch. A file that cannot be decoded is reported and skipped (one bad JPEG must not
// stop a folder of thousands); anything else is a real failure and propagates.
import { existsSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { flatFolder, ImageDecodeError, loadImage, type ImageU8 } from '../data/index.js';
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

async function decodeBatch(files: readonly string[]): Promise<ImageBatch> {
  const settled = await Promise.allSettled(files.map((f) => loadImage(f)));
  const decoded: DecodedImage[] = [];
  const failed: FailedImage[] = [];
  settled.forEach((r, i) => {
    const file = files[i]!;
    if (r.status === 'fulfilled') decoded.push({ file, image: r.value });
    else if (r.reason instanceof ImageDecodeError) failed.push({ file, error: r.reason });
    else throw r.reason;
  });
  return { decoded, failed };
}

/**
 * Decoded batches of `batchSize` files, in order. The next batch is decoded (by sharp, on libuv's
 * threads) while the caller runs the model on the current one.
 */
export async function* imageBatches(files: readonly string[], batchSize: number): AsyncGenerator<ImageBatch> {
  let next: Promise<ImageBatch> | null = files.length > 0 ? decodeBatch(files.slice(0, batchSize)) : null;
  for (let start = 0; next; start += batchSize) {
    const current = next;
    const following = start + batchSize;
    next = following < files.length ? decodeBatch(files.slice(following, following + batchSize)) : null;
    // An unhandled rejection of the prefetch would kill the process if the consumer stops early.
    next?.catch(() => {});
    yield await current;
  }
}
