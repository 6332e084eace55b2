// Decompression bombs: an image whose header promises gigabytes of pixels is refused from the header
// (a SampleError in the loader, a reported failure in predict/features) before anything is decoded,
// and concurrent decodes share a byte budget. The bomb is a real file: a constant 16000x16000 16-bit
// RGBA PNG (22 MB on disk, 1.9 GiB decoded), under sharp's pixel limit, generated here with sharp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ImageDecodeError, decodeImage, loadImage, readImageHeader } from '../../src/data/image_io.js';
import { pngClaiming } from './encoders.js';
import { DataLoader, type BatchResult } from '../../src/data/loader.js';
import { fileDataset } from '../../src/data/datasets/dataset.js';
import { resolveDataConfig } from '../../src/data/data_config.js';
import { imageBatches } from '../../src/cli/inputs.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-bombs-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const BOMB = join(dir, 'bomb.png');
const MiB = 1 << 20;

async function constantPng(path: string, width: number, height: number, sixteen: boolean, channels: 3 | 4 = 3): Promise<string> {
  const img = sharp({ create: { width, height, channels, background: { r: 90, g: 140, b: 200, alpha: 1 } } });
  await (sixteen ? img.toColourspace('rgb16') : img).png({ compressionLevel: 1 }).toFile(path);
  return path;
}

test.before(async () => {
  await constantPng(BOMB, 16000, 16000, true, 4);
});

/** Peak RSS of this process since the last reset, in bytes (Linux: VmHWM, reset through clear_refs). */
function resetPeakRss(): void {
  writeFileSync('/proc/self/clear_refs', '5');
}
function peakRss(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]) * 1024;
}

test('a 16000x16000 16-bit RGBA PNG is refused from its header: a clear error, no gigabytes decoded', async () => {
  resetPeakRss();
  const before = process.memoryUsage().rss;
  await assert.rejects(loadImage(BOMB), (e: Error) => {
    assert.ok(e instanceof ImageDecodeError, `${e.name}: ${e.message}`);
    assert.equal(e.code, 'E_IMAGE_TOO_LARGE');
    assert.match(e.message, /bomb\.png/);
    assert.match(e.message, /16000x16000, 4 channels of 16 bits decode to 1\.9 GiB, over the 512 MiB per-image limit/);
    assert.match(e.message, /maxDecodedBytes/);
    return true;
  });
  const grew = peakRss() - before;
  assert.ok(grew < 256 * MiB, `peak RSS grew by ${(grew / MiB).toFixed(0)} MiB`);
});

test("a PNG whose header claims 30000x30000 is too large (E_IMAGE_TOO_LARGE, our limit), not unreadable (sharp's own limit)", async () => {
  const bytes = pngClaiming(30000, 30000);
  for (const read of [() => decodeImage(bytes, 'claims.png'), () => readImageHeader(bytes)]) {
    await assert.rejects(read(), (e: Error) => {
      assert.ok(e instanceof ImageDecodeError, `${e.name}: ${e.message}`);
      assert.equal(e.code, 'E_IMAGE_TOO_LARGE', e.message);
      assert.match(e.message, /30000x30000 exceeds the \d+-pixel limit/);
      return true;
    });
  }
});

test('the per-image cap is a LoadImageOptions field (maxDecodedBytes), both ways', async () => {
  const p = await constantPng(join(dir, 'big16.png'), 2048, 2048, true, 4); // 32 MiB decoded
  await assert.rejects(loadImage(p, { maxDecodedBytes: 16 * MiB }), /32 MiB, over the 16 MiB per-image limit/);
  const img = await loadImage(p, { maxDecodedBytes: 64 * MiB });
  assert.deepEqual([img.width, img.height, img.channels], [2048, 2048, 3]);
});

test('the loader skips and reports the bomb, with and without workers, and RSS stays flat', async () => {
  const ok = [await constantPng(join(dir, 'ok0.png'), 64, 48, false), await constantPng(join(dir, 'ok1.png'), 50, 70, false)];
  const paths = [ok[0]!, BOMB, ok[1]!];
  const ds = fileDataset(paths, Int32Array.from([0, 0, 1]), ['a', 'b']);
  const transform = { config: resolveDataConfig({ inputSize: [3, 32, 32] }) };
  for (const numWorkers of [0, 2]) {
    resetPeakRss();
    const before = process.memoryUsage().rss;
    const reported: string[] = [];
    await using loader = new DataLoader(ds, { batchSize: 2, numWorkers, transform, onSampleError: (e) => reported.push(e.message) });
    const got: BatchResult[] = [];
    for await (const b of loader.epoch(0)) got.push(b);
    assert.deepEqual(
      got.flatMap((b) => [...b.indices]),
      [0, 2],
    );
    assert.equal(loader.stats.skipped, 1);
    assert.equal(loader.stats.errors[0]!.path, BOMB);
    assert.match(reported[0]!, /over the 512 MiB per-image limit/);
    const grew = peakRss() - before;
    assert.ok(grew < 512 * MiB, `${numWorkers} workers: peak RSS grew by ${(grew / MiB).toFixed(0)} MiB`);
  }
});

test("the loader's concurrent decodes stay within its byte budget (maxDecodeBytesInFlight)", async () => {
  // 1500x1000 8-bit RGB: 4.3 MiB decoded by libvips + 4.3 MiB converted = 8.6 MiB per decode.
  const paths: string[] = [];
  for (let i = 0; i < 6; i++) paths.push(await constantPng(join(dir, `mid${i}.png`), 1500, 1000, false));
  const ds = fileDataset(paths, new Int32Array(6), ['a']);
  const transform = { config: resolveDataConfig({ inputSize: [3, 16, 16] }) };
  // Without a budget, prefetch 6 on the calling thread decodes all six at once.
  await using free = new DataLoader(ds, { batchSize: 1, prefetch: 6, transform });
  for await (const b of free.epoch(0)) assert.equal(b.indices.length, 1);
  assert.ok(free.decodePeakBytes > 40 * MiB, `unbudgeted peak ${free.decodePeakBytes}`);
  for (const numWorkers of [0, 3]) {
    await using loader = new DataLoader(ds, { batchSize: 1, prefetch: 6, numWorkers, transform, maxDecodeBytesInFlight: 20 * MiB });
    let n = 0;
    for await (const b of loader.epoch(0)) n += b.indices.length;
    assert.equal(n, 6);
    assert.ok(loader.decodePeakBytes > 0 && loader.decodePeakBytes <= 20 * MiB, `${numWorkers} workers: peak ${loader.decodePeakBytes}`);
  }
});

test('predict/features inputs: the bomb is reported failed, batches stay within the byte budget', async () => {
  const files: string[] = [];
  for (let i = 0; i < 5; i++) files.push(await constantPng(join(dir, `in${i}.png`), 1000, 1000, false)); // 5.7 MiB per decode
  files.splice(2, 0, BOMB);
  resetPeakRss();
  const before = process.memoryUsage().rss;
  const seen: string[] = [];
  const failed: string[] = [];
  const sizes: number[] = [];
  for await (const b of imageBatches(files, 16, { maxBytesInFlight: 14 * MiB })) {
    sizes.push(b.decoded.length + b.failed.length);
    for (const d of b.decoded) seen.push(d.file);
    for (const f of b.failed) failed.push(`${f.file}: ${f.error.message}`);
  }
  assert.deepEqual(
    seen,
    files.filter((f) => f !== BOMB),
  );
  assert.equal(failed.length, 1);
  assert.match(failed[0]!, /bomb\.png.*over the 512 MiB per-image limit/);
  // 14 MiB holds two decodes of 5.7 MiB, not sixteen: batches are cut by bytes.
  assert.ok(Math.max(...sizes) <= 3, `batch sizes ${sizes.join(',')}`);
  const grew = peakRss() - before;
  assert.ok(grew < 256 * MiB, `peak RSS grew by ${(grew / MiB).toFixed(0)} MiB`);
});
