// The HTTP inference server (`noisy-student serve`) as a library: serve() / createInferenceServer().
export { createInferenceServer, serve, type InferenceServer, type ServeOptions, type ServerState } from './server.js';
export { HttpError, type ErrorBody } from './errors.js';
export { Batcher, type BatcherOptions, type BatchOutput, type Submitted } from './batcher.js';
export { chooseLoneThreads, type LoneThreads } from './lone_threads.js';
export { createMetrics, type ServeMetrics } from './metrics.js';
export { classNames, topkEntries, type TopkEntry } from '../models/index.js';
