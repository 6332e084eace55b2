// The image addon's ToTensor + Normalize (toChw) against the JavaScript loop in to_tensor.ts: the
// same float32 bits on random images, channel counts and normalisations, written into a slot of a
// larger buffer without touching the floats around it. (The JavaScript loop itself is checked
// against timm's tensors by preprocess.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageU8 } from '../../src/data/image.js';
import { normalizeLut, toNormalizedCHW } from '../../src/data/transforms/to_tensor.js';
import { nativeImage, nativeImageError } from '../../src/data/native_image.js';
import { IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD } from '../../src/data/data_config.js';
import { xorshift32 } from '../helpers/rng.js';

const skip = process.env['NOISY_STUDENT_IMAGE_NATIVE'] === '0' ? 'NOISY_STUDENT_IMAGE_NATIVE=0' : false;

const rng = xorshift32;

const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

test('native toChw equals the JavaScript loop bit for bit, into a slot of a batch buffer', { skip }, () => {
  assert.ok(nativeImage(), `image addon: ${nativeImageError()}`);
  const r = rng(0xf10a7);
  const norms: [readonly number[] | null, readonly number[] | null][] = [
    [IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD],
    [null, null],
    [[0.5], [0.5]],
    [
      [r(), r(), r()],
      [0.1 + r(), 0.1 + r(), 0.1 + r()],
    ],
  ];
  for (let iter = 0; iter < 60; iter++) {
    const channels = r() < 0.75 ? 3 : 1;
    const w = 1 + Math.floor(r() * 90);
    const h = 1 + Math.floor(r() * 90);
    const img: ImageU8 = { width: w, height: h, channels, data: new Uint8Array(w * h * channels).map(() => Math.floor(r() * 256)) };
    const [mean, std] = norms[iter % norms.length]!;
    const n = w * h * channels;
    const js = toNormalizedCHW(img, mean, std, undefined, 'js');
    // The slot sits between sentinel floats that must survive.
    const batch = new Float32Array(n + 16).fill(-7.25);
    const slot = batch.subarray(8, 8 + n);
    const nat = toNormalizedCHW(img, mean, std, slot, 'native');
    assert.deepEqual(nat.shape, js.shape);
    assert.ok(bits(slot).equals(bits(js.data)), `${w}x${h}x${channels} mean ${String(mean)}`);
    assert.ok(batch.subarray(0, 8).every((v) => v === -7.25) && batch.subarray(8 + n).every((v) => v === -7.25));
  }
  // Every byte value, every channel.
  const all: ImageU8 = { width: 256, height: 1, channels: 3, data: new Uint8Array(768).map((_, i) => (i * 7) & 255) };
  const a = toNormalizedCHW(all, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, undefined, 'native');
  const b = toNormalizedCHW(all, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, undefined, 'js');
  assert.ok(bits(a.data).equals(bits(b.data)));
});

test('normalizeLut: x / 255, then (x - mean) / std, each step rounded to float32', () => {
  const lut = normalizeLut(3, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD);
  for (const [c, v] of [
    [0, 0],
    [1, 128],
    [2, 255],
  ] as const) {
    const f = Math.fround;
    assert.equal(lut[c * 256 + v], f(f(f(v / 255) - f(IMAGENET_DEFAULT_MEAN[c]!)) / f(IMAGENET_DEFAULT_STD[c]!)));
  }
  assert.equal(normalizeLut(3, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD), lut, 'cached');
});

test('native toChw checks its arguments', { skip }, () => {
  const native = nativeImage()!;
  const lut = normalizeLut(3, null, null);
  assert.throws(() => native.toChw(new Uint8Array(11), 2, 2, 3, lut, new Float32Array(12)), /src is smaller/);
  assert.throws(() => native.toChw(new Uint8Array(12), 2, 2, 3, lut, new Float32Array(11)), /out is smaller/);
  assert.throws(() => native.toChw(new Uint8Array(12), 2, 2, 3, lut.subarray(1), new Float32Array(12)), /256 values/);
});
