// Data benchmark (issue 4): images/s for decode + timm's eval transform (b0 config) over a folder of
// JPEGs with 2 and 0 loader workers, side by side with timm's transform on PIL in a torch DataLoader.
// Ours runs twice per round: with the image addon (native/image: libjpeg decode when built with it,
// resampler, float conversion) and without it (NOISY_STUDENT_IMAGE_NATIVE=0: sharp decode and the
// JavaScript loops, the path before issue 14), rounds interleaved, medians reported.
// Usage: TIMM_SRC=/path/to/pytorch-image-models npm run bench -- data  (ROUNDS=n, default 5)
import { fileURLToPath } from 'node:url';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
// The data modules themselves, not the data index (which loads the libtorch addon for its tensor
// helpers): decoding needs no engine, and loading one would only share the cores differently.
import { DataLoader } from '../src/data/loader.js';
import { flatFolder } from '../src/data/datasets/flat_folder.js';
import { resolveDataConfig } from '../src/data/data_config.js';
import { nativeImage } from '../src/data/native_image.js';
import { median, pythonTorchAvailable, runPython } from './util.js';

const REF = fileURLToPath(new URL('./python/data_ref.py', import.meta.url));
const DOG = fileURLToPath(new URL('../../shared/data/dog.jpg', import.meta.url));

/** 200 JPEGs of ImageNet-like sizes (about 500x375), crops of dog.jpg at varying positions. */
async function makeFolder(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ns-bench-data-'));
  mkdirSync(dir, { recursive: true });
  const meta = await sharp(DOG).metadata();
  for (let i = 0; i < 200; i++) {
    const w = 800 + ((i * 37) % 400);
    const h = Math.round(w * 0.75);
    const left = (i * 13) % (meta.width! - w);
    const top = (i * 7) % (meta.height! - h);
    await sharp(DOG)
      .extract({ left, top, width: w, height: h })
      .resize(500, 375)
      .jpeg({ quality: 90 })
      .toFile(join(dir, `${String(i).padStart(4, '0')}.jpg`));
  }
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
