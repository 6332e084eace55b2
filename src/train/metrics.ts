// Evaluation metrics (timm's accuracy and AverageMeter) and the metrics.jsonl log of a run.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { noGrad, scope, type Tensor } from '../torch/index.js';
import { atomicWriteFile } from '../util/atomic_write.js';

/**
 * timm.utils.accuracy: for each k, the percentage (0-100) of rows whose target is among the k
 * largest logits. k is capped at the number of classes, like timm.
 */
export function accuracy(output: Tensor, target: Tensor, topk: readonly number[] = [1, 5]): number[] {
  return noGrad(() =>
    scope(() => {
      const maxk = Math.min(Math.max(...topk), output.shape[1]!);
      const batch = target.shape[0]!;
      const pred = output.topk(maxk, 1, true, true).indices.t();
      const correct = pred.eq(target.reshape(1, -1).expandAs(pred));
      return topk.map((k) => (correct.narrow(0, 0, Math.min(k, maxk)).reshape(-1).float().sum().item() * 100) / batch);
    }),
  );
}

/** timm's AverageMeter: the last value and a running (count-weighted) average. */
export class AverageMeter {
  val = 0;
  sum = 0;
  count = 0;
  avg = 0;
  reset(): void {
    this.val = this.sum = this.count = this.avg = 0;
  }
  update(val: number, n = 1): void {
    this.val = val;
    this.sum += val * n;
    this.count += n;
    this.avg = this.sum / this.count;
  }
}

export type MetricsRecord = Record<string, unknown> & { step?: number };

/**
 * Appends one JSON object per line to metrics.jsonl.
 *
 * Each record is one write() on an O_APPEND descriptor followed by fsync, not a temp-file rewrite of
 * the whole file: rewriting would cost O(file) per record (quadratic over a long run), while an
 * O_APPEND write of a single buffer lands at the end of the file in one piece on local file systems,
 * and fsync makes it durable before the caller goes on (e.g. to write the checkpoint that covers
 * it). The worst a crash can leave is a torn final line without its newline; open() repairs that.
 *
 * On resume, records logged after the checkpoint being resumed (step > resumeStep) are dropped so
 * the replayed steps are not logged twice; that one-time rewrite goes through atomicWriteFile.
 */
export class MetricsLog {
  private fd: number;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  static open(path: string, opts: { resumeStep?: number } = {}): MetricsLog {
    if (existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      const kept: string[] = [];
      let changed = false;
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const line = lines[i]!;
        if (line === '') continue;
        let rec: MetricsRecord;
        try {
          rec = JSON.parse(line) as MetricsRecord;
        } catch {
          // A torn (crash-interrupted) line: drop it.
          changed = true;
          continue;
        }
        if (opts.resumeStep !== undefined && typeof rec.step === 'number' && rec.step > opts.resumeStep) {
          changed = true;
          continue;
        }
        kept.push(line);
      }
      if (!text.endsWith('\n') && text.length > 0) changed = true;
      if (changed) atomicWriteFile(path, kept.map((l) => l + '\n').join(''));
    }
    return new MetricsLog(path, openSync(path, 'a'));
  }

  append(record: MetricsRecord): void {
    const buf = Buffer.from(JSON.stringify(record) + '\n', 'utf8');
    let off = 0;
    while (off < buf.byteLength) off += writeSync(this.fd, buf, off, buf.byteLength - off);
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd >= 0) {
      closeSync(this.fd);
      this.fd = -1;
    }
  }

  /** Every complete record of a metrics.jsonl (torn lines skipped). */
  static read(path: string): MetricsRecord[] {
    if (!existsSync(path)) return [];
    const out: MetricsRecord[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        out.push(JSON.parse(line) as MetricsRecord);
      } catch {
        /* torn line */
      }
    }
    return out;
  }
}
