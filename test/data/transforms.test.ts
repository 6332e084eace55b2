// Transform building blocks: resize filters, crops, config resolution, training transform with Rng.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resize, shorterSideSize } from '../../src/data/transforms/resize.js';
import { centerCropOrPad, crop } from '../../src/data/transforms/crop.js';
import { hflip } from '../../src/data/transforms/flip.js';
import { randomResizedCropParams } from '../../src/data/transforms/random_resized_crop.js';
import { resizeKeepRatioSize } from '../../src/data/transforms/resize_keep_ratio.js';
import { resolveDataConfig, DataConfigError } from '../../src/data/data_config.js';
import { createTransform, TransformError } from '../../src/data/transforms_factory.js';
import { createImage, type ImageU8 } from '../../src/data/image.js';
import { Rng } from '../../src/data/rng.js';
import { roundHalfEven } from '../../src/data/py_math.js';
import { loadImage } from '../../src/data/image_io.js';
import { DOG_JPG } from './fixtures.js';

function gradient(w: number, h: number): ImageU8 {
  const img = createImage(w, h, 3);
  for (let i = 0; i < w * h; i++) {
    img.data[i * 3] = (i * 7) % 256;
    img.data[i * 3 + 1] = (i * 13) % 256;
    img.data[i * 3 + 2] = (i * 29) % 256;
  }
  return img;
}

test('every filter keeps a constant image constant', () => {
  const img = createImage(37, 23, 3, [10, 128, 250]);
  for (const f of ['nearest', 'box', 'bilinear', 'hamming', 'bicubic', 'lanczos'] as const) {
    for (const [w, h] of [
      [11, 7],
      [80, 50],
      [37, 9],
    ] as const) {
      const out = resize(img, w, h, f);
      for (let i = 0; i < out.data.length; i += 3) assert.deepEqual([...out.data.subarray(i, i + 3)], [10, 128, 250], `${f} ${w}x${h}`);
    }
  }
});

test('nearest: 2x upscale replicates, 2x downscale picks pixel 2x+1 (PIL centre sampling)', () => {
  const img = gradient(4, 4);
  const up = resize(img, 8, 8, 'nearest');
  for (let y = 0; y < 8; y++)
    for (let x = 0; x < 8; x++) {
      assert.deepEqual(
        [...up.data.subarray((y * 8 + x) * 3, (y * 8 + x) * 3 + 3)],
        [...img.data.subarray(((y >> 1) * 4 + (x >> 1)) * 3, ((y >> 1) * 4 + (x >> 1)) * 3 + 3)],
      );
    }
  const down = resize(img, 2, 2, 'nearest');
  assert.deepEqual([...down.data.subarray(0, 3)], [...img.data.subarray((1 * 4 + 1) * 3, (1 * 4 + 1) * 3 + 3)]);
});

test('bilinear 2x downscale uses the antialiased [1,3,3,1]/8 kernel', () => {
  const img = createImage(8, 1, 1);
  img.data.set([0, 80, 160, 240, 0, 0, 0, 0]);
  const out = resize(img, 4, 1, 'bilinear');
  // output 1 centre = 3.0 in input coords, support 2: taps at 1..4 with weights 1/8 3/8 3/8 1/8.
  assert.equal(out.data[1], Math.floor((80 * 1 + 160 * 3 + 240 * 3 + 0 * 1) / 8 + 0.5));
});

test('integer box of the output size is a crop; box resize matches crop-then-resize', () => {
  const img = gradient(20, 16);
  assert.deepEqual(resize(img, 5, 6, 'bicubic', [3, 2, 8, 8]).data, crop(img, 2, 3, 6, 5).data);
});

test('torchvision Resize(int) and center crop rounding (half to even)', () => {
  assert.deepEqual(shorterSideSize(1546, 1213, 256), [326, 256]);
  assert.deepEqual(shorterSideSize(100, 300, 32), [32, 96]);
  assert.equal(roundHalfEven(0.5), 0);
  assert.equal(roundHalfEven(1.5), 2);
  assert.equal(roundHalfEven(2.5), 2);
  assert.equal(roundHalfEven(-2.5), -2);
  const img = gradient(5, 5);
  // (5 - 2) / 2 = 1.5 -> 2 ; Python round(1.5) = 2.
  assert.deepEqual(centerCropOrPad(img, 2, 2).data, crop(img, 2, 2, 2, 2).data);
  const img2 = gradient(7, 7);
  // (7 - 2) / 2 = 2.5 -> 2 (half to even), not 3.
  assert.deepEqual(centerCropOrPad(img2, 2, 2).data, crop(img2, 2, 2, 2, 2).data);
  // Larger crop pads with 0, extra pixel on the right/bottom.
  const padded = centerCropOrPad(gradient(2, 2), 5, 5);
  assert.equal(padded.width, 5);
  assert.equal(padded.data[(1 * 5 + 1) * 3], gradient(2, 2).data[0]);
});

test('resolveDataConfig: precedence, test size, validation', () => {
  const cfg = {
    input_size: [3, 475, 475],
    test_input_size: [3, 800, 800],
    crop_pct: 0.936,
    test_crop_pct: 0.96,
    interpolation: 'bicubic',
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
    crop_mode: 'center',
  };
  const a = resolveDataConfig({}, cfg);
  assert.deepEqual(a.inputSize, [3, 475, 475]);
  assert.equal(a.cropPct, 0.936);
  const b = resolveDataConfig({ useTestSize: true }, cfg);
  assert.deepEqual(b.inputSize, [3, 800, 800]);
  assert.equal(b.cropPct, 0.96);
  const c = resolveDataConfig({ imgSize: 320, cropPct: 1.0, interpolation: 'bilinear', mean: [0.1] }, { pretrainedCfg: cfg });
  assert.deepEqual(c.inputSize, [3, 320, 320]);
  assert.deepEqual(c.mean, [0.1, 0.1, 0.1]);
  assert.equal(c.interpolation, 'bilinear');
  const d = resolveDataConfig();
  assert.deepEqual(d, {
    inputSize: [3, 224, 224],
    interpolation: 'bicubic',
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    cropPct: 0.875,
    cropMode: 'center',
  });
  assert.throws(() => resolveDataConfig({ interpolation: 'cubic' }), DataConfigError);
  assert.throws(() => resolveDataConfig({ cropMode: 'middle' }), DataConfigError);
  assert.throws(() => resolveDataConfig({ mean: [0.1, 0.2] }), DataConfigError);
});

test('eval crop modes: squash and border produce the input size', async () => {
  const dog = await loadImage(DOG_JPG);
  for (const cropMode of ['squash', 'border', 'center'] as const) {
    const t = createTransform(resolveDataConfig({ inputSize: [3, 64, 48], cropMode }));
    const x = t(dog);
    assert.deepEqual(x.shape, [3, 64, 48]);
  }
  assert.deepEqual(resizeKeepRatioSize(1213, 1546, 73, 54, 1.0), [roundHalfEven(1213 / Math.max(1213 / 73, 1546 / 54)), 54]);
  // border pads with round(255 * mean).
  const t = createTransform(resolveDataConfig({ inputSize: [3, 40, 40], cropMode: 'border', cropPct: 0.5 }));
  const img = t.toImage(createImage(10, 40, 3, 0));
  assert.deepEqual([...img.data.subarray(0, 3)], [124, 116, 104]);
});

test('training transform: deterministic per Rng, needs an Rng, output shape', async () => {
  const dog = await loadImage(DOG_JPG);
  const cfg = resolveDataConfig({ inputSize: [3, 64, 64] });
  const t = createTransform(cfg, { isTraining: true, autoAugment: 'rand-m9-mstd0.5-inc1', reProb: 0.25, interpolation: 'random' });
  const a = t(dog, Rng.forSample(3, 1, 42));
  const b = t(dog, Rng.forSample(3, 1, 42));
  const c = t(dog, Rng.forSample(3, 2, 42));
  assert.deepEqual(a.shape, [3, 64, 64]);
  assert.deepEqual(a.data, b.data);
  assert.notDeepEqual(a.data, c.data);
  assert.throws(() => t(dog), TransformError);
  const plain = createTransform(cfg, { isTraining: true, colorJitter: 0.4 });
  assert.deepEqual(plain(dog, Rng.fromSeed(1)).shape, [3, 64, 64]);
  const noAug = createTransform(cfg, { isTraining: true, noAug: true });
  // no_aug = Resize(size) + CenterCrop(size) = the eval transform at crop_pct 1.
  assert.deepEqual(noAug(dog).data, createTransform({ ...cfg, cropPct: 1 })(dog).data);
});

test('one-channel models get PIL luma inputs', () => {
  const t = createTransform(resolveDataConfig({ inputSize: [1, 32, 32], mean: [0.5], std: [0.5], cropPct: 1 }));
  const x = t(createImage(28, 28, 3, [255, 0, 0]));
  assert.deepEqual(x.shape, [1, 32, 32]);
  assert.ok(Math.abs(x.data[0]! - Math.fround(Math.fround(Math.fround(76 / 255) - 0.5) / 0.5)) < 1e-7);
});

test('random resized crop: fits the image, falls back to a centred crop', () => {
  const rng = Rng.fromSeed(9);
  for (let i = 0; i < 200; i++) {
    const p = randomResizedCropParams(300, 200, [0.08, 1], [3 / 4, 4 / 3], rng);
    assert.ok(p.top >= 0 && p.left >= 0 && p.top + p.height <= 200 && p.left + p.width <= 300);
  }
  // No attempt can fit with scale > 1: the fallback clamps a 10:1 image to ratio 4/3.
  const f = randomResizedCropParams(1000, 100, [2, 3], [3 / 4, 4 / 3], rng);
  assert.deepEqual(f, { top: 0, left: Math.floor((1000 - 133) / 2), height: 100, width: 133 });
});

test('hflip mirrors rows', () => {
  const img = gradient(3, 2);
  const f = hflip(img);
  assert.deepEqual([...f.data.subarray(0, 3)], [...img.data.subarray(6, 9)]);
  assert.deepEqual(hflip(f).data, img.data);
});
