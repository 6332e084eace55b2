// Decoding: formats, PIL's convert("RGB") rules, EXIF orientation ignored, errors naming the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadImage, ImageDecodeError } from '../../src/data/image_io.js';
import { encodeCmykTiff, encodePng } from './encoders.js';
import { DOG_JPG } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-image-io-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('16-bit greyscale PNG: PIL opens it as "I" and convert("RGB") clips at 255', async () => {
  const png = encodePng(5, 1, 0, 16, [0, 100, 255, 256, 65535]);
  const img = await loadImage(png);
  assert.deepEqual([...img.data], [0, 0, 0, 100, 100, 100, 255, 255, 255, 255, 255, 255, 255, 255, 255]);
  const shifted = await loadImage(png, { highBitDepth: 'shift' });
  assert.deepEqual([...shifted.data.filter((_, i) => i % 3 === 0)], [0, 0, 0, 1, 255]);
});

test('16-bit RGB and grey+alpha PNG keep the high byte, alpha dropped', async () => {
  const rgb = await loadImage(encodePng(2, 1, 2, 16, [0x1234, 0xff00, 0x00ff, 0x8080, 0x7fff, 0x0100]));
  assert.deepEqual([...rgb.data], [0x12, 0xff, 0x00, 0x80, 0x7f, 0x01]);
  const la = await loadImage(encodePng(2, 1, 4, 16, [0xabcd, 0, 0x0100, 0xffff]));
  assert.deepEqual([...la.data], [0xab, 0xab, 0xab, 0x01, 0x01, 0x01]);
});

test('RGBA and LA PNG: alpha is dropped, not composited (colour under alpha 0 kept)', async () => {
  const rgba = await loadImage(encodePng(2, 1, 6, 8, [10, 20, 30, 0, 200, 100, 50, 128]));
  assert.deepEqual([...rgba.data], [10, 20, 30, 200, 100, 50]);
  const la = await loadImage(encodePng(2, 1, 4, 8, [77, 0, 199, 255]));
  assert.deepEqual([...la.data], [77, 77, 77, 199, 199, 199]);
  const grey = await loadImage(encodePng(3, 1, 0, 8, [0, 128, 255]));
  assert.deepEqual([...grey.data], [0, 0, 0, 128, 128, 128, 255, 255, 255]);
});

test("CMYK uses PIL's naive formula, not a colour profile", async () => {
  const tif = encodeCmykTiff(4, 1, [0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255, 128, 64, 32, 100]);
  const img = await loadImage(tif);
  assert.deepEqual([...img.data], [255, 255, 255, 0, 255, 255, 0, 0, 0, 77, 116, 136]);
});

test('lossless WebP, uncompressed TIFF and GIF decode to the encoded pixels', async () => {
  const w = 7;
  const h = 5;
  const px = Buffer.alloc(w * h * 3);
  const palette = [
    [255, 0, 0],
    [0, 128, 255],
    [12, 34, 56],
    [250, 250, 250],
  ];
  for (let i = 0; i < w * h; i++) px.set(palette[(i * 7) % 4]!, i * 3);
  const raw = { raw: { width: w, height: h, channels: 3 as const } };
  for (const enc of [
    sharp(px, raw).webp({ lossless: true }),
    sharp(px, raw).tiff({ compression: 'none' }),
    sharp(px, raw).gif(),
    sharp(px, raw).png(),
  ]) {
    const img = await loadImage(await enc.toBuffer());
    assert.deepEqual([img.width, img.height, img.channels], [w, h, 3]);
    assert.deepEqual(Buffer.from(img.data), px);
  }
});

test('EXIF orientation is ignored like timm (stored pixel layout is returned)', async () => {
  const px = Buffer.alloc(6 * 2 * 3, 200);
  const jpg = await sharp(px, { raw: { width: 6, height: 2, channels: 3 } })
    .withMetadata({ orientation: 6 })
    .jpeg()
    .toBuffer();
  assert.equal((await sharp(jpg).metadata()).orientation, 6);
  const img = await loadImage(jpg);
  assert.deepEqual([img.width, img.height], [6, 2]);
});

test('corrupt, truncated and missing files throw ImageDecodeError naming the file', async () => {
  const junk = join(dir, 'junk.jpg');
  writeFileSync(junk, Buffer.from('definitely not an image'));
  await assert.rejects(
    loadImage(junk),
    (e: unknown) => e instanceof ImageDecodeError && e.code === 'E_IMAGE_DECODE' && e.message.includes(junk),
  );
  const truncated = join(dir, 'truncated.jpg');
  const dog = readFileSync(DOG_JPG);
  writeFileSync(truncated, dog.subarray(0, Math.floor(dog.length / 2)));
  await assert.rejects(
    loadImage(truncated),
    (e: unknown) => e instanceof ImageDecodeError && e.code === 'E_IMAGE_DECODE' && e.message.includes(truncated),
  );
  const missing = join(dir, 'missing.png');
  await assert.rejects(
    loadImage(missing),
    (e: unknown) => e instanceof ImageDecodeError && e.code === 'E_IMAGE_NOT_FOUND' && e.file === missing,
  );
});

test('channels: 1 gives PIL "L" luma', async () => {
  const img = await loadImage(encodePng(1, 1, 2, 8, [255, 0, 0]), { channels: 1 });
  assert.deepEqual([img.channels, ...img.data], [1, 76]); // (255 * 19595 + 0x8000) >> 16 = 76
});
