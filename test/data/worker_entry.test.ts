// The loader workers' entry: from TypeScript sources a cached JavaScript bundle (no tsx in the
// workers), started without the tsx preload the process itself was given.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loaderWorkerEntry, withoutTsx } from '../../src/data/worker_entry.js';

test('withoutTsx drops only the options that load tsx', () => {
  assert.deepEqual(withoutTsx(['--import', 'tsx', '--max-old-space-size=4096']), ['--max-old-space-size=4096']);
  assert.deepEqual(withoutTsx(['--import=tsx', '--require', 'tsx/cjs', '--loader', 'tsx/esm', '-r', 'tsx/cjs']), []);
  assert.deepEqual(withoutTsx(['--import', './otel.mjs', '--import=tsx', '--conditions=dev']), [
    '--import',
    './otel.mjs',
    '--conditions=dev',
  ]);
  assert.deepEqual(withoutTsx(['--import']), ['--import']);
});

test(
  'from TypeScript sources the worker entry is a JavaScript bundle in node_modules/.cache',
  { skip: process.env['NOISY_STUDENT_WORKER_BUNDLE'] === '0' },
  () => {
    const e = loaderWorkerEntry();
    assert.equal(e.kind, 'url');
    if (e.kind !== 'url') return;
    const path = fileURLToPath(e.url);
    assert.match(path, /node_modules\/\.cache\/noisy-student\/loader_worker-.*\.mjs$/);
    assert.ok(existsSync(path));
    assert.ok(!e.execArgv.some((a) => a.includes('tsx')), `execArgv ${e.execArgv.join(' ')}`);
    // Every source file of the worker is in the manifest, so editing one rebuilds the bundle.
    const manifest = JSON.parse(readFileSync(path.replace(/loader_worker-.*\.mjs$/, 'loader_worker.json'), 'utf8')) as {
      inputs: Record<string, string>;
    };
    const inputs = Object.keys(manifest.inputs).map((p) => p.replace(/\\/g, '/'));
    for (const f of ['src/data/loader_worker.ts', 'src/data/loader_batch.ts', 'src/data/native_image.ts', 'src/data/transforms/resize.ts'])
      assert.ok(
        inputs.some((p) => p.endsWith(f)),
        f,
      );
  },
);
