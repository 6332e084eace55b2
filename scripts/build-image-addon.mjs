#!/usr/bin/env node
// Builds the image addon (native/image/build/Release/noisy_student_image.node) with node-gyp: the
// data path's native loops (PIL-exact resampling, float conversion, and JPEG decoding when libjpeg's
// headers are there). It needs only a C++17 compiler and Node's headers (libjpeg optional), no
// libtorch, so it is a project of its own (native/image/binding.gyp) and rebuilding it never
// touches the libtorch addon's build/.
// Usage: node scripts/build-image-addon.mjs [--force]
// Skips the build when the addon is newer than its sources, unless --force. Without it the library
// still works: resize falls back to its JavaScript passes (same bytes, ~15x slower).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGypPath } from './node_gyp_path.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const project = join(root, 'native/image');
const out = join(project, 'build/Release/noisy_student_image.node');
const force = process.argv.includes('--force');

const sources = [
  join(project, 'binding.gyp'),
  fileURLToPath(import.meta.url),
  ...readdirSync(join(project, 'src')).map((f) => join(project, 'src', f)),
];
if (!force && existsSync(out) && sources.every((s) => statSync(s).mtimeMs <= statSync(out).mtimeMs)) process.exit(0);

const gyp = nodeGypPath();
const env = { ...process.env };
// Debian's nodejs ships its headers in /usr/include/node; without --nodedir node-gyp would try to
// download them.
if (!env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr';
const jobs = String(Math.max(1, Math.min(4, availableParallelism())));
// libjpeg's headers (Debian: libjpeg-dev) add the native JPEG decoder; without them decoding stays
// on sharp. NOISY_STUDENT_JPEG=0 builds without it.
const jpegOff = process.env.NOISY_STUDENT_JPEG === '0';
const jpeg = !jpegOff && hasHeader('jpeglib.h');
const jpegNote = jpeg ? 'with libjpeg' : `without libjpeg (${jpegOff ? 'NOISY_STUDENT_JPEG=0' : 'no jpeglib.h'})`;
console.error(`noisy-student: building the image addon (native/image), ${jpegNote}`);
const r = spawnSync(process.execPath, [gyp, 'rebuild', '-j', jobs, '--', `-Dwith_jpeg=${jpeg ? 1 : 0}`], {
  cwd: project,
  stdio: 'inherit',
  env,
});
process.exit(r.status ?? 1);

/** Whether the C++ compiler finds `name` (jpeglib.h needs stdio.h before it). */
function hasHeader(name) {
  const cxx = process.env.CXX || 'c++';
  const p = spawnSync(cxx, ['-E', '-x', 'c++', '-'], {
    input: `#include <cstdio>\n#include <${name}>\n`,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  return p.status === 0;
}
