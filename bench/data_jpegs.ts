// Synthetic photo-like JPEGs for the data benchmarks: colour gradients plus per-pixel noise (so the
// entropy coder and the resampler do real work, unlike flat colours), ~500x375 like an ImageNet
// photo by default, written once per (count, size) into the temp dir and reused afterwards.
//   node --import tsx bench/data_jpegs.ts DIR N [W H]     (writes N JPEGs into DIR)
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

/** Write `n` JPEGs of `width` x `height` into `dir` (quality 90, 4:2:0 as most cameras). */
export async function writeNoiseJpegs(dir: string, n: number, width = 500, height = 375): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const buf = Buffer.alloc(width * height * 3);
  for (let i = 0; i < n; i++) {
    let s = (Math.imul(i + 1, 2654435761) >>> 0) | 1;
    // A little variation in size, as a real folder has (a few sizes: the resize tables are cached).
    const w = width - (i % 4) * 8;
    const h = height - (i % 3) * 6;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        s ^= s << 13;
        s ^= s >>> 17;
        s ^= s << 5;
        const o = (y * w + x) * 3;
        const noise = (s >>> 26) - 32;
        buf[o] = Math.max(0, Math.min(255, (x * 255) / w + noise));
        buf[o + 1] = Math.max(0, Math.min(255, (y * 255) / h + noise + (i % 64)));
        buf[o + 2] = Math.max(0, Math.min(255, ((x + y + i * 7) & 255) - noise));
      }
    await sharp(buf.subarray(0, w * h * 3), { raw: { width: w, height: h, channels: 3 } })
      .jpeg({ quality: 90 })
      .toFile(join(dir, `${String(i).padStart(5, '0')}.jpg`));
  }
}

const DOG = fileURLToPath(new URL('../../shared/data/dog.jpg', import.meta.url));

/**
 * Write `n` real-photo JPEGs into `dir`: crops of the timm fixture's dog.jpg at varying places and
 * sizes (`firstWidth` + 0..399 px wide, 4:3), resized to 500x375 like an ImageNet photo, quality 90.
 * Returns their paths in order.
 */
export async function writeDogCrops(dir: string, n: number, firstWidth = 800): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const meta = await sharp(DOG).metadata();
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const w = firstWidth + ((i * 37) % 400);
    const h = Math.round(w * 0.75);
    const f = join(dir, `${String(i).padStart(5, '0')}.jpg`);
    await sharp(DOG)
      .extract({ left: (i * 13) % (meta.width! - w), top: (i * 7) % (meta.height! - h), width: w, height: h })
      .resize(500, 375)
      .jpeg({ quality: 90 })
      .toFile(f);
    files.push(f);
  }
  return files;
}

/** The cached folder of `n` such JPEGs in the temp dir (made on first use). */
export async function noiseJpegFolder(n: number, width = 500, height = 375): Promise<string> {
  const dir = join(tmpdir(), `ns-bench-noise-jpegs-${n}-${width}x${height}`);
  if (existsSync(join(dir, '.done'))) return dir;
  await writeNoiseJpegs(dir, n, width, height);
  writeFileSync(join(dir, '.done'), '');
  return dir;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [dir, n, w, h] = process.argv.slice(2);
  if (!dir || !n) {
    console.error('usage: node --import tsx bench/data_jpegs.ts DIR N [W H]');
    process.exit(2);
  }
  await writeNoiseJpegs(dir, Number(n), w ? Number(w) : undefined, h ? Number(h) : undefined);
}
