// Each RandAugment op at the fixture's argument against Pillow 9.4 via timm
// (../shared/fixtures/timm/randaugment). Exactness is asserted; the per-op stats are printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOp, type AugmentOpName, DEFAULT_HPARAMS, type AugmentHparams } from '../../src/data/rand_augment.js';
import { Rng } from '../../src/data/rng.js';
import type { ImageU8 } from '../../src/data/image.js';
import { loadImage } from '../../src/data/image_io.js';
import { resizeShorterSide } from '../../src/data/transforms/resize.js';
import { centerCropOrPad } from '../../src/data/transforms/crop.js';
import { DOG_JPG, RANDAUGMENT_DIR, diffStats, readJson, readTensors, sha256 } from './fixtures.js';

interface OpsJson {
  base: { sha256_hwc_bytes: string };
  transform_list_names: AugmentOpName[];
  hparams: { img_mean: [number, number, number] };
  ops: Record<string, { args: number[]; resample_alt_bilinear_key?: string }>;
}
const spec = readJson<OpsJson>(`${RANDAUGMENT_DIR}ops.json`);
const tensors = readTensors(`${RANDAUGMENT_DIR}randaugment.safetensors`);
const baseT = tensors.get('base')!;
const base: ImageU8 = { width: baseT.shape[1]!, height: baseT.shape[0]!, channels: 3, data: baseT.data as Uint8Array };
const GEOMETRIC = new Set(['Rotate', 'ShearX', 'ShearY', 'TranslateXRel', 'TranslateYRel']);

test('the base image is dog.jpg -> Resize(96, bicubic) -> CenterCrop(96)', async () => {
  const img = centerCropOrPad(resizeShorterSide(await loadImage(DOG_JPG), 96, 'bicubic'), 96, 96);
  assert.equal(sha256(img.data), spec.base.sha256_hwc_bytes);
  assert.equal(sha256(base.data), spec.base.sha256_hwc_bytes);
});

const cases: [string, AugmentOpName, 'bicubic' | 'bilinear'][] = [];
for (const name of spec.transform_list_names) {
  cases.push([name, name, 'bicubic']);
  if (GEOMETRIC.has(name)) cases.push([`${name}.bilinear`, name, 'bilinear']);
}

for (const [key, name, resample] of cases) {
  test(`${key} matches Pillow`, () => {
    const args = spec.ops[name]!.args;
    const hp: AugmentHparams = { ...DEFAULT_HPARAMS, fill: spec.hparams.img_mean, interpolation: resample };
    const out = applyOp(base, name, args.length ? args[0]! : null, hp, Rng.fromSeed(0));
    const ref = tensors.get(key)!;
    const s = diffStats(out.data, ref.data, 1);
    const exact = diffStats(out.data, ref.data, 0).within;
    console.log(
      `${key}: max |diff| ${s.max}, mean ${s.mean.toExponential(2)}, within 1 level ${(s.within * 100).toFixed(3)}%, exact ${(exact * 100).toFixed(3)}%`,
    );
    assert.equal(s.max, 0, `${key} differs from Pillow by up to ${s.max}`);
  });
}
