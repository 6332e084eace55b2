// Which script a worker thread runs (the loader's, the server's decode workers). From the compiled
// package: the worker's .js itself.
// From the TypeScript sources (tests, benchmarks, `node --import tsx`), worker threads do not inherit
// tsx's hooks, and registering them in each worker costs ~0.15-0.3 s of CPU per worker (measured on
// the 2-vCPU dev machine: 2 workers up in ~35 ms with plain JS, ~250-350 ms with tsx). So the worker's
// module graph is bundled once into one JavaScript file with esbuild (which tsx itself runs on) and
// cached in node_modules/.cache/noisy-student/, rebuilt when any of its input files changes. Without
// esbuild, or when the bundle cannot be written, workers fall back to registering tsx themselves.
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * A worker to start: a JavaScript module URL with the Node options to give it, or (the tsx
 * fallback) code to evaluate with the process's own options.
 */
export type WorkerEntry =
  { readonly kind: 'url'; readonly url: URL; readonly execArgv: readonly string[] } | { readonly kind: 'eval'; readonly code: string };

const LOADER_FLAGS = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader']);
const isTsx = (spec: string): boolean => spec === 'tsx' || spec.startsWith('tsx/');

/**
 * The process's Node options without the ones that load tsx. Workers inherit execArgv, and a
 * `--import tsx` runs again in every worker (~0.1 s of CPU each, measured) although the worker's
 * code is JavaScript; other preloads (instrumentation, say) are kept.
 */
export function withoutTsx(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    if (eq > 0 && LOADER_FLAGS.has(a.slice(0, eq)) && isTsx(a.slice(eq + 1))) continue;
    if (LOADER_FLAGS.has(a) && i + 1 < argv.length && isTsx(argv[i + 1]!)) {
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

interface Manifest {
  /** Input file -> "mtimeMs:size" when the bundle was built. */
  readonly inputs: Record<string, string>;
  readonly bundle: string;
}

interface EsbuildLike {
  buildSync(opts: Record<string, unknown>): {
    outputFiles?: { contents: Uint8Array }[];
    metafile?: { inputs: Record<string, unknown> };
  };
}

const cached = new Map<string, WorkerEntry>();

/**
 * The entry for worker threads running the module `name` beside `from` (a caller's import.meta.url),
 * with from's extension: .ts under tsx, .js once built. Computed once per module and thread.
 */
export function workerEntry(from: string, name: string): WorkerEntry {
  const url = new URL(`./${name}${from.endsWith('.ts') ? '.ts' : '.js'}`, from);
  let e = cached.get(url.href);
  if (!e) cached.set(url.href, (e = compute(url)));
  return e;
}

/** The entry for loader worker threads. */
export const loaderWorkerEntry = (): WorkerEntry => workerEntry(import.meta.url, 'loader_worker');

function compute(url: URL): WorkerEntry {
  const fromTs = url.pathname.endsWith('.ts');
  const execArgv = withoutTsx(process.execArgv);
  if (!fromTs) return { kind: 'url', url, execArgv };
  if (process.env['NOISY_STUDENT_WORKER_BUNDLE'] !== '0') {
    try {
      const bundled = bundle(fileURLToPath(url));
      if (bundled) return { kind: 'url', url: pathToFileURL(bundled), execArgv };
    } catch {
      // fall through to tsx in the worker: slower to start, same behaviour
    }
  }
  // (tsx's hooks are per thread, so a worker registers them itself before importing the module.)
  return { kind: 'eval', code: `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })` };
}

function stamp(path: string): string {
  const s = statSync(path);
  return `${s.mtimeMs}:${s.size}`;
}

/** The bundle's path, built or reused; null when the package has no node_modules to put it in. */
function bundle(entry: string): string | null {
  // src/<layer> -> package root; the bundle lives under its node_modules so that `sharp` (left
  // external: it is native) resolves from there, and native_image.ts finds native/image above it.
  const root = resolve(dirname(entry), '..', '..');
  if (!existsSync(join(root, 'node_modules'))) return null;
  const dir = join(root, 'node_modules', '.cache', 'noisy-student');
  const name = basename(entry, '.ts');
  const manifestPath = join(dir, `${name}.json`);
  try {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest;
    const fresh = Object.entries(m.inputs).every(([p, s]) => existsSync(p) && stamp(p) === s);
    if (fresh && existsSync(m.bundle)) return m.bundle;
  } catch {
    // no manifest yet, or a broken one: rebuild
  }
  const esbuild = createRequire(import.meta.url)('esbuild') as EsbuildLike;
  // Stamps are taken before building: a file edited during the build makes the next start rebuild.
  const r = esbuild.buildSync({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    external: ['sharp'],
    write: false,
    metafile: true,
    absWorkingDir: root,
    logLevel: 'silent',
  });
  const code = r.outputFiles?.[0]?.contents;
  if (!code || !r.metafile) return null;
  const inputs: Record<string, string> = {};
  for (const p of Object.keys(r.metafile.inputs)) {
    const abs = resolve(root, p);
    inputs[abs] = stamp(abs);
  }
  mkdirSync(dir, { recursive: true });
  // Written under a unique name and renamed: processes starting at once never see half a file.
  const tag = `${process.pid}-${Date.now()}`;
  const bundlePath = join(dir, `${name}-${tag}.mjs`);
  writeFileSync(bundlePath, code);
  const tmp = `${manifestPath}.${tag}`;
  writeFileSync(tmp, JSON.stringify({ inputs, bundle: bundlePath } satisfies Manifest));
  renameSync(tmp, manifestPath);
  removeOldBundles(dir, name, bundlePath);
  return bundlePath;
}

/**
 * Earlier bundles, once a day old: a process that started from one may still start workers from it
 * (a respawn, a new loader), so a fresh one is left alone.
 */
function removeOldBundles(dir: string, name: string, keep: string): void {
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (p === keep || !f.startsWith(`${name}-`) || !f.endsWith('.mjs')) continue;
    try {
      if (statSync(p).mtimeMs < dayAgo) rmSync(p, { force: true });
    } catch {
      // raced with another process removing it
    }
  }
}
