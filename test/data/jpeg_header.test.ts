// jpegFrame (the JavaScript JPEG header reader that spares a sharp metadata call per decode) against
// sharp's own metadata on JPEGs of every layout sharp writes, and null for what it leaves to sharp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { jpegFrame } from '../../src/data/jpeg_header.js';
import { decodeImage } from '../../src/data/image_io.js';
import { DOG_JPG } from './fixtures.js';

const raw = (w: number, h: number, channels: 1 | 3) => ({ raw: { width: w, height: h, channels } });
const pixels = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37) & 255));

test('jpegFrame agrees with sharp.metadata on baseline, progressive, grey, subsampled and EXIF/ICC JPEGs', async () => {
  const cases: [string, Buffer][] = [['dog.jpg', readFileSync(DOG_JPG)]];
  for (const [w, h] of [
    [1, 1],
    [333, 500],
    [640, 7],
  ] as const) {
    cases.push([
      `${w}x${h} baseline`,
      await sharp(pixels(w * h * 3), raw(w, h, 3))
        .jpeg()
        .toBuffer(),
    ]);
    cases.push([
      `${w}x${h} progressive`,
      await sharp(pixels(w * h * 3), raw(w, h, 3))
        .jpeg({ progressive: true })
        .toBuffer(),
    ]);
    cases.push([
      `${w}x${h} 4:4:4`,
      await sharp(pixels(w * h * 3), raw(w, h, 3))
        .jpeg({ chromaSubsampling: '4:4:4' })
        .toBuffer(),
    ]);
    cases.push([
      `${w}x${h} grey`,
      await sharp(pixels(w * h), raw(w, h, 1))
        .jpeg()
        .toBuffer(),
    ]);
    cases.push([
      `${w}x${h} exif+icc`,
      await sharp(pixels(w * h * 3), raw(w, h, 3))
        .withMetadata({ orientation: 6, icc: 'p3' })
        .jpeg()
        .toBuffer(),
    ]);
  }
  for (const [what, buf] of cases) {
    const f = jpegFrame(buf);
    const m = await sharp(buf).metadata();
    assert.ok(f, what);
    assert.deepEqual([f.width, f.height, f.components], [m.width, m.height, m.channels], what);
    assert.equal(m.depth, 'uchar', what);
    assert.equal(m.space, f.components === 3 ? 'srgb' : 'b-w', what);
  }
});

test('jpegFrame leaves CMYK JPEGs, other formats and broken headers to sharp (null)', async () => {
  const cmyk = await sharp(pixels(8 * 8 * 3), raw(8, 8, 3))
    .toColourspace('cmyk')
    .jpeg()
    .toBuffer();
  assert.equal((await sharp(cmyk).metadata()).channels, 4);
  assert.equal(jpegFrame(cmyk), null);
  assert.equal(
    jpegFrame(
      await sharp(pixels(12), raw(2, 2, 3))
        .png()
        .toBuffer(),
    ),
    null,
  );
  const dog = readFileSync(DOG_JPG);
  for (const n of [0, 1, 3, 20, 100]) assert.equal(jpegFrame(dog.subarray(0, n)), null, `first ${n} bytes`);
  assert.equal(jpegFrame(Buffer.from([0xff, 0xd8, 0xff, 0xda, 0, 2])), null, 'scan before frame');
  assert.equal(jpegFrame(Buffer.from([0xff, 0xd8, 0x00, 0xc0])), null, 'not a marker');
});

test('a JPEG whose header promises too many pixels is refused before decoding, from the JavaScript header', async () => {
  const jpg = await sharp(pixels(64 * 48 * 3), raw(64, 48, 3))
    .jpeg()
    .toBuffer();
  await assert.rejects(decodeImage(jpg, 'x.jpg', { maxPixels: 64 * 48 - 1 }), /exceeds the 3071-pixel limit/);
  await assert.rejects(decodeImage(jpg, 'x.jpg', { maxDecodedBytes: 64 * 48 * 3 - 1 }), /per-image limit/);
  const img = await decodeImage(jpg);
  assert.deepEqual([img.width, img.height, img.channels], [64, 48, 3]);
});

test('grey and colour JPEGs decode through the JavaScript header to what sharp decodes', async () => {
  const grey = await sharp(pixels(31 * 17), raw(31, 17, 1))
    .jpeg()
    .toBuffer();
  const g = await sharp(grey).toColourspace('b-w').raw().toBuffer();
  assert.equal(g.length, 31 * 17);
  const img = await decodeImage(grey);
  assert.equal(img.channels, 3);
  for (let i = 0; i < g.length; i++) assert.deepEqual([...img.data.subarray(i * 3, i * 3 + 3)], [g[i], g[i], g[i]]);
  const colour = await sharp(pixels(31 * 17 * 3), raw(31, 17, 3))
    .jpeg()
    .toBuffer();
  assert.ok(Buffer.from((await decodeImage(colour)).data).equals(await sharp(colour).raw().toBuffer()));
});
