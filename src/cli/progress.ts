// A small progress bar for long CLI commands (items/s and ETA), on cli-progress. It draws on stderr
// so results on stdout stay clean, and only when both stdout and stderr are terminals: a piped or
// redirected run (CI logs, `--json > file`) gets no escape codes at all. `--quiet` turns it off
// globally (main.ts calls configureProgress before any command runs).
import { SingleBar, type Params } from 'cli-progress';

export interface ProgressOptions {
  /** Number of items expected. */
  readonly total: number;
  /** Shown before the bar, e.g. 'predict'. */
  readonly label: string;
  /** Unit of the rate, e.g. 'img' (default 'it'). */
  readonly unit?: string;
  /** Force the bar off (it is also off with --quiet or without a terminal). */
  readonly quiet?: boolean;
}

export interface Progress {
  /** Whether a bar is being drawn. */
  readonly active: boolean;
  /** Advance by n items (default 1); payload values are shown after the ETA as `key value`. */
  tick(n?: number, payload?: Readonly<Record<string, string | number>>): void;
  /** Change the expected total (e.g. once a download reports its size). */
  setTotal(total: number): void;
  /** Print a line to stdout without tearing the bar (it is redrawn below the line). */
  log(line: string): void;
  /** Remove the bar. Idempotent; call it in a finally block, the bar's timer keeps the process alive. */
  stop(): void;
}

let globallyQuiet = false;

/** Set by the CLI entry point from --quiet. */
export function configureProgress(opts: { quiet: boolean }): void {
  globallyQuiet = opts.quiet;
}

/** Whether a bar would be drawn now (terminals on stdout and stderr, not quiet). */
export function progressEnabled(quiet = false): boolean {
  return !quiet && !globallyQuiet && process.stdout.isTTY === true && process.stderr.isTTY === true;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--';
  const t = Math.round(s);
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

function formatRate(r: number): string {
  if (!Number.isFinite(r)) return '--';
  return r >= 100 ? r.toFixed(0) : r >= 10 ? r.toFixed(1) : r.toFixed(2);
}

/** Create (and start) a progress bar; a no-op object when the bar is disabled. */
export function createProgress(opts: ProgressOptions): Progress {
  const unit = opts.unit ?? 'it';
  if (!progressEnabled(opts.quiet)) {
    return { active: false, tick() {}, setTotal() {}, log: (line) => void process.stdout.write(`${line}\n`), stop() {} };
  }
  const width = 30;
  let lastTick = Date.now();
  // Our own formatter: cli-progress has no rate token, and its ETA before the first tick is noise.
  const format = (_o: unknown, p: Params, payload: Record<string, unknown>): string => {
    const frac = p.total > 0 ? Math.min(1, p.value / p.total) : 0;
    const filled = Math.round(frac * width);
    // Once everything is done, the rate stops at the last item instead of decaying while the bar waits for stop().
    const elapsed = ((p.value >= p.total ? lastTick : Date.now()) - p.startTime) / 1000;
    const rate = elapsed > 0 ? p.value / elapsed : NaN;
    const eta = p.value > 0 && rate > 0 ? (p.total - p.value) / rate : NaN;
    const extra = Object.entries(payload)
      .map(([k, v]) => ` | ${k} ${String(v)}`)
      .join('');
    return (
      `${opts.label} [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ` +
      `${p.value}/${p.total} ${unit} | ${formatRate(rate)} ${unit}/s | ETA ${formatSeconds(eta)}${extra}`
    );
  };
  // forceRedraw: after log() clears the line, the next frame must draw even if the text is unchanged.
  const bar = new SingleBar({ format, stream: process.stderr, fps: 8, forceRedraw: true, clearOnComplete: true, hideCursor: null });
  let stopped = false;
  let value = 0;
  bar.start(opts.total, 0, {});
  return {
    get active() {
      return !stopped;
    },
    tick(n = 1, payload) {
      if (stopped) return;
      value += n;
      lastTick = Date.now();
      bar.update(value, payload ?? {});
    },
    setTotal(total) {
      if (!stopped) bar.setTotal(total);
    },
    log(line) {
      if (!stopped) process.stderr.write('\r\x1b[K');
      process.stdout.write(`${line}\n`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
