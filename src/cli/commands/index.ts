// The subcommands. Registering one is one line here: `export { default as <name> } from './<file>.js';`
// where the module's default export returns its commander Command. main.ts adds every export.
export { default as models } from './models.js';
export { default as predict } from './predict.js';
export { default as features } from './features.js';
export { default as train } from './train.js';
export { default as validate } from './validate.js';
export { default as run } from './run.js';
export { default as pseudoLabel } from './pseudo_label.js';
export { default as filter } from './filter.js';
export { default as student } from './student.js';
export { default as evaluate } from './evaluate.js';
export { default as report } from './report.js';
export { default as exportOnnx } from './export_onnx.js';
export { default as benchmark } from './benchmark.js';
export { default as serve } from './serve.js';
export { default as launch } from './launch.js';
