// `noisy-student serve` under load (issue 17): autocannon on 127.0.0.1 against the CLI server (a child
// process) with real JPEGs (64 crops of dog.jpg at ~500x375, as bench/data.ts), b0 at 224 on the
// fused backend, at concurrency 1, 8 and 32 (LEVEL_S seconds each): p50/p99 latency, throughput, and
// the CPU each side took (process.cpuUsage() of this process, which runs autocannon, against the
// server's /proc/<pid>/stat). Side by side, `predict` end to end (decode included, same images, same
// backend) as a child process too: its per-image cost from the difference of two runs of different
// sizes (process start and model load cancel out), at batch 32 (throughput) and batch 1 (latency).
// Then RSS over RSS_REQUESTS requests at concurrency 32 (sampled from /proc every second).
// Targets: throughput at 32 >= 0.9x predict's; p99 at 1 <= 1.3x predict's per-image latency; RSS flat.
// Usage: npm run bench -- serve   (SERVE_BENCH_LEVEL_S, SERVE_BENCH_RSS_REQUESTS to change the bounds, 0 requests: no RSS
// run; SERVE_BENCH_LEVELS=1,8,32 the concurrencies)
import { spawn, execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { writeDogCrops } from './data_jpegs.js';
import { median } from './util.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const B0 = fileURLToPath(new URL('../../shared/fixtures/timm/tf_efficientnet_b0', import.meta.url));
const MODEL = ['--model', 'tf_efficientnet_b0.ns_jft_in1k', '--checkpoint', B0, '--backend', 'torch-fused'];
const LEVEL_S = Number(process.env['SERVE_BENCH_LEVEL_S'] ?? 20);
const RSS_REQUESTS = Number(process.env['SERVE_BENCH_RSS_REQUESTS'] ?? 10_000);
/** The concurrency levels; the target lines need 1 and 32. */
const LEVELS = (process.env['SERVE_BENCH_LEVELS'] ?? '1,8,32').split(',').map(Number);
/** The RSS run stops here if the requests have not all been made by then. */
const RSS_MAX_S = Number(process.env['SERVE_BENCH_RSS_MAX_S'] ?? 600);
const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

interface AutocannonResult {
  latency: { p50: number; p99: number; average: number };
  requests: { average: number; total: number };
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (opts: Record<string, unknown>, done: (err: Error | null, res: AutocannonResult) => void) => { stop(): void };
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

/** A folder with `copies` copies of every image (predict reads each file; the bytes repeat). */
function replicate(files: string[], dir: string, copies: number): string {
  mkdirSync(dir, { recursive: true });
  for (let c = 0; c < copies; c++) files.forEach((f, i) => copyFileSync(f, join(dir, `${c}-${i}.jpg`)));
  return dir;
}

function run(args: string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: REPO, maxBuffer: 1 << 26 }, (err, _o, stderr) =>
      err ? reject(new Error(`${args.join(' ')}: ${stderr}`)) : resolve((performance.now() - t0) / 1000),
    ),
  );
}

/** predict's seconds per image at this batch size, one figure per round: (t(big) - t(small)) / (images(big) - images(small)). */
async function predictPerImage(small: string, big: string, extra: number, batch: number, rounds: number): Promise<number[]> {
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const args = (d: string) => ['predict', d, ...MODEL, '--batch-size', String(batch), '--jsonl', '--quiet'];
    const a = await run(args(small));
    const b = await run(args(big));
    per.push((b - a) / extra);
  }
  return per;
}

function procStat(pid: number): { cpuS: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 (1-based) of the whole line; 12 and 13 after "pid (comm) ".
  return { cpuS: (Number(fields[11]) + Number(fields[12])) / CLK_TCK };
}
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}

export async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'ns-bench-serve-'));
  let child: ReturnType<typeof spawn> | null = null;
  try {
    const files = await writeDogCrops(join(tmp, 'src'), 64);
    const bodies = files.map((f) => readFileSync(f));

    // predict, end to end on the same JPEGs and backend.
    const d64 = replicate(files, join(tmp, 'p64'), 1);
    const d320 = replicate(files, join(tmp, 'p320'), 5);
    const d32 = replicate(files.slice(0, 32), join(tmp, 'p32'), 1);
    // 320 images more than the small run: a process's start and model load vary by a few hundred ms
    // from run to run, which over 128 images (an earlier size) moved the per-image figure by +-4 ms.
    const d352 = replicate(files.slice(0, 32), join(tmp, 'p352'), 11);
    // Interleaved with the server's levels below (predict before and after the level it is compared
    // with), so that the shared machine's load hits both sides alike.
    const predictB32 = () => predictPerImage(d64, d320, 256, 32, 2);
    const predictB1 = () => predictPerImage(d32, d352, 320, 1, 2);
    const baseline: Record<number, number[]> = { 1: [], 32: [] };

    // The server.
    child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...MODEL, '--port', '0', '--max-batch', '32'], {
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child!.on('exit', (c) => r(c)));
    const url = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the server did not start: ${stderr}`)), 120_000);
      child!.stderr!.on('data', () => {
        const m = /serving .* on (http:\/\/\S+)/.exec(stderr);
        if (m) {
          clearTimeout(t);
          resolve(m[1]!);
        }
      });
    });
    const pid = child.pid!;
    let next = 0;
    // autocannon's callback form returns the instance (stop() ends a run early, with its results so far).
    const load = (connections: number, bound: { duration: number } | { amount: number }, maxS = Infinity) =>
      new Promise<AutocannonResult>((resolve, reject) => {
        const inst = autocannon(
          {
            url: `${url}/v1/predict`,
            connections,
            ...bound,
            timeout: 30,
            requests: [
              {
                method: 'POST',
                headers: { 'content-type': 'image/jpeg' },
                // Each request its own image, in turn.
                setupRequest: (req: Record<string, unknown>) => ({ ...req, body: bodies[next++ % bodies.length] }),
              },
            ],
          },
          (err: Error | null, res: AutocannonResult) => {
            clearTimeout(cap);
            if (err) reject(err);
            else resolve(res);
          },
        );
        const cap = Number.isFinite(maxS) ? setTimeout(() => inst.stop(), maxS * 1000) : undefined;
      });
    await load(8, { duration: 3 }); // warm-up: oneDNN primitives for the batch sizes it meets
    console.log(`serve (same model and backend, --max-batch 32, --max-wait-ms 5), ${LEVEL_S} s per level, autocannon in this process:`);
    const rows: { c: number; r: AutocannonResult }[] = [];
    for (const c of LEVELS) {
      const side = c === 1 ? predictB1 : c === 32 ? predictB32 : null;
      if (side) baseline[c]!.push(...(await side()));
      const cpu0 = process.cpuUsage();
      const s0 = procStat(pid).cpuS;
      const t0 = performance.now();
      const r = await load(c, { duration: LEVEL_S });
      const wall = (performance.now() - t0) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const genCpu = (cpu.user + cpu.system) / 1e6;
      const srvCpu = procStat(pid).cpuS - s0;
      rows.push({ c, r });
      if (side) baseline[c]!.push(...(await side()));
      const tput = r.requests.total / r.duration;
      console.log(
        `  c=${String(c).padStart(2)}: p50 ${r.latency.p50.toFixed(1)} ms, p99 ${r.latency.p99.toFixed(1)} ms, ${tput.toFixed(1)} req/s ` +
          `(${r.requests.total} requests, ${r.non2xx} non-2xx, ${r.errors} errors); CPU: load generator ${genCpu.toFixed(1)} s ` +
          `(${((genCpu / wall) * 100).toFixed(0)}% of a core), server ${srvCpu.toFixed(1)} s (${((srvCpu / wall) * 100).toFixed(0)}%)`,
      );
    }
    const predictOneS = baseline[1]!.length ? median(baseline[1]!) : NaN;
    const predictBatchS = baseline[32]!.length ? median(baseline[32]!) : NaN;
    console.log(
      `predict (same backend and JPEGs, decode included; medians of 4 runs, 2 before and 2 after the level it is compared with): ` +
        `batch 32 ${(1 / predictBatchS).toFixed(1)} img/s (${baseline[32]!.map((x) => (1 / x).toFixed(1)).join(', ')}); ` +
        `batch 1 ${(predictOneS * 1000).toFixed(1)} ms per image (${baseline[1]!.map((x) => (x * 1000).toFixed(1)).join(', ')})`,
    );
    const c1 = rows.find((x) => x.c === 1)?.r;
    const c32 = rows.find((x) => x.c === 32)?.r;
    console.log(
      `  throughput at 32 / predict batch 32: ${c32 ? ((c32.requests.total / c32.duration) * predictBatchS).toFixed(2) : '-'}x (target >= 0.9x); ` +
        `p99 at 1 / predict per-image latency: ${c1 ? (c1.latency.p99 / (predictOneS * 1000)).toFixed(2) : '-'}x (target <= 1.3x)`,
    );
    if (c1) {
      const l = c1.latency as unknown as Record<string, number>;
      console.log(
        `  c=1 latency distribution: p50 ${l['p50']} ms, p90 ${l['p90']}, p97.5 ${l['p97_5']}, p99 ${l['p99']}, p99.9 ${l['p99_9']}, max ${l['max']} ` +
          `(over ${c1.requests.total} requests)`,
      );
    }

    // RSS over many requests.
    if (RSS_REQUESTS > 0) {
      // (requests sent so far, RSS) every second; the slope after the first 1,000 (warm-up) says whether it grows.
      const samples: { n: number; mb: number }[] = [];
      const first = next;
      const sampler = setInterval(() => samples.push({ n: next - first, mb: rssMb(pid) }), 1000);
      const t0 = performance.now();
      const r = await load(32, { amount: RSS_REQUESTS }, RSS_MAX_S);
      clearInterval(sampler);
      samples.push({ n: next - first, mb: rssMb(pid) });
      const near = (n: number) => samples.reduce((b, s) => (Math.abs(s.n - n) < Math.abs(b.n - n) ? s : b)).mb;
      const warm = samples.filter((s) => s.n >= 1000);
      const steady = warm.length >= 2 ? warm : samples;
      const mx = steady.reduce((a, s) => a + s.n, 0) / steady.length;
      const my = steady.reduce((a, s) => a + s.mb, 0) / steady.length;
      const slope =
        steady.reduce((a, s) => a + (s.n - mx) * (s.mb - my), 0) /
        Math.max(
          1e-9,
          steady.reduce((a, s) => a + (s.n - mx) ** 2, 0),
        );
      console.log(
        `  RSS over ${r.requests.total} requests at c=32 (${((performance.now() - t0) / 1000).toFixed(0)} s, ${r.non2xx} non-2xx): ` +
          `${near(1000).toFixed(0)} MiB at request 1000, ${near(r.requests.total / 2).toFixed(0)} MiB halfway, ${samples[samples.length - 1]!.mb.toFixed(0)} MiB at the end ` +
          `(min ${Math.min(...steady.map((s) => s.mb)).toFixed(0)}, max ${Math.max(...steady.map((s) => s.mb)).toFixed(0)} MiB after request 1000; ` +
          `least-squares slope ${(slope * 1000).toFixed(1)} MiB per 1000 requests)`,
      );
    }
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const sum = Number(/noisy_student_batch_size_sum\{output="logits"\} (\S+)/.exec(metrics)?.[1]);
    const count = Number(/noisy_student_batch_size_count\{output="logits"\} (\S+)/.exec(metrics)?.[1]);
    console.log(`  mean batch over the whole run: ${(sum / count).toFixed(1)} images per model call (${count} calls)`);

    child.kill('SIGTERM');
    console.log(`  SIGTERM: exit code ${await exited}`);
    child = null;
  } finally {
    child?.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
}
