// The native resampler (native/image) against the JavaScript reference passes in resize.ts: byte for
// byte on random images, sizes and boxes, for every convolution filter and every SIMD path this CPU
// runs, in the main thread and in a worker thread. (The JS path itself is checked against PIL by
// preprocess.test.ts and transforms.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import type { ImageU8 } from '../../src/data/image.js';
import { type ResizeBox, resize } from '../../src/data/transforms/resize.js';
import { nativeImage, nativeImageError, type SimdLevel } from '../../src/data/native_image.js';
import { xorshift32 } from '../helpers/rng.js';

const FILTERS = ['box', 'bilinear', 'hamming', 'bicubic', 'lanczos'] as const;
const disabled = process.env['NOISY_STUDENT_IMAGE_NATIVE'] === '0';
const skip = disabled ? 'NOISY_STUDENT_IMAGE_NATIVE=0' : false;

const rng = xorshift32;

/** Random pixels, sometimes smooth, sometimes extreme (0/255 runs drive the clipping). The bytes
 * sit at the end of a larger buffer whose other bytes are garbage: reading past the image (or
 * before it) would change results. */
function randomImage(r: () => number, w: number, h: number, channels: 1 | 3): ImageU8 {
  const n = w * h * channels;
  const buf = new Uint8Array(n + 64);
  for (let i = 0; i < buf.length; i++) buf[i] = Math.floor(r() * 256);
  const data = buf.subarray(64);
  const mode = Math.floor(r() * 3);
  for (let i = 0; i < n; i++) {
    if (mode === 0) data[i] = Math.floor(r() * 256);
    else if (mode === 1) data[i] = r() < 0.5 ? 0 : 255;
    else data[i] = (Math.floor(i / channels) * 7 + (i % channels) * 50) & 255;
  }
  return { width: w, height: h, channels, data };
}

/** Every path this CPU runs, narrowest first. */
function levels(): SimdLevel[] {
  const order: SimdLevel[] = ['scalar', 'avx2', 'avx512'];
  return order.slice(0, order.indexOf(nativeImage()!.simd().best) + 1);
}

test('the image addon loads (built by scripts/build-image-addon.mjs)', { skip }, () => {
  assert.ok(nativeImage(), `image addon: ${nativeImageError()}`);
  const { level, best } = nativeImage()!.simd();
  assert.equal(level, process.env['NOISY_STUDENT_IMAGE_SIMD'] ? level : best);
});

for (const level of disabled ? [] : levels()) {
  test(`native ${level} passes equal the JavaScript passes, every filter, random images/sizes/boxes`, () => {
    const native = nativeImage()!;
    native.setSimd(level);
    try {
      const r = rng(0x5eed + level.length);
      for (let iter = 0; iter < 120; iter++) {
        const channels = r() < 0.8 ? 3 : 1;
        const w = 1 + Math.floor(r() * 70);
        const h = 1 + Math.floor(r() * 50);
        const img = randomImage(r, w, h, channels);
        const ow = 1 + Math.floor(r() * (r() < 0.7 ? w : 2 * w));
        const oh = 1 + Math.floor(r() * (r() < 0.7 ? h : 2 * h));
        let box: ResizeBox | undefined;
        if (r() < 0.3) {
          const x0 = r() * (w - 1);
          const y0 = r() * (h - 1);
          box = [x0, y0, x0 + r() * (w - x0), y0 + r() * (h - y0)];
        }
        for (const f of FILTERS) {
          const a = resize(img, ow, oh, f, box, 'native');
          const b = resize(img, ow, oh, f, box, 'js');
          assert.deepEqual([a.width, a.height], [b.width, b.height]);
          assert.ok(
            Buffer.from(a.data).equals(Buffer.from(b.data)),
            `${level} ${f} ${w}x${h}x${channels} -> ${ow}x${oh} box ${String(box)}`,
          );
        }
      }
      // The sizes the data path sees: ImageNet-like photos to timm's scale sizes, one axis only, upscales.
      for (const [w, h, ow, oh] of [
        [500, 375, 341, 256],
        [375, 500, 256, 341],
        [500, 375, 500, 256],
        [500, 375, 341, 375],
        [97, 61, 300, 190],
        [4000, 3, 7, 3],
      ] as const) {
        const img = randomImage(r, w, h, 3);
        for (const f of FILTERS) {
          const a = resize(img, ow, oh, f, undefined, 'native');
          const b = resize(img, ow, oh, f, undefined, 'js');
          assert.ok(Buffer.from(a.data).equals(Buffer.from(b.data)), `${level} ${f} ${w}x${h} -> ${ow}x${oh}`);
        }
      }
    } finally {
      native.setSimd(native.simd().best);
    }
  });
}

test('the addon rejects coefficient tables that would read outside the image', { skip }, () => {
  const native = nativeImage()!;
  const src = new Uint8Array(4 * 4 * 3);
  const out = new Uint8Array(2 * 4 * 3);
  const bounds = Int32Array.from([0, 2, 3, 2]); // second window reads pixels 3 and 4 of 4
  assert.throws(() => native.resample(src, 4, 4, 3, bounds, new Int32Array(4), 2, null, null, 0, 2, 4, out), /window leaves the image/);
  assert.throws(() => native.resample(src, 4, 4, 3, null, null, 0, null, null, 0, 2, 4, out), /width changes/);
  assert.throws(() => native.resample(src.subarray(1), 4, 4, 3, null, null, 0, null, null, 0, 4, 4, out), /smaller/);
});

test('the addon loads in worker threads, each with its own SIMD setting, and matches the JS passes there', { skip }, async () => {
  const native = nativeImage()!;
  native.setSimd('scalar');
  try {
    const code = `
      const { parentPort } = require('node:worker_threads');
      // tsx's hooks are per thread: register them before importing TypeScript (as loader_pool does).
      import('tsx/esm/api').then((m) => m.register()).then(() => Promise.all([
        import(${JSON.stringify(new URL('../../src/data/transforms/resize.ts', import.meta.url).href)}),
        import(${JSON.stringify(new URL('../../src/data/native_image.ts', import.meta.url).href)}),
      ])).then(([{ resize }, { nativeImage }]) => {
          const w = 123, h = 77, data = new Uint8Array(w * h * 3).map((_, i) => (i * 2654435761) >>> 24);
          const img = { width: w, height: h, channels: 3, data };
          const a = resize(img, 50, 40, 'bicubic', undefined, 'native');
          const b = resize(img, 50, 40, 'bicubic', undefined, 'js');
          parentPort.postMessage({ same: Buffer.from(a.data).equals(Buffer.from(b.data)), simd: nativeImage().simd() });
        });`;
    const results = await Promise.all(
      [0, 1].map(
        () =>
          new Promise<{ same: boolean; simd: { level: string; best: string } }>((resolve, reject) => {
            const wk = new Worker(code, { eval: true });
            wk.once('message', (m: { same: boolean; simd: { level: string; best: string } }) => {
              resolve(m);
              void wk.terminate();
            });
            wk.once('error', reject);
          }),
      ),
    );
    for (const m of results) {
      assert.equal(m.same, true);
      // The main thread's setSimd('scalar') is its own: a worker starts at the CPU's best (or the env cap).
      if (!process.env['NOISY_STUDENT_IMAGE_SIMD']) assert.equal(m.simd.level, m.simd.best);
    }
    assert.equal(native.simd().level, 'scalar');
  } finally {
    native.setSimd(native.simd().best);
  }
});
