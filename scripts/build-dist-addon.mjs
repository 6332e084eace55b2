#!/usr/bin/env node
// Builds the c10d addon (native/distributed/build/Release/noisy_student_distributed.node) with
// node-gyp: libtorch's distributed engine (TCPStore, ProcessGroupGloo, ProcessGroupNCCL with a CUDA
// libtorch) for data-parallel training. A project of its own (native/distributed/binding.gyp), like
// the image addon, so rebuilding it never touches the main addon's build/.
// Usage: node scripts/build-dist-addon.mjs [--force]
//
// It must match the main addon's libtorch exactly (both hold the same at::Tensor objects, see
// native/src/tensor_api.h), so it reads what scripts/build-native.mjs built against from its stamp
// (build/Release/libtorch-config.json) instead of locating a libtorch again. Gloo's headers come
// from Debian's libgloo-dev (or a libtorch that carries include/gloo). Without them the build is
// skipped with a note and exits 0: everything but multi-process training still works.
// Skips the build when the addon is newer than its sources and the stamp, unless --force.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGypPath } from './node_gyp_path.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const project = join(root, 'native/distributed');
const out = join(project, 'build/Release/noisy_student_distributed.node');
const stampPath = join(root, 'build/Release/libtorch-config.json');
const force = process.argv.includes('--force');

if (!existsSync(stampPath)) {
  console.error('noisy-student: build the libtorch addon first (node scripts/build-native.mjs); the c10d addon follows its libtorch');
  process.exit(1);
}
const config = JSON.parse(readFileSync(stampPath, 'utf8'));
const debian = config.origin === 'Debian';
const includes = debian
  ? ['/usr/include', '/usr/include/torch/csrc/api/include']
  : [join(config.root, 'include'), join(config.root, 'include/torch/csrc/api/include')];
const glooDirs = [...includes, '/usr/include'];
if (!glooDirs.some((d) => existsSync(join(d, 'gloo/config.h')))) {
  console.error(
    'noisy-student: skipping the c10d addon: no Gloo headers (Debian: apt-get install libgloo-dev); multi-process training is unavailable',
  );
  process.exit(0);
}
if (!includes.some((d) => existsSync(join(d, 'torch/csrc/distributed/c10d/ProcessGroupGloo.hpp')))) {
  console.error(`noisy-student: skipping the c10d addon: libtorch ${config.version} at ${config.root} has no c10d headers`);
  process.exit(0);
}

const sources = [
  join(project, 'binding.gyp'),
  fileURLToPath(import.meta.url),
  stampPath,
  join(root, 'native/src/tensor_api.h'),
  ...readdirSync(join(project, 'src')).map((f) => join(project, 'src', f)),
];
if (!force && existsSync(out) && sources.every((s) => statSync(s).mtimeMs <= statSync(out).mtimeMs)) process.exit(0);

// NCCL with a CUDA libtorch that has its c10d header (and so was built with it).
const cuda = config.gpuLibs.some((l) => l.startsWith('torch_cuda'));
const nccl = cuda && includes.some((d) => existsSync(join(d, 'torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp')));
const libDir = debian ? null : join(config.root, 'lib');
const libs = [
  ...(libDir ? [`-L${libDir}`, `-Wl,-rpath,${libDir}`] : []),
  '-Wl,--no-as-needed',
  ...['torch', 'torch_cpu', 'c10', ...config.gpuLibs].map((n) => `-l${n}`),
];
const env = {
  ...process.env,
  NOISY_STUDENT_TORCH_INCLUDES: [...new Set(glooDirs)].join(' '),
  NOISY_STUDENT_TORCH_LIBS: libs.join(' '),
  NOISY_STUDENT_TORCH_CXX_STD: config.cxxStd,
  NOISY_STUDENT_TORCH_CXX11_ABI: config.cxx11Abi,
  NOISY_STUDENT_DIST_DEFINES: nccl ? 'USE_C10D_NCCL USE_CUDA' : 'NS_DIST_CPU=1',
};
// Debian's nodejs ships its headers in /usr/include/node; without --nodedir node-gyp would try to
// download them.
if (!env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr';
console.error(`noisy-student: building the c10d addon (native/distributed) for libtorch ${config.version}: Gloo${nccl ? ' + NCCL' : ''}`);
const jobs = String(Math.max(1, Math.min(4, availableParallelism())));
const r = spawnSync(process.execPath, [nodeGypPath(), 'rebuild', '-j', jobs], { cwd: project, stdio: 'inherit', env });
process.exit(r.status ?? 1);
