// resizeWindow (only the output pixels a crop keeps) against the full resize followed by the crop:
// byte for byte on random images, sizes, boxes and windows, every filter, JavaScript and native
// passes; and on the timm fixture, where the eval transform's crop must keep timm's exact bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ImageU8 } from '../../src/data/image.js';
import {
  type ResizeBox,
  type ResampleFilter,
  RESAMPLE_FILTERS,
  resize,
  resizeShorterSide,
  resizeWindow,
  shorterSideSize,
} from '../../src/data/transforms/resize.js';
import { centerCropBox, crop } from '../../src/data/transforms/crop.js';
import { nativeImage } from '../../src/data/native_image.js';
import { loadImage } from '../../src/data/image_io.js';
import { resolveDataConfig, type PretrainedCfgLike } from '../../src/data/data_config.js';
import { createTransform } from '../../src/data/transforms_factory.js';
import { DOG_JPG, PREPROCESS_DIR, readJson, sha256 } from './fixtures.js';
import { xorshift32 } from '../helpers/rng.js';

const rng = xorshift32;

function randomImage(r: () => number, w: number, h: number, channels: 1 | 3): ImageU8 {
  const data = new Uint8Array(w * h * channels);
  const extreme = r() < 0.3; // 0/255 runs drive the clipping
  for (let i = 0; i < data.length; i++) data[i] = extreme ? (r() < 0.5 ? 0 : 255) : Math.floor(r() * 256);
  return { width: w, height: h, channels, data };
}

const backends = nativeImage() ? (['js', 'native'] as const) : (['js'] as const);

function check(img: ImageU8, ow: number, oh: number, f: ResampleFilter, box: ResizeBox | undefined, win: [number, number, number, number]) {
  for (const backend of backends) {
    const full = resize(img, ow, oh, f, box, backend);
    const want = crop(full, win[1], win[0], win[3], win[2]);
    const got = resizeWindow(img, ow, oh, win, f, box, backend);
    const what = `${backend} ${f} ${img.width}x${img.height}x${img.channels} -> ${ow}x${oh} box ${String(box)} window ${win.join(',')}`;
    assert.deepEqual([got.width, got.height, got.channels], [win[2], win[3], img.channels], what);
    assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), what);
  }
}

test('resizeWindow equals resize then crop: random images, sizes, boxes and windows, every filter', () => {
  const r = rng(0x3141);
  for (let iter = 0; iter < 150; iter++) {
    const channels = r() < 0.8 ? 3 : 1;
    const w = 1 + Math.floor(r() * 80);
    const h = 1 + Math.floor(r() * 60);
    const img = randomImage(r, w, h, channels);
    // Sometimes one axis keeps its size (that pass is skipped), sometimes upscales.
    const ow = r() < 0.15 ? w : 1 + Math.floor(r() * (r() < 0.7 ? w : 2 * w));
    const oh = r() < 0.15 ? h : 1 + Math.floor(r() * (r() < 0.7 ? h : 2 * h));
    let box: ResizeBox | undefined;
    if (r() < 0.3) {
      const x0 = Math.floor(r() * w * 4) / 4;
      const y0 = Math.floor(r() * h * 4) / 4;
      box = [x0, y0, x0 + Math.floor(r() * (w - x0) * 4) / 4, y0 + Math.floor(r() * (h - y0) * 4) / 4];
    }
    const ww = 1 + Math.floor(r() * ow);
    const wh = 1 + Math.floor(r() * oh);
    const win: [number, number, number, number] = [Math.floor(r() * (ow - ww + 1)), Math.floor(r() * (oh - wh + 1)), ww, wh];
    for (const f of RESAMPLE_FILTERS) check(img, ow, oh, f, box, win);
  }
});

test('resizeWindow: the eval transform sizes (shorter side to the scale size, center crop)', () => {
  const r = rng(0x2718);
  for (const [w, h, scale, crop] of [
    [500, 375, 256, 224],
    [375, 500, 256, 224],
    [640, 427, 320, 300],
    [224, 224, 256, 224],
    [97, 61, 256, 224],
    [257, 1000, 256, 224],
  ] as const) {
    const img = randomImage(r, w, h, 3);
    const [ow, oh] = shorterSideSize(w, h, scale);
    const [left, top] = centerCropBox(ow, oh, crop, crop);
    for (const f of ['bicubic', 'bilinear'] as const) check(img, ow, oh, f, undefined, [left, top, crop, crop]);
  }
});

test('resizeWindow refuses a window outside the output', () => {
  const img = randomImage(rng(1), 10, 10, 3);
  assert.throws(() => resizeWindow(img, 8, 8, [1, 0, 8, 8]), /not inside/);
  assert.throws(() => resizeWindow(img, 8, 8, [0, 0, 0, 8]), /not inside/);
});

interface ArchFacts {
  resolve_data_config: PretrainedCfgLike;
  scale_size: number;
  resized_size_wh: [number, number];
  crop_box_left_top_right_bottom: [number, number, number, number];
  cropped_u8_hwc_sha256: string;
}
const facts = readJson<Record<string, unknown>>(`${PREPROCESS_DIR}configs.json`);

for (const arch of ['tf_efficientnet_b0.ns_jft_in1k', 'tf_efficientnet_b3.ns_jft_in1k']) {
  test(`${arch}: the windowed resize and the eval transform's uint8 crop keep timm's bytes`, async () => {
    const a = facts[arch] as ArchFacts;
    const img = await loadImage(DOG_JPG);
    const [l, t, rr, b] = a.crop_box_left_top_right_bottom;
    const [ow, oh] = a.resized_size_wh;
    for (const backend of backends) {
      const win = resizeWindow(img, ow, oh, [l, t, rr - l, b - t], 'bicubic', undefined, backend);
      assert.equal(sha256(win.data), a.cropped_u8_hwc_sha256, backend);
    }
    assert.deepEqual([resizeShorterSide(img, a.scale_size, 'bicubic').width], [ow]);
    const transform = createTransform(resolveDataConfig({}, { pretrainedCfg: a.resolve_data_config }));
    assert.equal(sha256(transform.toImage(img).data), a.cropped_u8_hwc_sha256);
  });
}

test('the eval transform (every crop mode, images smaller and larger than the crop) equals resize then crop', async () => {
  const { centerCropOrPad } = await import('../../src/data/transforms/crop.js');
  const { resizeKeepRatio } = await import('../../src/data/transforms/resize_keep_ratio.js');
  const { evalScaleSize } = await import('../../src/data/data_config.js');
  const { roundHalfEven } = await import('../../src/data/py_math.js');
  const r = rng(0x1618);
  for (const cropMode of ['center', 'squash', 'border'] as const) {
    for (const inputSize of [
      [3, 32, 32],
      [3, 24, 40],
    ] as const) {
      const cfg = resolveDataConfig({ inputSize: [...inputSize], cropMode, cropPct: r() < 0.5 ? 0.875 : 1.15, interpolation: 'bicubic' });
      const transform = createTransform(cfg);
      const [, h, w] = cfg.inputSize;
      const [sh, sw] = evalScaleSize(cfg);
      for (let i = 0; i < 12; i++) {
        const img = randomImage(r, 5 + Math.floor(r() * 70), 5 + Math.floor(r() * 70), 3);
        let want: ImageU8;
        if (cropMode === 'squash') want = centerCropOrPad(resize(img, sw, sh, 'bicubic'), h, w);
        else if (cropMode === 'border')
          want = centerCropOrPad(
            resizeKeepRatio(img, sh, sw, 1.0, 'bicubic'),
            h,
            w,
            cfg.mean.map((m) => roundHalfEven(255 * m)),
          );
        else if (sh === sw) want = centerCropOrPad(resizeShorterSide(img, sh, 'bicubic'), h, w);
        else want = centerCropOrPad(resizeKeepRatio(img, sh, sw, 0.0, 'bilinear'), h, w);
        const got = transform.toImage(img);
        const what = `${cropMode} ${inputSize.join('x')} crop_pct ${cfg.cropPct} from ${img.width}x${img.height}`;
        assert.deepEqual([got.width, got.height], [w, h], what);
        assert.ok(Buffer.from(got.data).equals(Buffer.from(want.data)), what);
      }
    }
  }
});

test('coefficient rows: a slice of the table equals those rows of the full table; the cache returns the same tables', async () => {
  const { FILTERS, cachedCoeffs, precomputeCoeffs } = await import('../../src/data/transforms/resample_coeffs.js');
  for (const f of Object.values(FILTERS)) {
    for (const [inSize, outSize, in0, in1] of [
      [500, 341, 0, 500],
      [375, 256, 0, 375],
      [61, 190, 0, 61],
      [80, 33, 10.25, 71.5],
    ] as const) {
      const full = precomputeCoeffs(inSize, in0, in1, outSize, f);
      const first = Math.floor(outSize / 5);
      const count = Math.floor(outSize / 2);
      const part = precomputeCoeffs(inSize, in0, in1, outSize, f, first, count);
      assert.deepEqual(part.bounds, full.bounds.slice(first * 2, (first + count) * 2));
      assert.deepEqual(part.kk, full.kk.slice(first * full.ksize, (first + count) * full.ksize));
      const c1 = cachedCoeffs(inSize, in0, in1, outSize, f, first, count);
      assert.deepEqual(c1, part);
      assert.equal(cachedCoeffs(inSize, in0, in1, outSize, f, first, count), c1, 'cached');
    }
  }
  assert.throws(() => precomputeCoeffs(10, 0, 10, 5, FILTERS.bicubic, 3, 3), RangeError);
});
