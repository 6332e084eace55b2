// resizeCrop (the resampler reading a crop in place: RandomResizedCrop's resize) against PIL's
// crop-then-resize as our resize reproduces it: byte for byte on random images, crops, sizes and
// every filter, on the JavaScript and the native passes. Crop-then-resize clamps the filter windows
// to the crop's edges (resize with box= would read past them), so any slip in the moved windows
// shows up at the borders.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageU8 } from '../../src/data/image.js';
import { RESAMPLE_FILTERS, resize, resizeCrop } from '../../src/data/transforms/resize.js';
import { crop } from '../../src/data/transforms/crop.js';
import { randomResizedCropParams, resizedCrop } from '../../src/data/transforms/random_resized_crop.js';
import { nativeImage } from '../../src/data/native_image.js';
import { Rng } from '../../src/data/rng.js';
import { xorshift32 } from '../helpers/rng.js';

function randomImage(r: () => number, w: number, h: number, channels: 1 | 3): ImageU8 {
  const data = new Uint8Array(w * h * channels);
  const extreme = r() < 0.3;
  for (let i = 0; i < data.length; i++) data[i] = extreme ? (r() < 0.5 ? 0 : 255) : Math.floor(r() * 256);
  return { width: w, height: h, channels, data };
}

const backends = nativeImage() ? (['js', 'native'] as const) : (['js'] as const);

test('resizeCrop equals crop then resize: random images, crops, sizes, every filter, both backends', () => {
  const r = xorshift32(0xc0de);
  for (let iter = 0; iter < 200; iter++) {
    const channels = r() < 0.8 ? 3 : 1;
    const w = 1 + Math.floor(r() * 90);
    const h = 1 + Math.floor(r() * 70);
    const img = randomImage(r, w, h, channels);
    const cw = 1 + Math.floor(r() * w);
    const chh = 1 + Math.floor(r() * h);
    const left = Math.floor(r() * (w - cw + 1));
    const top = Math.floor(r() * (h - chh + 1));
    // Down, up, and sometimes an axis that keeps the crop's size.
    const ow = r() < 0.1 ? cw : 1 + Math.floor(r() * 2 * cw);
    const oh = r() < 0.1 ? chh : 1 + Math.floor(r() * 2 * chh);
    for (const f of RESAMPLE_FILTERS) {
      for (const backend of backends) {
        const want = resize(crop(img, top, left, chh, cw), ow, oh, f, undefined, backend);
        const got = resizeCrop(img, left, top, cw, chh, ow, oh, f, backend);
        const what = `${backend} ${f} ${w}x${h}x${channels} crop ${cw}x${chh}@(${left},${top}) -> ${ow}x${oh}`;
        assert.deepEqual([got.width, got.height, got.channels], [ow, oh, channels], what);
        assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), what);
      }
    }
  }
});

test('RandomResizedCrop at 224 on a 500x375 image: the in-place crop gives the crop-first bytes', () => {
  const r = xorshift32(0x224);
  const img = randomImage(r, 500, 375, 3);
  for (let i = 0; i < 20; i++) {
    const p = randomResizedCropParams(500, 375, [0.08, 1], [3 / 4, 4 / 3], Rng.forSample(7, 0, i));
    for (const f of ['bilinear', 'bicubic'] as const) {
      const want = resize(crop(img, p.top, p.left, p.height, p.width), 224, 224, f);
      assert.ok(Buffer.from(resizedCrop(img, p, 224, 224, f).data).equals(Buffer.from(want.data)), `${f} ${JSON.stringify(p)}`);
    }
  }
});
