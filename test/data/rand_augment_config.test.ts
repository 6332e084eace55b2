// RandAugment grammar, level -> argument conversion (against the fixture's timm arguments) and the
// behaviour of the composed transform with an explicit Rng.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseRandAugment,
  levelToArg,
  createRandAugment,
  RandAugmentConfigError,
  DEFAULT_HPARAMS,
  RAND_TRANSFORMS,
  RAND_INCREASING_TRANSFORMS,
  NOISY_STUDENT_TRANSFORMS,
  type AugmentOpName,
} from '../../src/data/rand_augment.js';
import { Rng } from '../../src/data/rng.js';
import type { ImageU8 } from '../../src/data/image.js';
import { RANDAUGMENT_DIR, readJson, readTensors } from './fixtures.js';

const spec = readJson<{ transform_list_names: string[]; magnitude: number; ops: Record<string, { args: number[] }> }>(
  `${RANDAUGMENT_DIR}ops.json`,
);

test("levelToArg reproduces timm's LEVEL_TO_ARG at the fixture's magnitude", () => {
  // random() = 0 keeps the sign positive, as the fixture forced it.
  const positive = { random: () => 0 } as unknown as Rng;
  const hp = { ...DEFAULT_HPARAMS, translatePct: 0.45 };
  for (const name of spec.transform_list_names) {
    const arg = levelToArg(name as AugmentOpName, spec.magnitude, hp, positive);
    const expected = spec.ops[name]!.args;
    assert.deepEqual(arg === null ? [] : [arg], expected, name);
  }
  const negative = { random: () => 0.9 } as unknown as Rng;
  assert.equal(levelToArg('Rotate', 9, hp, negative), -27);
});

test('the timm op list is the one the fixture lists', () => {
  assert.deepEqual([...RAND_TRANSFORMS], spec.transform_list_names);
});

test('timm grammar', () => {
  const a = parseRandAugment('rand-m9-n2-mstd0.5-inc1');
  assert.equal(a.variant, 'timm');
  assert.equal(a.magnitude, 9);
  assert.equal(a.numLayers, 2);
  assert.equal(a.magnitudeStd, 0.5);
  assert.equal(a.prob, 0.5);
  assert.equal(a.magnitudeMax, 10);
  assert.deepEqual(a.ops, RAND_INCREASING_TRANSFORMS);
  const b = parseRandAugment('rand-m15-mmax20-p1.0-mstd101');
  assert.equal(b.magnitudeMax, 20);
  assert.equal(b.prob, 1);
  assert.equal(b.magnitudeStd, Infinity);
  assert.deepEqual(b.ops, RAND_TRANSFORMS);
  const d = parseRandAugment('rand');
  assert.equal(d.magnitude, 10);
  assert.equal(d.numLayers, 2);
  const w = parseRandAugment('rand-mstd1-tweights');
  assert.ok(w.weights && Math.abs(w.weights.reduce((s, x) => s + x, 0) - 1) < 1e-12);
  assert.equal(parseRandAugment('rand-inc0').ops, RAND_TRANSFORMS);
});

test('Noisy Student grammar', () => {
  const c = parseRandAugment('nsrand-m27-n2');
  assert.equal(c.variant, 'noisy_student');
  assert.equal(c.magnitude, 27);
  assert.equal(c.prob, 1);
  assert.equal(c.magnitudeMax, Infinity);
  assert.deepEqual(c.ops, NOISY_STUDENT_TRANSFORMS);
  assert.ok(!parseRandAugment('nsrand-cutout0').ops.includes('Cutout'));
  assert.equal(parseRandAugment('nsrand').magnitude, 27);
});

test('malformed strings name the bad section', () => {
  const bad: [string, string][] = [
    ['rand-m9-x3', 'x3'],
    ['rand-m9-n', 'n'],
    ['rand-mfoo', 'mfoo'],
    ['rand-m9.5', 'm9.5'],
    ['randaug-m9', 'randaug'],
    ['rand-m9--n2', ''],
    ['rand-m9-m10', 'm10'],
    ['rand-p1.5', 'p1.5'],
    ['rand-t3a', 't3a'],
    ['nsrand-p0.5', 'p0.5'],
    ['rand-cutout1', 'cutout1'],
  ];
  for (const [s, tok] of bad) {
    assert.throws(
      () => parseRandAugment(s),
      (e: unknown) => e instanceof RandAugmentConfigError && e.token === tok && e.message.includes(`"${tok}"`),
      s,
    );
  }
});

const baseT = readTensors(`${RANDAUGMENT_DIR}randaugment.safetensors`).get('base')!;
const base: ImageU8 = { width: 96, height: 96, channels: 3, data: baseT.data as Uint8Array };

test('the composed transform is a function of the Rng only', () => {
  const ra = createRandAugment('rand-m9-n2-mstd0.5', { fill: [124, 116, 104] });
  const a = ra(base, Rng.forSample(1, 0, 5));
  const b = ra(base, Rng.forSample(1, 0, 5));
  assert.deepEqual(a.data, b.data);
  let differs = 0;
  for (let i = 0; i < 20; i++) {
    const c = ra(base, Rng.forSample(1, 0, 100 + i));
    if (!Buffer.from(c.data).equals(Buffer.from(a.data))) differs++;
  }
  assert.ok(differs >= 15, `only ${differs} of 20 samples differ`);
  assert.deepEqual(base.data, baseT.data, 'input untouched');
});

test('Noisy Student variant applies an op every layer and supports large magnitudes', () => {
  const ra = createRandAugment('nsrand-m27-n2');
  let changed = 0;
  for (let i = 0; i < 30; i++) {
    const out = ra(base, Rng.forSample(7, 0, i));
    assert.deepEqual([out.width, out.height, out.channels], [96, 96, 3]);
    if (!Buffer.from(out.data).equals(Buffer.from(base.data))) changed++;
  }
  // Only Posterize (bits >= 8) and Solarize (threshold > 255) are no-ops at M=27; two layers rarely both are.
  assert.ok(changed >= 27, `${changed} of 30 changed`);
});
