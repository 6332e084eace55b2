// Starts N copies of a worker script as ranks of one job on 127.0.0.1 (torchrun's variables), and
// collects each one's exit, stdout and stderr.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '../..');

export interface RankResult {
  rank: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A TCP port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Runs `node --import tsx <script> ...args` once per rank and waits for all of them. */
export async function runRanks(
  script: string,
  args: readonly string[],
  o: {
    world: number;
    port?: number;
    env?: Record<string, string>;
    perRankEnv?: (rank: number) => Record<string, string>;
    limitMs?: number;
  },
): Promise<RankResult[]> {
  const port = o.port ?? (await freePort());
  const t0 = Date.now();
  const runs = Array.from({ length: o.world }, (_, rank) => {
    return new Promise<RankResult>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
        cwd: root,
        env: {
          ...process.env,
          RANK: String(rank),
          WORLD_SIZE: String(o.world),
          LOCAL_RANK: String(rank),
          LOCAL_WORLD_SIZE: String(o.world),
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: String(port),
          OMP_NUM_THREADS: '1',
          ...o.env,
          ...o.perRankEnv?.(rank),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      // A test must never hang on a rank: past the limit it is killed (and the test sees the signal).
      const timer = setTimeout(() => child.kill('SIGKILL'), o.limitMs ?? 120_000);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ rank, code, signal, stdout, stderr, ms: Date.now() - t0 });
      });
    });
  });
  return Promise.all(runs);
}

/** The last line of a rank's stdout, parsed as JSON. */
export function lastJson<T>(r: RankResult): T {
  const lines = r.stdout.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]!) as T;
  } catch {
    throw new Error(`rank ${r.rank} printed no JSON (code ${r.code}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
  }
}
