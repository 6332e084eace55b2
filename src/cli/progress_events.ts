// The CLI's consumer of the library's ProgressEvent: a bar per epoch or item stage on a terminal;
// off a terminal (CI, nohup, a container) a line per epoch and one every ~10% of a long item
// stage, so a long command is never silent for minutes. Results and epoch lines go to stdout.
import type { ProgressEvent } from '../train/index.js';
import { createProgress, progressEnabled, type Progress } from './progress.js';

export interface ProgressPrinter {
  readonly onEvent: (e: ProgressEvent) => void;
  /** A line on stdout that does not tear a bar. */
  readonly log: (line: string) => void;
  readonly stop: () => void;
}

const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;

/**
 * Off a terminal, an epoch of at least this many batches also gets a line every ~10% of it (timm's
 * train.py logs every log_interval batches): a long epoch is minutes of otherwise silent output.
 */
export const LONG_EPOCH_BATCHES = 100;

/**
 * `epochLines`: 'always' (train, student: the epoch lines are the command's output) or
 * 'off-terminal' (run: on a terminal the bars show progress; --quiet drops the lines).
 */
export function progressPrinter(o: { quiet: boolean; epochLines?: 'always' | 'off-terminal' }): ProgressPrinter {
  let bar: Progress | null = null;
  let barKey = '';
  // Items already ticked on the bar (a terminal), or the last tenth printed (off one).
  let lastDone = 0;
  let lastTenth = 0;
  const stopBar = (): void => {
    bar?.stop();
    bar = null;
    barKey = '';
  };
  const log = (line: string): void => (bar ? bar.log(line) : void process.stdout.write(`${line}\n`));
  const tty = progressEnabled(o.quiet);
  const onEvent = (e: ProgressEvent): void => {
    switch (e.type) {
      case 'step': {
        const key = `${e.stage}/${e.epoch}`;
        if (barKey !== key) {
          stopBar();
          barKey = key;
          lastTenth = 0;
          bar = createProgress({ total: e.batches, label: `${e.stage} epoch ${e.epoch + 1}/${e.epochs}`, unit: 'batch', quiet: o.quiet });
        }
        bar!.tick(1, { loss: e.loss.toFixed(3), lr: e.lr.toExponential(2), ips: (e.samples / e.seconds).toFixed(0) });
        if (!tty && !o.quiet && e.batches >= LONG_EPOCH_BATCHES) {
          // e.batch counts the batches done in this epoch (a resumed epoch starts past 0).
          const tenth = Math.floor((10 * e.batch) / e.batches);
          if (tenth > lastTenth && e.batch < e.batches) {
            process.stderr.write(
              `${e.stage} epoch ${e.epoch + 1}/${e.epochs}: ${e.batch}/${e.batches} batches, loss ${e.loss.toFixed(4)}, ` +
                `lr ${e.lr.toExponential(2)}, ${(e.samples / Math.max(e.seconds, 1e-9)).toFixed(0)} img/s\n`,
            );
          }
          lastTenth = Math.max(lastTenth, tenth);
        }
        return;
      }
      case 'epoch': {
        stopBar();
        if (o.epochLines === 'off-terminal' && (tty || o.quiet)) return;
        const ev = e.eval ? ` top1 ${pct(e.eval.top1)} top5 ${pct(e.eval.top5)} val loss ${e.eval.loss.toFixed(4)}` : '';
        const prefix = e.stage === 'train' ? '' : `${e.stage} `;
        log(`${prefix}epoch ${e.epoch + 1}/${e.epochs}: train loss ${e.trainLoss.toFixed(4)}${ev} (${e.seconds.toFixed(1)} s)`);
        return;
      }
      case 'items': {
        if (tty) {
          if (barKey !== e.stage) {
            stopBar();
            barKey = e.stage;
            bar = createProgress({ total: e.total, label: e.stage, unit: e.unit, quiet: o.quiet });
            lastDone = 0;
          }
          bar!.tick(e.done - lastDone);
          lastDone = e.done;
          if (e.done >= e.total) stopBar();
          return;
        }
        if (o.quiet) return;
        // Off a terminal: a line every ~10% (the last one at the end).
        const tenth = Math.floor((10 * e.done) / Math.max(1, e.total));
        if (barKey !== e.stage) {
          barKey = e.stage;
          lastTenth = 0;
        }
        if (tenth > lastTenth) {
          process.stderr.write(`${e.stage}: ${e.done}/${e.total} ${e.unit}\n`);
          lastTenth = tenth;
        }
        return;
      }
      case 'log':
        log(e.message);
    }
  };
  return { onEvent, log, stop: stopBar };
}
