// The hub client against a hub (or a man in the middle) that answers badly: redirects that downgrade
// to http or leave for plain http elsewhere, protocol-relative Locations, etags that are path parts,
// a corrupted config.json, and a snapshot copy that must appear complete or not at all.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { HubError, hubDownload, repoFolderName } from '../../src/models/hub.js';
import { setFaultListener } from '../../src/util/fault_points.js';
import { COMMIT, CONFIG, FakeHub, REPO, WEIGHTS } from '../helpers/fake_hub.js';
import { REPO_ROOT } from '../helpers/paths.js';

const hub = new FakeHub();
const roots: string[] = [];
const fresh = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'noisy-hub-hard-'));
  roots.push(d);
  return d;
};
const opts = (cacheDir: string, extra: Record<string, unknown> = {}) => ({ cacheDir, endpoint: hub.hubUrl, env: {}, ...extra });
const hubCode = (code: string, re?: RegExp) => (e: unknown) => e instanceof HubError && e.code === code && (!re || re.test(e.message));

before(() => hub.start());
after(async () => {
  await hub.stop();
  for (const d of roots) rmSync(d, { recursive: true, force: true });
});
beforeEach(() => hub.reset());

describe('hub redirects', () => {
  it('refuses a redirect to plain http on a host that is not loopback (and to other schemes)', async () => {
    const file = hub.repos.get(REPO)!.files.get('model.safetensors')!;
    for (const target of ['http://192.0.2.1:9/cdn/x', 'file:///etc/passwd']) {
      file.redirectTo = target;
      await assert.rejects(
        hubDownload(REPO, 'model.safetensors', opts(fresh(), { signal: AbortSignal.timeout(20_000) })),
        hubCode('E_HUB_PROTOCOL', /refusing to follow the redirect/),
        target,
      );
    }
  });

  it('a protocol-relative Location (//host/path) is another host: metadata from the hub, token not sent there', async () => {
    hub.repos.get(REPO)!.files.get('model.safetensors')!.protocolRelative = true;
    const f = await hubDownload(REPO, 'model.safetensors', opts(fresh(), { token: 'hf_secret' }));
    assert.ok(readFileSync(f.path).equals(WEIGHTS));
    const cdn = hub.log.filter((r) => r.server === 'cdn');
    assert.equal(cdn.length, 1, 'one GET on the CDN (the metadata HEAD stopped at the hub)');
    assert.equal(cdn[0]!.authorization, undefined);
  });
});

describe('hub over https', () => {
  const tls = new FakeHub();
  let dir = '';
  before(async () => {
    dir = fresh();
    const r = spawnSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ]);
    assert.equal(r.status, 0, `openssl: ${r.stderr}`);
    await tls.start({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) });
  });
  after(() => tls.stop());
  beforeEach(() => tls.reset());

  /** hubDownload in a child process that trusts the test certificate; its result or error code. */
  const download = (): Promise<{ ok?: boolean; code?: string; message?: string }> =>
    new Promise((resolve, reject) => {
      const code = `const { hubDownload } = await import(${JSON.stringify(join(REPO_ROOT, 'src/models/hub.ts'))});
        try {
          const f = await hubDownload(${JSON.stringify(REPO)}, 'model.safetensors', { cacheDir: ${JSON.stringify(fresh())}, endpoint: ${JSON.stringify(tls.hubUrl)}, env: {} });
          console.log(JSON.stringify({ ok: (await import('node:fs')).readFileSync(f.path).length === ${WEIGHTS.length} }));
        } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`;
      execFile(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', code],
        { cwd: REPO_ROOT, env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') } },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout))),
      );
    });

  it('downloads from an https hub through an https CDN', async () => {
    assert.deepEqual(await download(), { ok: true });
  });

  it('never follows a redirect from https down to http, not even to a loopback host', async () => {
    tls.repos.get(REPO)!.files.get('model.safetensors')!.redirectTo = `${hub.cdnUrl}/cdn/x`;
    const r = await download();
    assert.equal(r.code, 'E_HUB_PROTOCOL', JSON.stringify(r));
    assert.match(r.message!, /refusing to follow the redirect from https:\/\/127\.0\.0\.1:\d+ to http:\/\/127\.0\.0\.1/);
    assert.equal(hub.log.length, 0, 'the http server was never contacted');
  });
});

describe('hub etags and verification', () => {
  for (const etag of ['.', '..']) {
    it(`refuses the etag "${etag}" (it would name the blobs folder or its parent)`, async () => {
      const cache = fresh();
      hub.repos.get(REPO)!.files.get('config.json')!.etag = etag;
      await assert.rejects(hubDownload(REPO, 'config.json', opts(cache)), hubCode('E_HUB_PROTOCOL', /no usable ETag/));
      assert.ok(!existsSync(join(cache, repoFolderName(REPO), 'snapshots')));
    });
  }

  it('verifies config.json (a git blob: its oid) as it verifies weights: a corrupted copy of the right size is refused', async () => {
    const cache = fresh();
    const bad = Buffer.from(CONFIG);
    bad[10]! ^= 0x01;
    hub.repos.get(REPO)!.files.get('config.json')!.body = bad;
    await assert.rejects(hubDownload(REPO, 'config.json', opts(cache)), hubCode('E_HUB_CHECKSUM', /config\.json/));
    assert.ok(!existsSync(join(cache, repoFolderName(REPO), 'snapshots', COMMIT, 'config.json')));
  });
});

describe('hub snapshot copies', () => {
  it('a copy (no symlinks) appears under its snapshot name only complete: a crash before its rename leaves no file there', async () => {
    const cache = fresh();
    const pointer = join(cache, repoFolderName(REPO), 'snapshots', COMMIT, 'model.safetensors');
    // Crash (throw) at the rename that would publish the snapshot copy.
    setFaultListener((event) => {
      if (event.startsWith('rename ') && event.includes(join('snapshots', COMMIT))) throw new Error('crash before the rename');
    });
    try {
      await assert.rejects(hubDownload(REPO, 'model.safetensors', opts(cache, { symlinks: false })), /crash before the rename/);
    } finally {
      setFaultListener(null);
    }
    assert.ok(!existsSync(pointer), 'no partial copy under the final name');
    const f = await hubDownload(REPO, 'model.safetensors', opts(cache, { symlinks: false }));
    assert.equal(f.path, pointer);
    assert.ok(!lstatSync(pointer).isSymbolicLink());
    assert.ok(readFileSync(pointer).equals(WEIGHTS));
  });
});
