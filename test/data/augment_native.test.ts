// RandAugment's pixel loops in the image addon (native/image/src/augment.cc) against the JavaScript
// reference in augment_ops.ts (NOISY_STUDENT_IMAGE_NATIVE=0), byte for byte on random images and
// parameters: the affine transform through rotate, shear x/y, translate x/y and raw matrices (the
// scale, 16.16 fixed-point and float nearest paths, bilinear, bicubic), fill colours, RGB and L;
// SMOOTH, blend inside and outside [0, 1], and the LUT ops. (rand_augment_ops.test.ts checks the
// default path, native when built, against Pillow's own bytes.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageU8 } from '../../src/data/image.js';
import { nativeImage } from '../../src/data/native_image.js';
import {
  type AffineMatrix,
  type AffineResample,
  affineTransform,
  autoContrast,
  blend,
  brightness,
  color,
  contrast,
  equalize,
  invert,
  posterize,
  rotate,
  sharpness,
  shearX,
  shearY,
  smooth,
  solarize,
  solarizeAdd,
  translateX,
  translateXRel,
  translateY,
  translateYRel,
} from '../../src/data/augment_ops.js';
import { xorshift32 } from '../helpers/rng.js';

const built = nativeImage() !== null && typeof nativeImage()!.affine === 'function';
const skip = built ? false : 'the image addon is not built (node scripts/build-image-addon.mjs)';

function randomImage(r: () => number, w: number, h: number, channels: 1 | 3): ImageU8 {
  const data = new Uint8Array(w * h * channels);
  const kind = r();
  for (let i = 0; i < data.length; i++) {
    // Noise, 0/255 runs (the clipping and the cubic's overshoot), or a smooth gradient.
    data[i] = kind < 0.4 ? Math.floor(r() * 256) : kind < 0.7 ? (r() < 0.5 ? 0 : 255) : (i * 7 + Math.floor(i / (w * channels)) * 3) & 255;
  }
  return { width: w, height: h, channels, data };
}

/** The op on the JavaScript path and on the native path; both results must be the same bytes. */
function same(what: string, op: () => ImageU8): void {
  const saved = process.env['NOISY_STUDENT_IMAGE_NATIVE'];
  let js: ImageU8;
  try {
    process.env['NOISY_STUDENT_IMAGE_NATIVE'] = '0';
    js = op();
  } finally {
    if (saved === undefined) delete process.env['NOISY_STUDENT_IMAGE_NATIVE'];
    else process.env['NOISY_STUDENT_IMAGE_NATIVE'] = saved;
  }
  const nat = op();
  assert.deepEqual([nat.width, nat.height, nat.channels], [js.width, js.height, js.channels], what);
  const a = Buffer.from(nat.data.buffer, nat.data.byteOffset, nat.data.byteLength);
  const b = Buffer.from(js.data.buffer, js.data.byteOffset, js.data.byteLength);
  if (!a.equals(b)) {
    let i = 0;
    while (a[i] === b[i]) i++;
    assert.fail(`${what}: byte ${i} native ${a[i]} vs JavaScript ${b[i]}`);
  }
}

const RESAMPLES: readonly AffineResample[] = ['nearest', 'bilinear', 'bicubic'];

function randomFill(r: () => number, channels: number): number | number[] {
  if (r() < 0.3) return Math.floor(r() * 256);
  return Array.from({ length: channels }, () => Math.floor(r() * 256));
}

function randomCase(r: () => number): { img: ImageU8; tag: string } {
  const channels = r() < 0.7 ? 3 : 1;
  const w = 1 + Math.floor(r() * (r() < 0.8 ? 48 : 230));
  const h = 1 + Math.floor(r() * (r() < 0.8 ? 48 : 230));
  return { img: randomImage(r, w, h, channels), tag: `${w}x${h}x${channels}` };
}

test('rotate, shear x/y, translate x/y: native equals JavaScript (all resamples, fills, RGB and L)', { skip }, () => {
  const r = xorshift32(0x51ed);
  for (let iter = 0; iter < 300; iter++) {
    const { img, tag } = randomCase(r);
    const fill = randomFill(r, img.channels);
    for (const rs of RESAMPLES) {
      // Random angles, quarter turns, and angles just off them.
      const deg = r() < 0.2 ? [0, 90, 180, 270, -90, 450][Math.floor(r() * 6)]! + (r() < 0.5 ? 0 : 1e-9) : (r() - 0.5) * 720;
      same(`rotate ${deg} ${rs} ${tag}`, () => rotate(img, deg, rs, fill));
      const sh = (r() - 0.5) * 1.2;
      same(`shearX ${sh} ${rs} ${tag}`, () => shearX(img, sh, rs, fill));
      same(`shearY ${sh} ${rs} ${tag}`, () => shearY(img, sh, rs, fill));
      const px = r() < 0.5 ? Math.round((r() - 0.5) * 2 * img.width) : (r() - 0.5) * 2.5 * img.width;
      same(`translateX ${px} ${rs} ${tag}`, () => translateX(img, px, rs, fill));
      same(`translateY ${px} ${rs} ${tag}`, () => translateY(img, px, rs, fill));
      const pct = (r() - 0.5) * 0.9;
      same(`translateXRel ${pct} ${rs} ${tag}`, () => translateXRel(img, pct, rs, fill));
      same(`translateYRel ${pct} ${rs} ${tag}`, () => translateYRel(img, pct, rs, fill));
    }
  }
});

test('raw affine matrices: the scale, fixed-point and float nearest paths, other output sizes', { skip }, () => {
  const r = xorshift32(0xaff1);
  for (let iter = 0; iter < 300; iter++) {
    const { img, tag } = randomCase(r);
    const kind = Math.floor(r() * 4);
    const s = () => (r() - 0.5) * 4;
    let m: AffineMatrix;
    if (kind === 0)
      m = [s(), 0, s() * img.width, 0, s(), s() * img.height]; // pure scale: ImagingScaleAffine
    else if (kind === 1)
      m = [s(), s(), s() * img.width, s(), s(), s() * img.height]; // fixed point
    else if (kind === 2)
      m = [s(), s(), 40000 + s(), s(), s(), -40000 + s()]; // past 32768: the float path
    else m = [s() * 1e4, s(), s(), s(), s() * 1e-4, s()]; // extreme slopes
    const ow = 1 + Math.floor(r() * 60);
    const oh = 1 + Math.floor(r() * 60);
    const fill = randomFill(r, img.channels);
    for (const rs of RESAMPLES)
      same(`affine [${m.join(', ')}] ${rs} ${tag} -> ${ow}x${oh}`, () => affineTransform(img, m, rs, fill, ow, oh));
  }
});

test('smooth, sharpness, blend, color: native equals JavaScript (float32 steps, clipping when extrapolating)', { skip }, () => {
  const r = xorshift32(0x5a0f);
  for (let iter = 0; iter < 200; iter++) {
    const { img, tag } = randomCase(r);
    const other = randomImage(r, img.width, img.height, img.channels as 1 | 3);
    const f = r() < 0.2 ? [0, 1, 0.5, -1e-8, 1 + 1e-8][Math.floor(r() * 5)]! : (r() - 0.3) * 4;
    same(`smooth ${tag}`, () => smooth(img));
    same(`sharpness ${f} ${tag}`, () => sharpness(img, f));
    same(`blend ${f} ${tag}`, () => blend(img, other, f));
    same(`color ${f} ${tag}`, () => color(img, f));
  }
});

test(
  'LUT ops (autocontrast, equalize, invert, posterize, solarize, solarize_add, contrast, brightness): native equals JavaScript',
  { skip },
  () => {
    const r = xorshift32(0x1075);
    for (let iter = 0; iter < 150; iter++) {
      const { img, tag } = randomCase(r);
      const f = (r() - 0.3) * 4;
      same(`autoContrast ${tag}`, () => autoContrast(img));
      same(`equalize ${tag}`, () => equalize(img));
      same(`invert ${tag}`, () => invert(img));
      const bits = Math.floor(r() * 9);
      same(`posterize ${bits} ${tag}`, () => posterize(img, bits));
      const th = Math.floor(r() * 257);
      same(`solarize ${th} ${tag}`, () => solarize(img, th));
      const add = Math.floor(r() * 110);
      same(`solarizeAdd ${add} ${th} ${tag}`, () => solarizeAdd(img, add, th));
      same(`contrast ${f} ${tag}`, () => contrast(img, f));
      same(`brightness ${f} ${tag}`, () => brightness(img, f));
    }
  },
);

test('the native loops check their arguments', { skip }, () => {
  const n = nativeImage()!;
  const src = new Uint8Array(12);
  assert.throws(() => n.affine(src, 2, 2, 3, new Float64Array(5), 1, new Uint8Array(12), 2, 2, new Uint8Array(3)), /matrix needs 6 values/);
  assert.throws(
    () => n.affine(src, 3, 2, 3, new Float64Array(6), 1, new Uint8Array(12), 2, 2, new Uint8Array(3)),
    /smaller than width x height/,
  );
  assert.throws(
    () => n.affine(src, 2, 2, 3, new Float64Array(6), 1, new Uint8Array(11), 2, 2, new Uint8Array(3)),
    /out has the wrong size/,
  );
  assert.throws(() => n.affine(src, 2, 2, 3, new Float64Array(6), 1, new Uint8Array(12), 2, 2, new Uint8Array(1)), /one byte per channel/);
  assert.throws(() => n.smooth(src, 2, 2, 3, new Uint8Array(3)), /out has the wrong size/);
  assert.throws(() => n.blend(src, new Uint8Array(11), 0.5, new Uint8Array(12)), /differ in size/);
  assert.throws(() => n.lut(src, 3, new Uint8Array(100), new Uint8Array(12)), /256 entries/);
});
