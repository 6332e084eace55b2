// End-to-end pseudo-labelling speed (issue 13): `noisy-student pseudo-label --backend auto` over
// (a) the Fashion-MNIST unlabeled split and (b) a folder of JPEGs (default 10,000, ~500x375) at the
// teacher's 224 px, in images/s, beside what its parts do alone on the same machine in the same run:
// the chosen backend's model-only throughput at the job's batch size (`benchmark`) and decode + eval
// transform (the DataLoader with the job's workers). The ideal when decode and model share the cores
// without overlap is 1 / (1/decode + 1/model); the ratio to it says what is lost to waiting.
//   npm run bench -- pseudo-label            (BENCH_PL_JPEGS=N, BENCH_PL_FMNIST=N images, BENCH_PL_CHECKPOINT=model dir)
// Weights: the b0 fixture's unless BENCH_PL_CHECKPOINT names a trained one (speed does not depend on them).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeDogCrops } from './data_jpegs.js';
import { DataLoader, fashionMnist, flatFolder, resolveDataConfig, subset, type ImageDataset } from '../src/data/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHECKPOINT = process.env['BENCH_PL_CHECKPOINT'] ?? join(ROOT, '../shared/fixtures/timm/tf_efficientnet_b0');
const MODEL = process.env['BENCH_PL_MODEL'] ?? 'tf_efficientnet_b0.ns_jft_in1k';
const JPEGS = Number(process.env['BENCH_PL_JPEGS'] ?? 10000);
const FMNIST = Number(process.env['BENCH_PL_FMNIST'] ?? 5000);
const BATCH = 32;
const WORKERS = Number(process.env['BENCH_PL_WORKERS'] ?? 1);

/** N JPEGs of ImageNet-like size (crops of dog.jpg at varying places), made once and kept in the temp dir. */
async function jpegFolder(n: number): Promise<string> {
  const dir = join(tmpdir(), `ns-bench-jpegs-${n}`);
  if (existsSync(join(dir, '.done'))) return dir;
  await writeDogCrops(dir, n, 700);
  writeFileSync(join(dir, '.done'), '');
  return dir;
}

function cli(args: string[], env: Record<string, string> = {}): { seconds: number; stdout: string; stderr: string } {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    maxBuffer: 1 << 26,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`noisy-student ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return { seconds, stdout: r.stdout, stderr: r.stderr };
}

async function decodeIps(ds: ImageDataset, workers: number): Promise<number> {
  const config = resolveDataConfig({}, JSON.parse(readFileSync(join(CHECKPOINT, 'config.json'), 'utf8')) as object);
  const loader = new DataLoader(ds, { batchSize: BATCH, numWorkers: workers, transform: { config } });
  const t0 = process.hrtime.bigint();
  let n = 0;
  for await (const b of loader.epoch(0)) n += b.indices.length;
  await loader.close();
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

interface Row {
  data: string;
  images: number;
  backend: string;
  endToEndImgPerSec: number;
  modelImgPerSec: number;
  decodeImgPerSec: number;
  idealImgPerSec: number;
}

async function measure(name: string, dataArgs: string[], ds: ImageDataset, work: string): Promise<Row> {
  const out = join(work, `pl-${name}`);
  const cache = join(work, 'cache');
  const args = ['pseudo-label', '--model', MODEL, '--checkpoint', CHECKPOINT, ...dataArgs, '--backend', 'auto'];
  const common = ['--batch-size', String(BATCH), '--workers', String(WORKERS), '-o', out];
  const run = cli([...args, ...common], { NOISY_STUDENT_CACHE: cache });
  const rec = JSON.parse(readFileSync(join(out, 'backend.json'), 'utf8')) as { backend: string };
  // The time auto spent measuring is a one-off (cached afterwards): time a second job with the choice cached.
  rmSync(out, { recursive: true, force: true });
  const again = cli([...args, ...common], { NOISY_STUDENT_CACHE: cache });
  const size = (JSON.parse(readFileSync(join(CHECKPOINT, 'config.json'), 'utf8')) as { pretrained_cfg?: { input_size?: number[] } })
    .pretrained_cfg?.input_size?.[1];
  const bench = JSON.parse(
    cli([
      'benchmark',
      '--model',
      MODEL,
      '--checkpoint',
      CHECKPOINT,
      '--backend',
      rec.backend,
      '--precision',
      'fp32',
      '--batch-sizes',
      String(BATCH),
      '--no-timm',
      '--json',
      ...(size ? ['--img-size', String(size)] : []),
    ]).stdout,
  ) as { results: { imgPerSec: number }[] };
  const model = bench.results[0]!.imgPerSec;
  const decode = await decodeIps(ds, WORKERS);
  const e2e = ds.length / again.seconds;
  console.log(
    `${name}: ${ds.length} images, backend ${rec.backend}; first job ${run.seconds.toFixed(1)} s (auto measured), ` +
      `again ${again.seconds.toFixed(1)} s (process start and model load included)`,
  );
  return {
    data: name,
    images: ds.length,
    backend: rec.backend,
    endToEndImgPerSec: e2e,
    modelImgPerSec: model,
    decodeImgPerSec: decode,
    idealImgPerSec: 1 / (1 / decode + 1 / model),
  };
}

export async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'ns-bench-pl-'));
  try {
    const rows: Row[] = [];
    // Fashion-MNIST: the unlabeled rest after 100 labeled per class, its first FMNIST images.
    const fm = fashionMnist('train');
    const fmArgs = ['--data', 'fashion-mnist', '--labels-per-class', '100', '--limit', String(FMNIST)];
    const fmDs = subset(
      fm,
      Array.from({ length: FMNIST }, (_, i) => i),
    );
    rows.push(await measure('fashion-mnist', fmArgs, fmDs, work));
    const dir = await jpegFolder(JPEGS);
    rows.push(await measure(`jpegs-${JPEGS}`, ['--data', dir], flatFolder(dir), work));
    console.log('data              images  backend      end-to-end img/s  model img/s  decode img/s  ideal img/s  e2e/ideal  e2e/model');
    for (const r of rows)
      console.log(
        `${r.data.padEnd(17)} ${String(r.images).padStart(6)}  ${r.backend.padEnd(12)} ${r.endToEndImgPerSec.toFixed(1).padStart(16)} ` +
          `${r.modelImgPerSec.toFixed(1).padStart(12)} ${r.decodeImgPerSec.toFixed(1).padStart(13)} ${r.idealImgPerSec.toFixed(1).padStart(12)} ` +
          `${(r.endToEndImgPerSec / r.idealImgPerSec).toFixed(2).padStart(9)} ${(r.endToEndImgPerSec / r.modelImgPerSec).toFixed(2).padStart(9)}`,
      );
    console.log(JSON.stringify({ batch: BATCH, workers: WORKERS, model: MODEL, rows }));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
