// A local server on 127.0.0.1 that speaks the Hugging Face hub's protocol: /{repo}/resolve/{revision}/{file}
// with X-Repo-Commit, ETag / X-Linked-Etag, X-Linked-Size, a 302 to a CDN on another origin for LFS
// files, Range requests, and the hub's X-Error-Code 404s. Used by the hub client tests and by
// createModel's pretrained-weights tests.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES as TIMM_FIXTURES } from './paths.js';

export const REPO = 'timm/tf_efficientnet_b0.ns_jft_in1k';
export const COMMIT = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';
export const WEIGHTS = readFileSync(join(TIMM_FIXTURES, 'tf_efficientnet_b0', 'model.safetensors'));
export const CONFIG = readFileSync(join(TIMM_FIXTURES, 'tf_efficientnet_b0', 'config.json'));
export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export const gitOid = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
export const WEIGHTS_SHA = sha256(WEIGHTS);
export const CONFIG_OID = gitOid(CONFIG);

export interface ServedFile {
  data: Buffer;
  lfs: boolean;
  /** Bytes actually sent instead of `data` (to simulate corruption); headers still describe `data`. */
  body?: Buffer;
  /** Close the connection after this many body bytes (once), to simulate a dropped download. */
  cutAfter?: number;
  /** Send this many body bytes, then wait for `gate` before the rest (once): a download in progress. */
  stallAfter?: number;
  gate?: Promise<void>;
  /** The hub's ETag (and X-Linked-Etag) for this file instead of the real one (a hostile or broken hub). */
  etag?: string;
  /** The hub answers with a 302 to this Location (with the file's hub headers) instead of serving it. */
  redirectTo?: string;
  /** For LFS files: the CDN Location as a protocol-relative `//host:port/...` URL. */
  protocolRelative?: boolean;
}
export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
  bytesSent: number;
}

export class FakeHub {
  readonly repos = new Map<string, { commit: string; files: Map<string, ServedFile> }>();
  readonly log: LoggedRequest[] = [];
  /** Old repo name -> new name: answered with a relative 307 like a renamed repo on the hub. */
  readonly renamed = new Map<string, string>();
  private hub!: Server;
  private cdn!: Server;
  hubUrl = '';
  cdnUrl = '';

  /** With `tls` (a key and certificate for 127.0.0.1), both servers speak https. */
  async start(tls?: { key: Buffer; cert: Buffer }): Promise<void> {
    const make = (l: RequestListener): Server => (tls ? createTlsServer(tls, l) : createServer(l));
    this.hub = make((req, res) => this.handleHub(req, res));
    this.cdn = make((req, res) => this.handleCdn(req, res));
    for (const s of [this.hub, this.cdn]) await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const scheme = tls ? 'https' : 'http';
    this.hubUrl = `${scheme}://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
    this.cdnUrl = `${scheme}://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    }
  }

  reset(): void {
    this.log.length = 0;
    this.repos.clear();
    this.renamed.clear();
    this.repos.set(REPO, {
      commit: COMMIT,
      files: new Map([
        ['model.safetensors', { data: WEIGHTS, lfs: true }],
        ['config.json', { data: CONFIG, lfs: false }],
      ]),
    });
  }

  private entry(req: IncomingMessage, server: 'hub' | 'cdn'): LoggedRequest {
    const e: LoggedRequest = {
      server,
      method: req.method ?? '',
      path: decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname),
      range: req.headers.range,
      authorization: req.headers.authorization,
      bytesSent: 0,
    };
    this.log.push(e);
    return e;
  }

  private handleHub(req: IncomingMessage, res: ServerResponse): void {
    const e = this.entry(req, 'hub');
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(e.path);
    if (!m) return this.error(res, 404, 'EntryNotFound');
    const [, repoId, revision, file] = m as unknown as [string, string, string, string];
    const renamedTo = this.renamed.get(repoId);
    if (renamedTo) {
      res.writeHead(307, { location: `/${renamedTo}/resolve/${revision}/${file}` }).end();
      return;
    }
    const repo = this.repos.get(repoId);
    // The hub answers 401 for a repo that does not exist (or is private) when not authenticated.
    if (!repo) return this.error(res, 401, 'RepositoryNotFound');
    if (revision !== 'main' && revision !== repo.commit) return this.error(res, 404, 'RevisionNotFound');
    const f = repo.files.get(file);
    if (!f) return this.error(res, 404, 'EntryNotFound', { 'x-repo-commit': repo.commit });
    if (f.lfs || f.redirectTo !== undefined) {
      const sha = f.etag ?? sha256(f.data);
      const cdn = `${this.cdnUrl}/cdn/${repoId}/${sha256(f.data)}`;
      res.writeHead(302, {
        location: f.redirectTo ?? (f.protocolRelative ? cdn.replace(/^https?:/, '') : cdn),
        'x-repo-commit': repo.commit,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': String(f.data.length),
        etag: `"${sha}"`,
        'content-length': '0',
      });
      res.end();
      return;
    }
    this.sendBody(req, res, e, f, { 'x-repo-commit': repo.commit, etag: `"${f.etag ?? gitOid(f.data)}"` });
  }

  private handleCdn(req: IncomingMessage, res: ServerResponse): void {
    const e = this.entry(req, 'cdn');
    const m = /^\/cdn\/([^/]+\/[^/]+)\/([0-9a-f]{64})$/.exec(e.path);
    const repo = m ? this.repos.get(m[1]!) : undefined;
    const f = repo ? [...repo.files.values()].find((x) => x.lfs && sha256(x.data) === m![2]) : undefined;
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    // A CDN has its own ETag and no hub headers.
    this.sendBody(req, res, e, f, { etag: '"cdn-object-etag"' });
  }

  private sendBody(req: IncomingMessage, res: ServerResponse, e: LoggedRequest, f: ServedFile, headers: Record<string, string>): void {
    const body = f.body ?? f.data;
    let start = 0;
    let status = 200;
    const h: Record<string, string> = { ...headers, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (start >= body.length) {
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      status = 206;
      h['content-range'] = `bytes ${start}-${body.length - 1}/${body.length}`;
    }
    const chunk = body.subarray(start);
    h['content-length'] = String(chunk.length);
    res.writeHead(status, h);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    if (f.stallAfter !== undefined) {
      const n = f.stallAfter;
      delete f.stallAfter;
      res.write(chunk.subarray(0, n), () => {
        void (f.gate ?? Promise.resolve()).then(() => {
          e.bytesSent = chunk.length;
          res.end(chunk.subarray(n));
        });
      });
      return;
    }
    if (f.cutAfter !== undefined) {
      const n = f.cutAfter;
      delete f.cutAfter;
      res.write(chunk.subarray(0, n), () => {
        e.bytesSent = n;
        res.socket?.destroy();
      });
      return;
    }
    e.bytesSent = chunk.length;
    res.end(chunk);
  }

  private error(res: ServerResponse, status: number, code: string, extra: Record<string, string> = {}): void {
    res.writeHead(status, { 'x-error-code': code, 'content-type': 'application/json', ...extra });
    res.end(JSON.stringify({ error: code }));
  }
}
