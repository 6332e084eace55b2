#!/usr/bin/env node
// Builds the libtorch addon (build/Release/noisy_student_torch.node) with node-gyp.
// Skips the build when the addon is newer than its sources, unless --force.
// LIBTORCH=/path/to/libtorch builds against an unpacked official libtorch instead of Debian's.
import { existsSync, statSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build/Release/noisy_student_torch.node');
const force = process.argv.includes('--force');

const libtorch = process.env.LIBTORCH;
const header = libtorch ? join(libtorch, 'include/ATen/ATen.h') : '/usr/include/ATen/ATen.h';
if (!existsSync(header)) {
  console.error(
    `noisy-student: libtorch headers not found at ${header}.\n` +
      (libtorch
        ? 'LIBTORCH must point at an unpacked libtorch (with include/ and lib/).'
        : "Install Debian's libtorch first: `bash scripts/setup` (apt-get install libtorch-dev libgloo-dev libopenblas0-openmp dataset-fashion-mnist),\nor set LIBTORCH=/path/to/libtorch."),
  );
  process.exit(1);
}

const sources = [join(root, 'binding.gyp'), ...readdirSync(join(root, 'native/src')).map((f) => join(root, 'native/src', f))];
if (!force && existsSync(out)) {
  const built = statSync(out).mtimeMs;
  if (sources.every((s) => statSync(s).mtimeMs <= built)) process.exit(0);
}

// node-gyp: our devDependency if present, else the copy bundled with npm.
const require = createRequire(import.meta.url);
let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  const npmDir = process.env.npm_execpath ? dirname(dirname(process.env.npm_execpath)) : join(dirname(process.execPath), '../lib/node_modules/npm');
  gyp = join(npmDir, 'node_modules/node-gyp/bin/node-gyp.js');
}
// Debian's nodejs ships its headers in /usr/include/node; without --nodedir node-gyp would try to
// download them, and this machine has no network.
const env = { ...process.env };
if (!env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr';
const jobs = String(Math.max(1, Math.min(4, (await import('node:os')).availableParallelism())));
const r = spawnSync(process.execPath, [gyp, 'rebuild', '-j', jobs], { cwd: root, stdio: 'inherit', env });
process.exit(r.status ?? 1);
