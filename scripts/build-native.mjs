#!/usr/bin/env node
// Builds the libtorch addon (build/Release/noisy_student_torch.node) with node-gyp.
// Usage: node scripts/build-native.mjs [--force] [--print-config]
// Skips the build when the addon is newer than its sources and was built against the same libtorch,
// unless --force.
//
// Which libtorch: Debian's (libtorch-dev, 1.13) by default, or LIBTORCH=/path pointing at
//   - an unpacked libtorch zip (include/, lib/, share/cmake/Torch/), or
//   - a PyTorch install's torch/ package folder (.../site-packages/torch, same layout), or
//   - the site-packages folder above it.
// The compile flags that must match the libtorch are read from it, not assumed:
//   - its version (torch/version.h), printed and checked against what the addon supports;
//   - the C++ standard its headers demand (`#error C++NN or later` guards: 17 up to torch 2.12,
//     20 later), at least C++17;
//   - the libstdc++ ABI it was built with (TorchConfig.cmake's TORCH_CXX_FLAGS; PyTorch wheels
//     before 2.7 and the "pre-cxx11" libtorch zips use the old ABI, where a mismatch fails at link
//     or load time with undefined std::string symbols);
//   - its CUDA (or ROCm) libraries, linked with --no-as-needed: nothing in the addon references them,
//     but only loading them registers the CUDA backend.
import { existsSync, statSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeGypPath } from './node_gyp_path.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'build/Release/noisy_student_torch.node');
const stampPath = join(root, 'build/Release/libtorch-config.json');
const force = process.argv.includes('--force');
// --print-config: say which libtorch and flags a build would use, and stop.
const printOnly = process.argv.includes('--print-config');

function fail(message) {
  console.error(`noisy-student: ${message}`);
  process.exit(1);
}

/** The libtorch to build against: include dirs, lib dir (null: the system's), cmake config. */
function locateLibtorch() {
  const env = process.env.LIBTORCH;
  if (!env) {
    const include = '/usr/include';
    if (!existsSync(join(include, 'ATen/ATen.h'))) {
      fail(
        `libtorch headers not found at ${include}/ATen/ATen.h.\n` +
          "Install Debian's libtorch first: `bash scripts/setup` (apt-get install libtorch-dev libgloo-dev libopenblas0-openmp dataset-fashion-mnist),\n" +
          'or set LIBTORCH=/path/to/libtorch (an unpacked libtorch, or a PyTorch install: python3 -c "import torch; print(torch.__path__[0])").',
      );
    }
    const multiarch = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib'].find((d) =>
      existsSync(join(d, 'libtorch.so')),
    );
    return {
      origin: 'Debian',
      root: '/usr',
      includes: [include, join(include, 'torch/csrc/api/include')],
      libDir: null,
      scanLibDir: multiarch ?? '/usr/lib',
      cmake: multiarch ? join(multiarch, 'cmake/Torch/TorchConfig.cmake') : null,
    };
  }
  const base = resolve(env);
  // A site-packages folder holds torch/; a torch/ package folder and a libtorch zip look alike.
  const candidates = [base, join(base, 'torch')];
  const dir = candidates.find((d) => existsSync(join(d, 'include/ATen/ATen.h')) && existsSync(join(d, 'lib')));
  if (!dir) {
    fail(
      `LIBTORCH=${env}: no libtorch there (looked for include/ATen/ATen.h and lib/ in ${candidates.join(' and ')}).\n` +
        'Point it at an unpacked libtorch, or at a PyTorch install\'s torch/ folder (python3 -c "import torch; print(torch.__path__[0])").',
    );
  }
  if (!existsSync(join(dir, 'lib/libtorch.so'))) fail(`LIBTORCH=${env}: ${dir}/lib has no libtorch.so`);
  return {
    origin: existsSync(join(dir, '__init__.py')) ? 'PyTorch package' : 'libtorch',
    root: dir,
    includes: [join(dir, 'include'), join(dir, 'include/torch/csrc/api/include')],
    libDir: join(dir, 'lib'),
    scanLibDir: join(dir, 'lib'),
    cmake: join(dir, 'share/cmake/Torch/TorchConfig.cmake'),
  };
}

function readVersion(t) {
  const header = t.includes.map((d) => join(d, 'torch/version.h')).find((p) => existsSync(p));
  if (!header) fail(`no torch/version.h under ${t.includes.join(' or ')}: is this a libtorch install?`);
  const text = readFileSync(header, 'utf8');
  const num = (name) => {
    const m = new RegExp(`#define\\s+${name}\\s+(\\d+)`).exec(text);
    return m ? Number(m[1]) : NaN;
  };
  const major = num('TORCH_VERSION_MAJOR');
  const minor = num('TORCH_VERSION_MINOR');
  const full = /#define\s+TORCH_VERSION\s+\\?\s*"([^"]+)"/.exec(text)?.[1] ?? `${major}.${minor}`;
  if (!Number.isFinite(major) || !Number.isFinite(minor)) fail(`${header}: cannot read TORCH_VERSION_MAJOR/MINOR`);
  if (major < 1 || (major === 1 && minor < 13)) fail(`libtorch ${full} is too old: the addon needs 1.13 or 2.x`);
  return { major, minor, full };
}

/** The C++ standard the headers' own guards demand (never below C++17). */
function cxxStandard(t) {
  if (process.env.NOISY_STUDENT_CXX_STD) return process.env.NOISY_STUDENT_CXX_STD;
  let need = 201703;
  for (const rel of ['ATen/ATen.h', 'c10/util/C++17.h', 'torch/all.h']) {
    for (const dir of t.includes) {
      const p = join(dir, rel);
      if (!existsSync(p)) continue;
      for (const m of readFileSync(p, 'utf8').matchAll(/__cplusplus\s*<\s*(\d{6})L/g)) need = Math.max(need, Number(m[1]));
    }
  }
  return need >= 202302 ? 'c++23' : need >= 202002 ? 'c++20' : 'c++17';
}

/** 1 (new libstdc++ ABI) or 0 (old): from TorchConfig.cmake, else from libc10's symbol names. */
function cxx11Abi(t) {
  if (t.cmake && existsSync(t.cmake)) {
    const m = /-D_GLIBCXX_USE_CXX11_ABI=([01])/.exec(readFileSync(t.cmake, 'utf8'));
    if (m) return m[1];
  }
  const c10 = join(t.scanLibDir, 'libc10.so');
  if (existsSync(c10)) return readFileSync(c10).includes('St7__cxx11') ? '1' : '0';
  return '1';
}

/** Backend libraries to load with the addon: CUDA (2.x: torch_cuda; 1.x had a cu/cpp split) or ROCm. */
function gpuLibraries(t) {
  const names = ['torch_cuda', 'torch_cuda_cu', 'torch_cuda_cpp', 'c10_cuda', 'torch_hip', 'c10_hip'];
  return names.filter((n) => existsSync(join(t.scanLibDir, `lib${n}.so`)));
}

/**
 * oneDNN for the fused path's convs with fused post-ops (native/src/fused.cc, NS_DNNL): only with
 * Debian's libtorch, which links the system libdnnl.so.2, and when libdnnl-dev's headers are of that
 * same library (a libtorch zip carries its own oneDNN, hidden inside libtorch_cpu). Else the fused
 * path uses oneDNN through ATen's prepacked convs.
 */
function dnnlConfig(t) {
  if (process.env.NOISY_STUDENT_DNNL === '0' || t.origin !== 'Debian') return null;
  const header = '/usr/include/oneapi/dnnl/dnnl_version.h';
  if (!existsSync(header) || !existsSync('/usr/include/dnnl.hpp')) return null;
  const h = readFileSync(header, 'utf8');
  const v = ['MAJOR', 'MINOR', 'PATCH'].map((k) => new RegExp(`DNNL_VERSION_${k}\\s+(\\d+)`).exec(h)?.[1]);
  const linked = spawnSync('ldd', [join(t.scanLibDir, 'libtorch_cpu.so')], { encoding: 'utf8' }).stdout ?? '';
  const so = /libdnnl\.so\.(\d+) => (\S+)/.exec(linked);
  if (!so || so[1] !== v[0]) return null;
  return { version: v.join('.'), lib: so[2] };
}

const lt = locateLibtorch();
const version = readVersion(lt);
const config = {
  origin: lt.origin,
  root: lt.root,
  version: version.full,
  cxxStd: cxxStandard(lt),
  cxx11Abi: cxx11Abi(lt),
  gpuLibs: gpuLibraries(lt),
  dnnl: dnnlConfig(lt),
};
const gpu = config.gpuLibs.length ? `GPU libraries: ${config.gpuLibs.join(', ')}` : 'CPU only';
console.error(
  `noisy-student: libtorch ${config.version} (${config.origin}, ${config.root}); -std=${config.cxxStd}, ` +
    `_GLIBCXX_USE_CXX11_ABI=${config.cxx11Abi}; ${gpu}; oneDNN ${config.dnnl ? `${config.dnnl.version} (direct)` : 'through ATen only'}`,
);

if (printOnly) {
  console.log(JSON.stringify(config, null, 2));
  process.exit(0);
}

const sources = [
  join(root, 'binding.gyp'),
  fileURLToPath(import.meta.url),
  ...readdirSync(join(root, 'native/src')).map((f) => join(root, 'native/src', f)),
];
if (!force && existsSync(out) && existsSync(stampPath)) {
  const built = statSync(out).mtimeMs;
  const same = readFileSync(stampPath, 'utf8') === JSON.stringify(config);
  if (same && sources.every((s) => statSync(s).mtimeMs <= built)) process.exit(0);
}

const gyp = nodeGypPath();
// binding.gyp reads these (its defaults are Debian's libtorch, for a bare `node-gyp rebuild`).
const libs = [
  ...(lt.libDir ? [`-L${lt.libDir}`, `-Wl,-rpath,${lt.libDir}`] : []),
  '-Wl,--no-as-needed',
  ...['torch', 'torch_cpu', 'c10', ...config.gpuLibs, ...(config.dnnl ? ['dnnl'] : [])].map((n) => `-l${n}`),
];
const env = {
  ...process.env,
  NOISY_STUDENT_TORCH_INCLUDES: lt.includes.join(' '),
  NOISY_STUDENT_TORCH_LIBS: libs.join(' '),
  NOISY_STUDENT_TORCH_CXX_STD: config.cxxStd,
  NOISY_STUDENT_TORCH_CXX11_ABI: config.cxx11Abi,
  NOISY_STUDENT_TORCH_DEFINES: config.dnnl ? 'NS_DNNL=1' : 'NS_DNNL=0',
};
if ([...lt.includes, lt.libDir ?? ''].some((p) => /\s/.test(p))) fail(`the libtorch path must not contain spaces: ${lt.root}`);
// Debian's nodejs ships its headers in /usr/include/node; without --nodedir node-gyp would try to
// download them, and this machine has no network.
if (!env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr';
const jobs = String(Math.max(1, Math.min(4, (await import('node:os')).availableParallelism())));
const r = spawnSync(process.execPath, [gyp, 'rebuild', '-j', jobs], { cwd: root, stdio: 'inherit', env });
if (r.status === 0) {
  mkdirSync(dirname(stampPath), { recursive: true });
  writeFileSync(stampPath, JSON.stringify(config));
}
process.exit(r.status ?? 1);
