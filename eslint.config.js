// Lint: typescript-eslint's recommended rules plus the layer boundaries of ARCHITECTURE.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const layer = (from, forbidden) => ({
  files: [`src/${from}/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', { patterns: forbidden.map((l) => ({ group: [`**/${l}/*`, `../${l}/*`], message: `src/${from} must not import src/${l} (layers: ARCHITECTURE.md)` })) }],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'runs/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  layer('torch', ['nn', 'models', 'data', 'train', 'noisy', 'cli', 'distributed', 'serve']),
  layer('nn', ['models', 'data', 'train', 'noisy', 'cli', 'distributed', 'serve']),
  layer('data', ['nn', 'models', 'train', 'noisy', 'cli', 'distributed', 'serve']),
  layer('models', ['onnx', 'backends', 'train', 'noisy', 'cli', 'distributed', 'serve']),
  // onnx: the ONNX writer and the EfficientNet exporter (reads models, runs nothing).
  layer('onnx', ['data', 'backends', 'train', 'noisy', 'cli', 'distributed', 'serve']),
  // backends: the InferenceModel implementations beyond libtorch eager and the choice between them.
  layer('backends', ['train', 'noisy', 'cli', 'distributed', 'serve']),
  layer('train', ['noisy', 'cli', 'serve']),
  layer('noisy', ['cli', 'serve']),
  // distributed: the c10d bindings and the launcher's variables (tensors in, collectives out).
  layer('distributed', ['models', 'onnx', 'backends', 'train', 'noisy', 'cli', 'serve']),
  // serve: the HTTP server over the InferenceModel backends; a service has no training in it.
  layer('serve', ['train', 'noisy', 'cli', 'distributed']),
);
