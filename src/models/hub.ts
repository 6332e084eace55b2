// Hugging Face hub downloads into the standard hub cache, so files are shared with Python's
// huggingface_hub (and timm) and survive between runs:
//
//   $HF_HUB_CACHE (default $HF_HOME/hub, HF_HOME default ~/.cache/huggingface)
//     models--timm--tf_efficientnet_b0.ns_jft_in1k/
//       blobs/<etag>                 the file content (etag = sha256 for LFS files, git oid otherwise)
//       blobs/<etag>.incomplete      a download in progress; resumed with an HTTP Range request
//       blobs/<etag>.lock            held while one process downloads it (util/lock.ts); others wait
//       snapshots/<commit>/<file>    relative symlink to ../../blobs/<etag> (a copy where symlinks fail)
//       refs/<revision>              the commit the revision ('main') pointed to, no newline
//
// Why not @huggingface/hub's downloadFileToCacheDir (v2.17.5, read in node_modules): it lacks what
// this needs. It never reads or writes refs/<revision>, so a branch name always costs a network call
// and Python cannot resolve what it cached; it names snapshot folders after the *file's* last commit
// (paths-info `lastCommit`) instead of the revision's commit (X-Repo-Commit), so its layout differs
// from Python's; it has no offline mode (HF_HUB_OFFLINE), no HF_ENDPOINT, no resume (it rewrites the
// .incomplete from byte 0), no size or sha256 check, needs the paths-info API besides the file URLs,
// and logs with console.debug. So this module implements the protocol itself on Node's fetch, as
// huggingface_hub's file_download.py does: HEAD the resolve URL for the commit, etag and size, then GET
// with Range. The package is therefore not a dependency.
//
// Differences from Python, on purpose: a revision already in the cache is used without contacting the
// hub (pretrained weights do not change; `refresh: true` re-checks), the sha256 of LFS files is always
// verified, and every failure is an error with a code; if the hub is unreachable the cached copy is
// used only with a warning (never silently), and nothing ever falls back to random weights.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { statSync } from 'node:fs';
import { copyFile, lstat, mkdir, open, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { faultPoint } from '../util/fault_points.js';
import { withFileLock, type LockHolder } from '../util/lock.js';
import { hasWeights, type PretrainedCfg } from './pretrained.js';

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
const COMMIT_RE = /^[0-9a-f]{40}$/;
const SHA256_RE = /^[0-9a-f]{64}$/;
const GIT_OID_RE = /^[0-9a-f]{40}$/;
// An etag names a file in blobs/: letters, digits, '_' and '-' only, so never '.', '..', a path, or
// another blob's '.incomplete' / '.lock' (the hub's are 40- or 64-hex).
const ETAG_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const MAX_REDIRECTS = 10;

export type HubErrorCode =
  | 'E_HUB_NOT_FOUND'
  | 'E_HUB_ENTRY_NOT_FOUND'
  | 'E_HUB_OFFLINE_MISS'
  | 'E_HUB_CHECKSUM'
  | 'E_HUB_SIZE'
  | 'E_HUB_HTTP'
  | 'E_HUB_NETWORK'
  | 'E_HUB_PROTOCOL'
  | 'E_NO_PRETRAINED_WEIGHTS';

export class HubError extends Error {
  constructor(
    readonly code: HubErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HubError';
  }
}

/** Environment the hub code reads; pass your own to avoid depending on process.env (tests, workers). */
export type HubEnv = Readonly<Record<string, string | undefined>>;

export interface HubOptions {
  /** Git revision: branch, tag or 40-hex commit. Default 'main'. */
  readonly revision?: string;
  /** Cache root (the folder holding models--*). Default from HF_HUB_CACHE / HF_HOME. */
  readonly cacheDir?: string;
  /** Hub base URL. Default HF_ENDPOINT or https://huggingface.co. */
  readonly endpoint?: string;
  /** Use the cache only. Default HF_HUB_OFFLINE. */
  readonly offline?: boolean;
  /** Bearer token for gated/private repos. Default HF_TOKEN. */
  readonly token?: string;
  /** Ask the hub even when the revision is cached (to pick up a new commit on a branch). */
  readonly refresh?: boolean;
  /** Environment to read defaults from. Default process.env. */
  readonly env?: HubEnv;
  readonly fetch?: typeof fetch;
  readonly signal?: AbortSignal;
  /** Called as bytes arrive (total undefined when the hub gave no size). */
  readonly onProgress?: (p: { file: string; downloaded: number; total: number | undefined }) => void;
  /** Non-fatal notices (e.g. using the cache because the hub is unreachable). Default process.emitWarning. */
  readonly onWarning?: (message: string) => void;
  /**
   * Called when another process (or call) is downloading the same file into this cache: this one waits
   * for it and then uses its file. Default: a warning (onWarning) saying who is waited for.
   */
  readonly onWait?: (holder: LockHolder | null) => void;
  /** Snapshot entries as symlinks to the blobs (default; a copy where the filesystem has none), or false: always copies. */
  readonly symlinks?: boolean;
}

export interface HubFile {
  /** Path in snapshots/<commit>/ (a symlink to the blob, or a copy where symlinks are unavailable). */
  readonly path: string;
  readonly blobPath: string;
  readonly commit: string;
  readonly etag: string;
  readonly size: number;
  /** Whether the file came from the cache without downloading. */
  readonly fromCache: boolean;
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['1', 'on', 'yes', 'true'].includes(v.trim().toLowerCase());
}

/** The hub cache root, resolved like huggingface_hub: HF_HUB_CACHE, HUGGINGFACE_HUB_CACHE, $HF_HOME/hub. */
export function resolveHubCacheDir(env: HubEnv = process.env): string {
  if (env['HF_HUB_CACHE']) return env['HF_HUB_CACHE'];
  if (env['HUGGINGFACE_HUB_CACHE']) return env['HUGGINGFACE_HUB_CACHE'];
  const home = env['HF_HOME'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'huggingface');
  return join(home, 'hub');
}

/** 'timm/x' -> 'models--timm--x' (huggingface_hub's repo_folder_name). */
export function repoFolderName(repoId: string): string {
  return ['models', ...repoId.split('/')].join('--');
}

interface Resolved {
  readonly revision: string;
  readonly cacheDir: string;
  readonly endpoint: string;
  readonly offline: boolean;
  readonly token: string | undefined;
  readonly fetch: typeof fetch;
  readonly warn: (m: string) => void;
}

function resolveOptions(o: HubOptions): Resolved {
  const env = o.env ?? process.env;
  return {
    revision: o.revision ?? 'main',
    cacheDir: o.cacheDir ?? resolveHubCacheDir(env),
    endpoint: (o.endpoint ?? env['HF_ENDPOINT'] ?? DEFAULT_HF_ENDPOINT).replace(/\/+$/, ''),
    offline: o.offline ?? isTrue(env['HF_HUB_OFFLINE']),
    token: o.token ?? (env['HF_TOKEN'] || undefined),
    fetch: o.fetch ?? globalThis.fetch,
    warn: o.onWarning ?? ((m: string) => process.emitWarning(m, { code: 'NOISY_STUDENT_HUB' })),
  };
}

function validateNames(repoId: string, filename: string, revision: string): void {
  if (!/^[A-Za-z0-9][\w.-]*\/[\w.-]+$/.test(repoId) || repoId.includes('..')) {
    throw new HubError('E_HUB_NOT_FOUND', `Invalid hub repo id "${repoId}" (expected "owner/name")`);
  }
  // The filename and revision become cache paths: refuse anything that could leave the cache folder.
  const parts = filename.split('/');
  if (filename === '' || filename.startsWith('/') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new HubError('E_HUB_NOT_FOUND', `Invalid file name "${filename}" for ${repoId}`);
  }
  if (revision === '' || revision.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new HubError('E_HUB_NOT_FOUND', `Invalid revision "${revision}" for ${repoId}`);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

async function readRef(storage: string, revision: string): Promise<string | undefined> {
  if (COMMIT_RE.test(revision)) return revision;
  try {
    const c = (await readFile(join(storage, 'refs', revision), 'utf8')).trim();
    return COMMIT_RE.test(c) ? c : undefined;
  } catch {
    return undefined;
  }
}

/** Where a cached copy of the file is, without any network, or undefined. */
export async function findCachedFile(repoId: string, filename: string, options: HubOptions = {}): Promise<string | undefined> {
  const r = resolveOptions(options);
  validateNames(repoId, filename, r.revision);
  const storage = join(r.cacheDir, repoFolderName(repoId));
  const commit = await readRef(storage, r.revision);
  if (commit === undefined) return undefined;
  const p = join(storage, 'snapshots', commit, ...filename.split('/'));
  return (await exists(p)) ? p : undefined;
}

function resolveUrl(r: Resolved, repoId: string, filename: string): string {
  const file = filename.split('/').map(encodeURIComponent).join('/');
  return `${r.endpoint}/${repoId}/resolve/${encodeURIComponent(r.revision)}/${file}`;
}

function normalizeEtag(v: string | null): string | undefined {
  if (!v) return undefined;
  return v.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function describeNotFound(res: Response, repoId: string, filename: string, revision: string): HubError {
  const code = res.headers.get('x-error-code');
  const what =
    code === 'EntryNotFound'
      ? `file "${filename}" does not exist in ${repoId} at revision "${revision}"`
      : code === 'RevisionNotFound'
        ? `revision "${revision}" does not exist in ${repoId}`
        : code === 'GatedRepo'
          ? `${repoId} is gated: accept its terms on the hub and pass a token (HF_TOKEN)`
          : `repository ${repoId} not found (or private: pass a token)`;
  const errCode = code === 'EntryNotFound' ? 'E_HUB_ENTRY_NOT_FOUND' : 'E_HUB_NOT_FOUND';
  return new HubError(errCode, `Hugging Face hub: ${what} (HTTP ${res.status})`);
}

/** Hosts a plain-http redirect may go to: this machine only (a local hub or mirror, the tests' server). */
function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Redirects go to https only. The one allowance: plain http from an http endpoint on a loopback host
 * to a loopback host (a hub running on this machine); never from https down to http, never to plain
 * http elsewhere, never to another scheme.
 */
function checkRedirect(from: URL, to: URL, requested: string): void {
  if (to.protocol === 'https:') return;
  if (to.protocol === 'http:' && from.protocol === 'http:' && isLoopback(from.hostname) && isLoopback(to.hostname)) return;
  throw new HubError(
    'E_HUB_PROTOCOL',
    `${requested}: refusing to follow the redirect from ${from.protocol}//${from.host} to ${to.protocol}//${to.host}${to.pathname}: ` +
      'downloads follow redirects to https only (plain http only between hosts on this machine); check HF_ENDPOINT and any proxy in between',
  );
}

// Requests follow redirects by hand: a redirect on the same origin stays on the hub (renamed repos),
// one to another origin goes to the CDN, where the Authorization header must not be sent. Locations
// resolve as URLs do: `//host/path` is another host, not a path on this one.
async function request(
  r: Resolved,
  url: string,
  init: { method: 'HEAD' | 'GET'; headers: Record<string, string>; signal: AbortSignal | undefined },
  stopAtOtherOrigin: boolean,
): Promise<{ res: Response; url: string }> {
  let current = url;
  const origin = new URL(url).origin;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = { ...init.headers };
    if (r.token && new URL(current).origin === origin) headers['authorization'] = `Bearer ${r.token}`;
    let res: Response;
    try {
      res = await r.fetch(current, { method: init.method, headers, redirect: 'manual', signal: init.signal });
    } catch (e) {
      if (init.signal?.aborted) throw e;
      throw new HubError('E_HUB_NETWORK', `Cannot reach ${new URL(current).origin}: ${(e as Error).message}`, { cause: e });
    }
    if (res.status < 300 || res.status >= 400 || res.status === 304) return { res, url: current };
    const loc = res.headers.get('location');
    if (!loc) return { res, url: current };
    let next: URL;
    try {
      next = new URL(loc, current);
    } catch {
      await res.body?.cancel();
      throw new HubError('E_HUB_PROTOCOL', `${url}: the hub redirected to an invalid Location "${loc.slice(0, 200)}"`);
    }
    if (stopAtOtherOrigin && next.origin !== new URL(current).origin) return { res, url: current };
    await res.body?.cancel();
    checkRedirect(new URL(current), next, url);
    current = next.toString();
  }
  throw new HubError('E_HUB_PROTOCOL', `Too many redirects from ${url}`);
}

interface Metadata {
  readonly commit: string;
  readonly etag: string;
  readonly size: number | undefined;
}

async function fetchMetadata(r: Resolved, repoId: string, filename: string, signal: AbortSignal | undefined): Promise<Metadata> {
  const url = resolveUrl(r, repoId, filename);
  // Python's huggingface_hub reads the metadata from the hub's own response (a 302 to the CDN for LFS
  // files), which carries X-Repo-Commit and X-Linked-Etag/-Size; the CDN response does not.
  const { res } = await request(r, url, { method: 'HEAD', headers: { 'accept-encoding': 'identity' }, signal }, true);
  await res.body?.cancel();
  if (res.status === 404 || res.status === 401 || res.status === 403) {
    const err = describeNotFound(res, repoId, filename, r.revision);
    const commit = res.headers.get('x-repo-commit');
    if (err.code === 'E_HUB_ENTRY_NOT_FOUND' && commit && COMMIT_RE.test(commit)) {
      // Remember the absence like huggingface_hub (.no_exist/<commit>/<file>), so offline mode can
      // tell "the repo has no such file" from "not downloaded yet".
      await markMissing(join(r.cacheDir, repoFolderName(repoId)), r.revision, commit, filename);
    }
    throw err;
  }
  if (res.status >= 400) throw new HubError('E_HUB_HTTP', `Hugging Face hub: HTTP ${res.status} for ${url}`);
  const commit = res.headers.get('x-repo-commit') ?? undefined;
  const etag = normalizeEtag(res.headers.get('x-linked-etag')) ?? normalizeEtag(res.headers.get('etag'));
  const sizeHeader = res.headers.get('x-linked-size') ?? res.headers.get('content-length');
  const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : undefined;
  if (!commit || !COMMIT_RE.test(commit)) {
    throw new HubError('E_HUB_PROTOCOL', `${url}: the response has no valid X-Repo-Commit header; is ${r.endpoint} a Hugging Face hub?`);
  }
  if (!etag || !ETAG_RE.test(etag))
    throw new HubError('E_HUB_PROTOCOL', `${url}: the response has no usable ETag (${etag ? `"${etag.slice(0, 80)}"` : 'none'})`);
  return { commit, etag, size };
}

async function markMissing(storage: string, revision: string, commit: string, filename: string): Promise<void> {
  const p = join(storage, '.no_exist', commit, ...filename.split('/'));
  await mkdir(dirname(p), { recursive: true });
  await writeFile(p, '');
  await writeRef(storage, revision, commit);
}

let tmpCounter = 0;
/** A temporary name beside `path` (atomic_write's pattern: stale ones of dead processes are recognised). */
const tmpBeside = (path: string): string => join(dirname(path), `.${basename(path)}.${process.pid}.${++tmpCounter}.tmp`);

/**
 * The snapshot entry appears whole or not at all: a symlink or a copy is made under a temporary name
 * and renamed over the entry, so a crash never leaves a partial copy that a later call would serve.
 */
async function linkSnapshot(blobPath: string, pointerPath: string, symlinks: boolean): Promise<void> {
  await mkdir(dirname(pointerPath), { recursive: true });
  const tmp = tmpBeside(pointerPath);
  try {
    let linked = false;
    if (symlinks) {
      try {
        await symlink(relative(dirname(pointerPath), blobPath), tmp);
        linked = true;
      } catch {
        // Filesystems without symlinks get a copy, as huggingface_hub does.
      }
    }
    if (!linked) {
      await copyFile(blobPath, tmp);
      const fh = await open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    faultPoint(`rename ${tmp}`);
    await rename(tmp, pointerPath);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function writeRef(storage: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const refPath = join(storage, 'refs', ...revision.split('/'));
  await mkdir(dirname(refPath), { recursive: true });
  const tmp = tmpBeside(refPath);
  await writeFile(tmp, commit);
  await rename(tmp, refPath);
}

/** Git's blob id of a file: sha1 of "blob <size>\0" and the content (the hub's ETag of a file not in LFS). */
async function gitBlobOid(path: string, size: number): Promise<string> {
  const h = createHash('sha1').update(`blob ${size}\0`);
  await hashFile(path, h);
  return h.digest('hex');
}

async function hashFile(path: string, hash: ReturnType<typeof createHash>): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

async function downloadBlob(
  r: Resolved,
  repoId: string,
  filename: string,
  meta: Metadata,
  blobPath: string,
  options: HubOptions,
): Promise<void> {
  const url = resolveUrl(r, repoId, filename);
  const incomplete = `${blobPath}.incomplete`;
  await mkdir(dirname(blobPath), { recursive: true });
  const verifySha = SHA256_RE.test(meta.etag);
  const hash = createHash('sha256');
  // Without a size from the metadata, the GET's own Content-Length (or Content-Range total) is checked.
  let expectedSize = meta.size;

  let have = 0;
  try {
    have = (await stat(incomplete)).size;
  } catch {
    have = 0;
  }
  if (meta.size !== undefined && have > meta.size) {
    // Longer than the file can be: not a prefix of it. Start again.
    await rm(incomplete, { force: true });
    have = 0;
  }

  if (meta.size === undefined || have < meta.size) {
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (have > 0) headers['range'] = `bytes=${have}-`;
    const { res } = await request(r, url, { method: 'GET', headers, signal: options.signal }, false);
    if (res.status === 404 || res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw describeNotFound(res, repoId, filename, r.revision);
    }
    if (res.status === 416 && have > 0) {
      // The server says our partial file is already past the end: discard it and retry from scratch once.
      await res.body?.cancel();
      await rm(incomplete, { force: true });
      return downloadBlob(r, repoId, filename, meta, blobPath, options);
    }
    if (res.status !== 200 && res.status !== 206) {
      await res.body?.cancel();
      throw new HubError('E_HUB_HTTP', `Hugging Face hub: HTTP ${res.status} downloading ${url}`);
    }
    if (res.status === 206) {
      const m = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '');
      if (!m || Number(m[1]) !== have) {
        await res.body?.cancel();
        throw new HubError(
          'E_HUB_PROTOCOL',
          `${url}: asked for bytes from ${have}, got Content-Range "${res.headers.get('content-range')}"`,
        );
      }
    } else if (have > 0) {
      // The server ignored the Range header and sends the whole file: start over.
      have = 0;
    }
    if (expectedSize === undefined) {
      const total = res.status === 206 ? /\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1] : res.headers.get('content-length');
      if (total && /^\d+$/.test(total)) expectedSize = Number(total);
    }
    if (have > 0 && verifySha) await hashFile(incomplete, hash);
    const fh = await open(incomplete, have > 0 ? 'a' : 'w');
    let received = have;
    try {
      if (!res.body) throw new HubError('E_HUB_PROTOCOL', `${url}: empty response body`);
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        if (verifySha) hash.update(chunk);
        let off = 0;
        while (off < chunk.byteLength) off += (await fh.write(chunk, off, chunk.byteLength - off)).bytesWritten;
        received += chunk.byteLength;
        options.onProgress?.({ file: filename, downloaded: received, total: meta.size });
      }
      await fh.sync();
    } catch (e) {
      if (e instanceof HubError) throw e;
      // Keep the .incomplete file: the next call resumes from it.
      const of = meta.size !== undefined ? ` of ${meta.size}` : '';
      throw new HubError(
        'E_HUB_NETWORK',
        `Download of ${repoId}/${filename} interrupted after ${received}${of} bytes (${(e as Error).message}); call again to resume`,
        { cause: e },
      );
    } finally {
      await fh.close();
    }
  } else if (verifySha) {
    // Every byte is already there (an earlier run stopped before the rename): only verify.
    await hashFile(incomplete, hash);
  }

  const got = (await stat(incomplete)).size;
  if (expectedSize !== undefined && got !== expectedSize) {
    if (got < expectedSize) {
      throw new HubError(
        'E_HUB_NETWORK',
        `Download of ${repoId}/${filename} ended after ${got} of ${expectedSize} bytes; call again to resume`,
      );
    }
    await rm(incomplete, { force: true });
    throw new HubError('E_HUB_SIZE', `${repoId}/${filename}: received ${got} bytes, the hub announced ${expectedSize}; discarded`);
  }
  if (GIT_OID_RE.test(meta.etag)) {
    // A file kept in git (config.json): its ETag is the git blob id, checked like an LFS file's sha256.
    const oid = await gitBlobOid(incomplete, got);
    if (oid !== meta.etag) {
      await rm(incomplete, { force: true });
      throw new HubError(
        'E_HUB_CHECKSUM',
        `${repoId}/${filename}: git blob id ${oid} does not match the hub's ${meta.etag}; the download was discarded`,
      );
    }
  }
  if (verifySha) {
    const digest = hash.digest('hex');
    if (digest !== meta.etag) {
      await rm(incomplete, { force: true });
      throw new HubError(
        'E_HUB_CHECKSUM',
        `${repoId}/${filename}: sha256 ${digest} does not match the hub's ${meta.etag}; the download was discarded`,
      );
    }
  }
  await rename(incomplete, blobPath);
}

/**
 * Download one file of a hub repo into the hub cache (or find it there) and return its snapshot path.
 * @example const f = await hubDownload('timm/tf_efficientnet_b0.ns_jft_in1k', 'model.safetensors'); f.path
 */
export async function hubDownload(repoId: string, filename: string, options: HubOptions = {}): Promise<HubFile> {
  const r = resolveOptions(options);
  validateNames(repoId, filename, r.revision);
  const storage = join(r.cacheDir, repoFolderName(repoId));
  const fileParts = filename.split('/');

  const fromCache = async (commit: string): Promise<HubFile | undefined> => {
    const pointer = join(storage, 'snapshots', commit, ...fileParts);
    let st;
    try {
      st = await stat(pointer);
    } catch {
      return undefined;
    }
    let blobPath = pointer;
    let etag = '';
    try {
      if ((await lstat(pointer)).isSymbolicLink()) {
        blobPath = join(dirname(pointer), await readlink(pointer));
        etag = blobPath.split(/[\\/]/).pop() ?? '';
      }
    } catch {
      /* a copied file: no blob link to report */
    }
    return { path: pointer, blobPath, commit, etag, size: st.size, fromCache: true };
  };

  const cachedCommit = await readRef(storage, r.revision);
  const knownMissing = async (): Promise<boolean> =>
    cachedCommit !== undefined && exists(join(storage, '.no_exist', cachedCommit, ...fileParts));
  const missingError = (): HubError =>
    new HubError(
      'E_HUB_ENTRY_NOT_FOUND',
      `Hugging Face hub: file "${filename}" does not exist in ${repoId} at revision "${r.revision}" (cached answer)`,
    );
  if (r.offline) {
    const hit = cachedCommit !== undefined ? await fromCache(cachedCommit) : undefined;
    if (hit) return hit;
    if (await knownMissing()) throw missingError();
    throw new HubError(
      'E_HUB_OFFLINE_MISS',
      `${repoId}/${filename} (revision "${r.revision}") is not in the Hugging Face cache at ${r.cacheDir}, ` +
        `and offline mode (HF_HUB_OFFLINE) forbids downloading it. Download it once online, or give a local file (checkpointPath).`,
    );
  }
  if (cachedCommit !== undefined && !options.refresh) {
    const hit = await fromCache(cachedCommit);
    if (hit) return hit;
    if (await knownMissing()) throw missingError();
  }

  let meta: Metadata;
  try {
    meta = await fetchMetadata(r, repoId, filename, options.signal);
  } catch (e) {
    if (e instanceof HubError && e.code === 'E_HUB_NETWORK' && cachedCommit !== undefined) {
      const hit = await fromCache(cachedCommit);
      if (hit) {
        r.warn(`${e.message}; using the cached ${repoId}/${filename} at commit ${cachedCommit}`);
        return hit;
      }
    }
    throw e;
  }

  const blobPath = join(storage, 'blobs', meta.etag);
  const pointer = join(storage, 'snapshots', meta.commit, ...fileParts);
  let downloaded = false;
  // One download per blob at a time, across processes sharing the cache: a second one waits (as
  // huggingface_hub's file lock does), then finds the finished blob. The wait ends when the other
  // download makes no progress for 10 minutes.
  const incomplete = `${blobPath}.incomplete`;
  await withFileLock(
    `${blobPath}.lock`,
    async () => {
      if (!(await exists(blobPath))) {
        await downloadBlob(r, repoId, filename, meta, blobPath, options);
        downloaded = true;
      }
      if (!(await exists(pointer))) await linkSnapshot(blobPath, pointer, options.symlinks ?? true);
      await writeRef(storage, r.revision, meta.commit);
    },
    {
      what: `the download of ${repoId}/${filename}`,
      progress: () => {
        try {
          return statSync(incomplete).size;
        } catch {
          return undefined;
        }
      },
      onWait:
        options.onWait ??
        ((h) =>
          r.warn(
            `waiting for ${h ? `pid ${h.pid} ("${h.command}")` : 'another process'}, which is downloading ${repoId}/${filename} into ${r.cacheDir}`,
          )),
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
  const size = (await stat(blobPath)).size;
  return { path: pointer, blobPath, commit: meta.commit, etag: meta.etag, size, fromCache: !downloaded };
}

/** Parse timm's `hf_hub_id` ('timm/name' or 'timm/name@revision'). */
export function parseHubId(hfHubId: string): { repoId: string; revision: string | undefined } {
  const at = hfHubId.indexOf('@');
  return at < 0 ? { repoId: hfHubId, revision: undefined } : { repoId: hfHubId.slice(0, at), revision: hfHubId.slice(at + 1) };
}

export interface PretrainedFiles {
  readonly repoId: string;
  /** model.safetensors (or the cfg's hf_hub_filename). */
  readonly weights: HubFile;
  /** config.json, or null when the repo has none (the config table in pretrained.ts still applies). */
  readonly config: HubFile | null;
}

/**
 * Fetch the weights (and config.json) of a pretrained config from the hub cache or the hub.
 * Throws E_NO_PRETRAINED_WEIGHTS when the config has no hub weights: never a silent random init.
 */
export async function downloadPretrained(cfg: PretrainedCfg, options: HubOptions = {}): Promise<PretrainedFiles> {
  const name = `${cfg.architecture}.${cfg.tag}`;
  if (!cfg.hfHubId) {
    const why = hasWeights(cfg)
      ? `its weights are only at ${cfg.url || cfg.file} (a legacy .pth this library does not load); ` +
        'convert them to safetensors and pass checkpointPath'
      : 'timm has no pretrained weights for it';
    throw new HubError('E_NO_PRETRAINED_WEIGHTS', `No Hugging Face hub weights for ${name}: ${why}.`);
  }
  const { repoId, revision } = parseHubId(cfg.hfHubId);
  const opts = revision !== undefined && options.revision === undefined ? { ...options, revision } : options;
  const weights = await hubDownload(repoId, cfg.hfHubFilename ?? 'model.safetensors', opts);
  let config: HubFile | null = null;
  try {
    config = await hubDownload(repoId, 'config.json', opts);
  } catch (e) {
    // A repo without config.json is legal; any other failure (offline miss, network, checksum) is not.
    if (!(e instanceof HubError && e.code === 'E_HUB_ENTRY_NOT_FOUND')) throw e;
  }
  return { repoId, weights, config };
}
