// Data benchmark (issue 4): images/s for decode + timm's eval transform (b0 config) over a folder of
// JPEGs with 2 and 0 loader workers, side by side with timm's transform on PIL in a torch DataLoader.
// Ours runs twice per round: with the image addon (native/image: libjpeg decode when built with it,
// resampler, float conversion) and without it (NOISY_STUDENT_IMAGE_NATIVE=0: sharp decode and the
// JavaScript loops, the path before issue 14), rounds interleaved, medians reported.
// Usage: TIMM_SRC=/path/to/pytorch-image-models npm run bench -- data  (ROUNDS=n, default 5)
import { fileURLToPath } from 'node:url';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// The data modules themselves, not the data index (which loads the libtorch addon for its tensor
// helpers): decoding needs no engine, and loading one would only share the cores differently.
import { DataLoader } from '../src/data/loader.js';
import { flatFolder } from '../src/data/datasets/flat_folder.js';
import { resolveDataConfig } from '../src/data/data_config.js';
import { nativeImage } from '../src/data/native_image.js';
import { type ImageU8, grayToRgb } from '../src/data/image.js';
import { loadSample } from '../src/data/datasets/dataset.js';
import { Rng } from '../src/data/rng.js';
import { fashionMnist } from '../src/data/datasets/fashion_mnist.js';
import { hflip } from '../src/data/transforms/flip.js';
import { randomResizedCropParams, resizedCrop } from '../src/data/transforms/random_resized_crop.js';
import { toNormalizedCHW } from '../src/data/transforms/to_tensor.js';
import { DEFAULT_HPARAMS, RAND_INCREASING_TRANSFORMS, applyOp, createRandAugment, levelToArg } from '../src/data/rand_augment.js';
import { writeDogCrops } from './data_jpegs.js';
import { median, pythonTorchAvailable, runPython } from './util.js';

const REF = fileURLToPath(new URL('./python/data_ref.py', import.meta.url));

/** 200 JPEGs of ImageNet-like sizes (about 500x375), crops of dog.jpg at varying positions. */
async function makeFolder(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ns-bench-data-'));
  await writeDogCrops(dir, 200);
  return dir;
}

async function oursIps(dir: string, workers: number, native: boolean): Promise<number> {
  // Workers copy process.env when they start, and nativeImage() reads it on each call.
  if (native) delete process.env['NOISY_STUDENT_IMAGE_NATIVE'];
  else process.env['NOISY_STUDENT_IMAGE_NATIVE'] = '0';
  const ds = flatFolder(dir);
  const config = resolveDataConfig({ inputSize: [3, 224, 224], interpolation: 'bicubic', cropPct: 0.875 });
  const loader = new DataLoader(ds, { batchSize: 32, numWorkers: workers, transform: { config } });
  const t0 = process.hrtime.bigint();
  let n = 0;
  for await (const b of loader.epoch(0)) n += b.indices.length;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  await loader.close();
  return n / s;
}

export async function main(): Promise<void> {
  const dir = await makeFolder();
  const timmSrc = process.env['TIMM_SRC'];
  const ref = pythonTorchAvailable() && timmSrc !== undefined && existsSync(join(timmSrc, 'timm'));
  if (!ref) console.log('reference skipped: set TIMM_SRC and bash scripts/setup --bench (python3-torch, torchvision, PIL)');
  const addon = nativeImage();
  const simd = addon?.simd().level;
  console.log(
    `image addon: ${simd ? `resampler ${simd}, JPEG decode ${addon?.decodeJpeg ? 'libjpeg' : 'sharp (built without libjpeg)'}` : 'not built (sharp decode, JavaScript loops only)'}`,
  );
  const rounds = Number(process.env['ROUNDS'] ?? 5);
  const fmt = (ours: number, theirs: number | null): string =>
    `${ours.toFixed(1)} img/s` + (theirs ? ` (${(ours / theirs).toFixed(2)}x timm)` : '');
  try {
    for (const workers of [2, 0]) {
      const nat: number[] = [];
      const js: number[] = [];
      const theirs: number[] = [];
      for (let r = 0; r < rounds; r++) {
        if (simd) nat.push(await oursIps(dir, workers, true));
        js.push(await oursIps(dir, workers, false));
        if (ref) theirs.push(runPython<{ ips: number }>(REF, [dir, String(workers), '1'], { PYTHONPATH: timmSrc ?? '' }).ips);
      }
      const t = ref ? median(theirs) : null;
      console.log(
        `decode + eval transform (b0, 224), 200 JPEGs ~500x375, ${workers} workers, median of ${rounds}: ` +
          (simd ? `ours with the image addon ${fmt(median(nat), t)}, ` : '') +
          `ours without it ${fmt(median(js), t)}` +
          (t ? `, timm (PIL + torchvision) ${t.toFixed(1)} img/s` : ''),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// `npm run bench -- data-train`: where the training transform's time goes, per image. The steps of
// timm's train transform (RandomResizedCrop -> hflip -> RandAugment -> ToTensor + Normalize) are
// timed one by one on already decoded images, with the image addon and without it
// (NOISY_STUDENT_IMAGE_NATIVE=0), and each RandAugment op alone on the crops: 200 JPEGs of ~500x375
// at 224 (bicubic/bilinear at random, rand-m9-mstd0.5-inc1) and 2000 Fashion-MNIST images at 32.

interface TrainSet {
  readonly name: string;
  readonly images: ImageU8[];
  readonly size: number;
}

function timeMs(n: number, fn: () => void): number {
  const t0 = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t0) / 1e6 / n;
}

function profileSet(set: TrainSet, native: boolean, rounds: number): Map<string, number> {
  if (native) delete process.env['NOISY_STUDENT_IMAGE_NATIVE'];
  else process.env['NOISY_STUDENT_IMAGE_NATIVE'] = '0';
  const s = set.size;
  const config = resolveDataConfig({ inputSize: [3, s, s], interpolation: 'bicubic' });
  const aa = 'rand-m9-mstd0.5-inc1';
  const ra = createRandAugment(aa, {
    translateConst: Math.trunc(s * 0.45),
    fill: config.mean.map((m) => Math.min(255, Math.round(255 * m))),
    interpolation: 'random',
  });
  const hp = { ...DEFAULT_HPARAMS, translateConst: Math.trunc(s * 0.45), fill: [124, 116, 104], interpolation: 'random' as const };
  const n = set.images.length;
  const out = new Float32Array(3 * s * s);
  const times = new Map<string, number[]>();
  const add = (k: string, v: number): void => void (times.get(k) ?? times.set(k, []).get(k)!).push(v);
  for (let r = 0; r < rounds; r++) {
    const rgb = set.images.map((im) => (im.channels === 3 ? im : grayToRgb(im)));
    add(
      'convert RGB',
      timeMs(n, () => set.images.forEach((im) => im.channels === 1 && grayToRgb(im))),
    );
    let crops: ImageU8[] = [];
    add(
      'RandomResizedCrop',
      timeMs(n, () => {
        crops = rgb.map((im, i) => {
          const rng = Rng.forSample(1, r, i);
          const p = randomResizedCropParams(im.width, im.height, [0.08, 1], [3 / 4, 4 / 3], rng);
          return resizedCrop(im, p, s, s, rng.random() < 0.5 ? 'bilinear' : 'bicubic');
        });
      }),
    );
    add(
      'hflip (p=0.5)',
      timeMs(n, () => crops.forEach((im, i) => (i & 1 ? hflip(im) : im))),
    );
    let aug: ImageU8[] = [];
    add(
      'RandAugment ' + aa,
      timeMs(n, () => (aug = crops.map((im, i) => ra(im, Rng.forSample(2, r, i))))),
    );
    add(
      'ToTensor + Normalize',
      timeMs(n, () => aug.forEach((im) => toNormalizedCHW(im, config.mean, config.std, out))),
    );
    for (const op of RAND_INCREASING_TRANSFORMS) {
      const arg = (rng: Rng): number | null => levelToArg(op, 9, hp, rng, 'timm');
      add(
        `  op ${op}`,
        timeMs(n, () => crops.forEach((im, i) => applyOp(im, op, arg(Rng.forSample(3, r, i)), hp, Rng.forSample(4, r, i)))),
      );
    }
  }
  return new Map([...times].map(([k, v]) => [k, median(v)]));
}

export async function trainMain(): Promise<void> {
  const rounds = Number(process.env['ROUNDS'] ?? 3);
  const dir = await makeFolder();
  let jpegs: ImageU8[];
  try {
    const ds = flatFolder(dir);
    jpegs = [];
    for (let i = 0; i < ds.length; i++) jpegs.push(await loadSample(ds.source(i)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const sets: TrainSet[] = [{ name: '200 JPEGs ~500x375 -> 224', images: jpegs, size: 224 }];
  try {
    const fm = fashionMnist('train');
    const images: ImageU8[] = [];
    for (let i = 0; i < 2000; i++) images.push({ width: 28, height: 28, channels: 1, data: fm.pixels.subarray(i * 784, (i + 1) * 784) });
    sets.push({ name: '2000 Fashion-MNIST 28x28 -> 32', images, size: 32 });
  } catch (e) {
    console.log(`Fashion-MNIST skipped: ${(e as Error).message}`);
  }
  const addon = nativeImage();
  console.log(`image addon: ${addon ? `built (${addon.simd().level})` : 'not built'}; median of ${rounds} rounds, ms per image`);
  for (const set of sets) {
    const nat = addon ? profileSet(set, true, rounds) : null;
    const js = profileSet(set, false, rounds);
    delete process.env['NOISY_STUDENT_IMAGE_NATIVE'];
    console.log(`${set.name}:`);
    console.log(`  ${'step'.padEnd(36)} ${'native'.padStart(9)} ${'JS'.padStart(9)}`);
    for (const [k, v] of js) console.log(`  ${k.padEnd(36)} ${(nat?.get(k) ?? NaN).toFixed(4).padStart(9)} ${v.toFixed(4).padStart(9)}`);
  }
}
