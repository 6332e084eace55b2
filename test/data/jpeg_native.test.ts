// The image addon's libjpeg decoder (native/image/src/jpeg.cc): PIL's bytes on the timm fixture,
// sharp's bytes on JPEGs of every layout sharp writes (both wrap libjpeg-turbo with the same
// settings), and errors rather than grey padding for truncated files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { nativeImage } from '../../src/data/native_image.js';
import { jpegFrame } from '../../src/data/jpeg_header.js';
import { DOG_JPG, PREPROCESS_DIR, readJson, sha256 } from './fixtures.js';

const decodeJpeg = nativeImage()?.decodeJpeg;
const skip = decodeJpeg ? false : 'image addon built without libjpeg (or disabled)';

async function native(buf: Uint8Array): Promise<Uint8Array> {
  const f = jpegFrame(buf)!;
  const out = new Uint8Array(f.width * f.height * 3);
  await decodeJpeg!(buf, f.width, f.height, out);
  return out;
}

/** sharp's decode as image_io.ts asked for it before: the file's own colour space, grey replicated. */
async function viaSharp(buf: Uint8Array): Promise<Buffer> {
  const m = await sharp(buf).metadata();
  const { data } = await sharp(buf)
    .toColourspace(m.channels === 1 ? 'b-w' : 'srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (m.channels !== 1) return data;
  const rgb = Buffer.alloc(data.length * 3);
  for (let i = 0; i < data.length; i++) rgb[i * 3] = rgb[i * 3 + 1] = rgb[i * 3 + 2] = data[i]!;
  return rgb;
}

test('dog.jpg decodes natively to the RGB bytes PIL decoded for the timm fixture', { skip }, async () => {
  const facts = readJson<{ image: { decoded_rgb_hwc_uint8_sha256: string } }>(`${PREPROCESS_DIR}configs.json`);
  assert.equal(sha256(await native(readFileSync(DOG_JPG))), facts.image.decoded_rgb_hwc_uint8_sha256);
});

test('native decode equals sharp: baseline, progressive, 4:4:4, grey, odd sizes, qualities', { skip }, async () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
  for (const [w, h] of [
    [1, 1],
    [17, 9],
    [333, 500],
    [640, 7],
  ] as const) {
    // Smooth gradients plus noise: exercises the IDCT and the chroma upsampling.
    const px = Buffer.from(Array.from({ length: w * h * 3 }, (_, i) => ((i % (w * 3)) + Math.floor(i / (w * 3)) * 2 + (rnd() >> 3)) & 255));
    const grey = Buffer.from(Array.from({ length: w * h }, (_, i) => (i * 3 + (rnd() >> 2)) & 255));
    const raw3 = { raw: { width: w, height: h, channels: 3 as const } };
    const raw1 = { raw: { width: w, height: h, channels: 1 as const } };
    const cases: [string, Buffer][] = [
      ['baseline q90', await sharp(px, raw3).jpeg({ quality: 90 }).toBuffer()],
      ['baseline q30', await sharp(px, raw3).jpeg({ quality: 30 }).toBuffer()],
      ['progressive', await sharp(px, raw3).jpeg({ progressive: true }).toBuffer()],
      ['4:4:4', await sharp(px, raw3).jpeg({ chromaSubsampling: '4:4:4' }).toBuffer()],
      ['grey', await sharp(grey, raw1).jpeg().toBuffer()],
    ];
    for (const [what, buf] of cases) {
      assert.ok(Buffer.from(await native(buf)).equals(await viaSharp(buf)), `${w}x${h} ${what}`);
    }
  }
});

test('truncated and corrupt JPEGs reject; buffers of the wrong size are refused', { skip }, async () => {
  const dog = readFileSync(DOG_JPG);
  const f = jpegFrame(dog)!;
  const out = new Uint8Array(f.width * f.height * 3);
  await assert.rejects(decodeJpeg!(dog.subarray(0, Math.floor(dog.length / 2)), f.width, f.height, out), /Premature end/);
  // A frame header libjpeg refuses (9-bit samples); corrupt scan data, by contrast, only warns and
  // is decoded as PIL decodes it.
  const broken = await sharp(Buffer.alloc(8 * 8 * 3, 90), { raw: { width: 8, height: 8, channels: 3 } })
    .jpeg()
    .toBuffer();
  broken[broken.indexOf(Buffer.from([0xff, 0xc0])) + 4] = 9; // (no EXIF thumbnail: this is the frame)
  await assert.rejects(decodeJpeg!(broken, 8, 8, new Uint8Array(8 * 8 * 3)), /precision/);
  await assert.rejects(decodeJpeg!(dog, f.width + 1, f.height, new Uint8Array((f.width + 1) * f.height * 3)), /does not match/);
  assert.throws(() => decodeJpeg!(dog, f.width, f.height, out.subarray(1)), RangeError);
});
