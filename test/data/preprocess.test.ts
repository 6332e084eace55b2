// timm eval preprocessing parity against ../shared/fixtures/timm/preprocess (Pillow 9.4 + timm).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadImage } from '../../src/data/image_io.js';
import { resolveDataConfig, evalScaleSize, type PretrainedCfgLike } from '../../src/data/data_config.js';
import { createTransform } from '../../src/data/transforms_factory.js';
import { resizeShorterSide, shorterSideSize } from '../../src/data/transforms/resize.js';
import { centerCropBox, centerCropOrPad } from '../../src/data/transforms/crop.js';
import { fromNormalizedCHW } from '../../src/data/transforms/to_tensor.js';
import { DOG_JPG, PREPROCESS_DIR, diffStats, readJson, readTensors, sha256 } from './fixtures.js';

interface ArchFacts {
  resolve_data_config: PretrainedCfgLike;
  scale_size: number;
  resized_size_wh: [number, number];
  crop_box_left_top_right_bottom: [number, number, number, number];
  resized_u8_hwc_sha256: string;
  cropped_u8_hwc_sha256: string;
  tensor_key: string;
}
interface Facts {
  image: {
    pil_size_wh: [number, number];
    decoded_rgb_hwc_uint8_sha256: string;
    decoded_rgb_channel_means: [number, number, number];
    decoded_rgb_corner_pixels: Record<string, [number, number, number]>;
  };
  [arch: string]: unknown;
}

const facts = readJson<Facts>(`${PREPROCESS_DIR}configs.json`);
const tensors = readTensors(`${PREPROCESS_DIR}preprocess.safetensors`);
const ARCHS = ['tf_efficientnet_b0.ns_jft_in1k', 'tf_efficientnet_b3.ns_jft_in1k'];

test('dog.jpg decodes to the same RGB bytes as PIL', async () => {
  const img = await loadImage(DOG_JPG);
  const f = facts.image;
  assert.deepEqual([img.width, img.height], f.pil_size_wh);
  assert.equal(img.channels, 3);
  const means = [0, 0, 0];
  for (let i = 0; i < img.data.length; i++) means[i % 3]! += img.data[i]!;
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(means[c]! / (img.width * img.height) - f.decoded_rgb_channel_means[c]!) < 1e-9);
  const px = (x: number, y: number) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
  const { width: w, height: h } = img;
  assert.deepEqual(px(0, 0), f.decoded_rgb_corner_pixels['top_left']);
  assert.deepEqual(px(w - 1, 0), f.decoded_rgb_corner_pixels['top_right']);
  assert.deepEqual(px(0, h - 1), f.decoded_rgb_corner_pixels['bottom_left']);
  assert.deepEqual(px(w - 1, h - 1), f.decoded_rgb_corner_pixels['bottom_right']);
  assert.equal(sha256(img.data), f.decoded_rgb_hwc_uint8_sha256);
});

for (const arch of ARCHS) {
  const a = facts[arch] as ArchFacts;
  test(`${arch}: resolved config, scale size and crop box`, () => {
    const cfg = resolveDataConfig({}, a.resolve_data_config);
    assert.deepEqual(cfg.inputSize, a.resolve_data_config.input_size);
    assert.equal(evalScaleSize(cfg)[0], a.scale_size);
    const [pw, ph] = facts.image.pil_size_wh;
    assert.deepEqual(shorterSideSize(pw, ph, a.scale_size), a.resized_size_wh);
    const [, h, w] = cfg.inputSize;
    assert.deepEqual(centerCropBox(a.resized_size_wh[0], a.resized_size_wh[1], w, h), a.crop_box_left_top_right_bottom);
  });

  test(`${arch}: PIL bicubic resize and center crop are bit-exact`, async () => {
    const img = await loadImage(DOG_JPG);
    const resized = resizeShorterSide(img, a.scale_size, 'bicubic');
    assert.deepEqual([resized.width, resized.height], a.resized_size_wh);
    assert.equal(sha256(resized.data), a.resized_u8_hwc_sha256);
    const [, h, w] = a.resolve_data_config.input_size!;
    const cropped = centerCropOrPad(resized, h!, w!);
    assert.equal(sha256(cropped.data), a.cropped_u8_hwc_sha256);
  });

  test(`${arch}: eval transform equals timm's tensor`, async () => {
    const cfg = resolveDataConfig({}, { pretrainedCfg: a.resolve_data_config });
    const transform = createTransform(cfg);
    const out = transform(await loadImage(DOG_JPG));
    const ref = tensors.get(a.tensor_key)!;
    assert.deepEqual(out.shape, ref.shape);
    const s = diffStats(out.data, ref.data, 1e-6);
    console.log(
      `${arch}: max |diff| ${s.max.toExponential(3)}, mean ${s.mean.toExponential(3)}, within 1e-6: ${(s.within * 100).toFixed(4)}%`,
    );
    assert.ok(s.max <= 1e-6, `max diff ${s.max}`);
    // The uint8 crop recovered from timm's tensor is the crop we computed.
    const back = fromNormalizedCHW({ data: ref.data as Float32Array, shape: out.shape }, cfg.mean, cfg.std);
    assert.equal(sha256(back.data), a.cropped_u8_hwc_sha256);
  });
}
