// Where node-gyp is: our devDependency if present, else the copy bundled with npm (both addon builds use it).
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export function nodeGypPath() {
  const require = createRequire(import.meta.url);
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    const npmDir = process.env.npm_execpath
      ? dirname(dirname(process.env.npm_execpath))
      : join(dirname(process.execPath), '../lib/node_modules/npm');
    return join(npmDir, 'node_modules/node-gyp/bin/node-gyp.js');
  }
}
