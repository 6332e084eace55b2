// The server's Prometheus metrics, in a registry of its own (an app that embeds the server keeps its
// global registry to itself; two servers in one process do not collide). Default process metrics
// (CPU seconds, resident memory, event-loop lag, heap) are included: RSS over a long run is read here.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ServeMetrics {
  readonly registry: Registry;
  /** Answered requests by route and status. */
  readonly requests: Counter<'route' | 'status'>;
  /** Seconds from a request's arrival to its answer, by route. */
  readonly latency: Histogram<'route'>;
  /** Images per model call, by output. */
  readonly batchSize: Histogram<'output'>;
  /** Seconds per model call. */
  readonly batchSeconds: Histogram<'output'>;
  /** Seconds from an image entering the decode pool to its model input (queueing for a worker included). */
  readonly decodeSeconds: Histogram;
  /** Images admitted and not yet answered (decoding, waiting for the model, or in it). */
  readonly queueDepth: Gauge;
  /** Requests being handled. */
  readonly inFlight: Gauge;
  /** Images refused at decode, by reason (decode, too_large, empty). */
  readonly decodeFailures: Counter<'reason'>;
  /** Requests refused because the queue was full. */
  readonly rejected: Counter<'reason'>;
}

export function createMetrics(opts: { prefix?: string; maxBatch: number; defaultMetrics?: boolean }): ServeMetrics {
  const p = opts.prefix ?? 'noisy_student_';
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: p });
  const registers = [registry];
  // Batch-size buckets at every power of two up to the largest batch, and the largest itself.
  const sizes: number[] = [];
  for (let b = 1; b < opts.maxBatch; b *= 2) sizes.push(b);
  sizes.push(opts.maxBatch);
  return {
    registry,
    requests: new Counter({ name: `${p}http_requests_total`, help: 'HTTP requests answered', labelNames: ['route', 'status'], registers }),
    latency: new Histogram({
      name: `${p}http_request_duration_seconds`,
      help: 'Time from a request arriving to its answer',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    batchSize: new Histogram({
      name: `${p}batch_size`,
      help: 'Images per model call',
      labelNames: ['output'],
      buckets: sizes,
      registers,
    }),
    batchSeconds: new Histogram({
      name: `${p}batch_duration_seconds`,
      help: 'Seconds per model call',
      labelNames: ['output'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    decodeSeconds: new Histogram({
      name: `${p}decode_duration_seconds`,
      help: 'Seconds from an image entering the decode pool to its model input',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    queueDepth: new Gauge({ name: `${p}queue_depth`, help: 'Images admitted and not yet answered', registers }),
    inFlight: new Gauge({ name: `${p}http_requests_in_flight`, help: 'Requests being handled', registers }),
    decodeFailures: new Counter({
      name: `${p}decode_failures_total`,
      help: 'Images that could not be decoded, by reason',
      labelNames: ['reason'],
      registers,
    }),
    rejected: new Counter({ name: `${p}rejected_total`, help: 'Requests refused, by reason', labelNames: ['reason'], registers }),
  };
}
