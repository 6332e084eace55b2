// noisy-student's public API. Explicit exports only: internals stay internal.
export * from './torch/index.js';
