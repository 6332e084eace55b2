// End-to-end tests of the hub client against a local server on 127.0.0.1 that speaks the hub's
// protocol: /{repo}/resolve/{revision}/{file} with X-Repo-Commit, ETag / X-Linked-Etag, X-Linked-Size,
// a 302 to a CDN on another origin for LFS files, Range requests, and the hub's X-Error-Code 404s.
// The served files are the timm fixture's model.safetensors and config.json.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  downloadPretrained,
  findCachedFile,
  HubError,
  hubDownload,
  parseHubId,
  repoFolderName,
  resolveHubCacheDir,
} from '../../src/models/hub.js';
import { resolveModelName } from '../../src/models/names.js';
import { archPretrained } from '../../src/models/pretrained.js';
import { COMMIT, CONFIG, CONFIG_OID, FakeHub, REPO, WEIGHTS, WEIGHTS_SHA } from '../helpers/fake_hub.js';

const hub = new FakeHub();
const tmpRoots: string[] = [];
function freshCache(): string {
  const d = mkdtempSync(join(tmpdir(), 'noisy-hub-test-'));
  tmpRoots.push(d);
  return d;
}
const storageOf = (cacheDir: string, repo = REPO): string => join(cacheDir, repoFolderName(repo));
// Options that never read the real environment (no HF_TOKEN/HF_HUB_OFFLINE leaking in from the shell).
const opts = (cacheDir: string, extra: Record<string, unknown> = {}) => ({ cacheDir, endpoint: hub.hubUrl, env: {}, ...extra });

before(async () => {
  await hub.start();
});
after(async () => {
  await hub.stop();
  for (const d of tmpRoots) rmSync(d, { recursive: true, force: true });
});
beforeEach(() => hub.reset());

describe('hub cache layout and environment', () => {
  it('resolves the cache dir like huggingface_hub', () => {
    assert.equal(resolveHubCacheDir({ HF_HUB_CACHE: '/c' }), '/c');
    assert.equal(resolveHubCacheDir({ HUGGINGFACE_HUB_CACHE: '/legacy' }), '/legacy');
    assert.equal(resolveHubCacheDir({ HF_HOME: '/h' }), join('/h', 'hub'));
    assert.equal(resolveHubCacheDir({ XDG_CACHE_HOME: '/x' }), join('/x', 'huggingface', 'hub'));
    assert.equal(repoFolderName(REPO), 'models--timm--tf_efficientnet_b0.ns_jft_in1k');
    assert.deepEqual(parseHubId('timm/x@v1'), { repoId: 'timm/x', revision: 'v1' });
  });
});

describe('hubDownload against a local hub', () => {
  it('downloads weights and config into the standard layout, verified', async () => {
    const cache = freshCache();
    const cfg = resolveModelName('tf_efficientnet_b0_ns').pretrainedCfg;
    const progress: number[] = [];
    const files = await downloadPretrained(
      cfg,
      opts(cache, {
        onProgress: (p: { file: string; downloaded: number }) => p.file === 'model.safetensors' && progress.push(p.downloaded),
      }),
    );
    assert.equal(files.repoId, REPO);
    const st = storageOf(cache);

    assert.equal(files.weights.path, join(st, 'snapshots', COMMIT, 'model.safetensors'));
    assert.equal(files.weights.blobPath, join(st, 'blobs', WEIGHTS_SHA));
    assert.equal(files.weights.etag, WEIGHTS_SHA);
    assert.equal(files.weights.commit, COMMIT);
    assert.equal(files.weights.size, WEIGHTS.length);
    assert.equal(files.weights.fromCache, false);
    assert.ok(lstatSync(files.weights.path).isSymbolicLink());
    assert.equal(readlinkSync(files.weights.path), join('..', '..', 'blobs', WEIGHTS_SHA));
    assert.ok(readFileSync(files.weights.path).equals(WEIGHTS));
    assert.equal(readFileSync(join(st, 'refs', 'main'), 'utf8'), COMMIT);
    assert.ok(!existsSync(`${files.weights.blobPath}.incomplete`));
    assert.equal(progress.at(-1), WEIGHTS.length);

    assert.ok(files.config);
    assert.equal(files.config.etag, CONFIG_OID);
    assert.ok(readFileSync(files.config.path).equals(CONFIG));

    // HEAD on the hub, then GET via the 302 to the CDN; config.json straight from the hub.
    const weightReqs = hub.log.filter((r) => r.path.endsWith('model.safetensors') || r.server === 'cdn');
    assert.deepEqual(
      weightReqs.map((r) => [r.server, r.method]),
      [
        ['hub', 'HEAD'],
        ['hub', 'GET'],
        ['cdn', 'GET'],
      ],
    );
  });

  it('serves a cached file without any request', async () => {
    const cache = freshCache();
    await hubDownload(REPO, 'model.safetensors', opts(cache));
    hub.log.length = 0;
    const again = await hubDownload(REPO, 'model.safetensors', opts(cache));
    assert.equal(again.fromCache, true);
    assert.equal(again.etag, WEIGHTS_SHA);
    assert.equal(hub.log.length, 0);
    assert.equal(await findCachedFile(REPO, 'model.safetensors', opts(cache)), again.path);
  });

  it('offline (HF_HUB_OFFLINE=1): uses the cache, never the network', async () => {
    const cache = freshCache();
    await hubDownload(REPO, 'model.safetensors', opts(cache));
    await hubDownload(REPO, 'config.json', opts(cache));
    hub.log.length = 0;
    const env = { HF_HUB_OFFLINE: '1', HF_HUB_CACHE: cache, HF_ENDPOINT: hub.hubUrl };
    const hit = await hubDownload(REPO, 'model.safetensors', { env });
    assert.equal(hit.fromCache, true);
    assert.ok(readFileSync(hit.path).equals(WEIGHTS));
    const files = await downloadPretrained(archPretrained('tf_efficientnet_b0').cfgs.get('ns_jft_in1k')!, { env });
    assert.ok(files.config);
    assert.equal(hub.log.length, 0);
  });

  it('offline miss: a clear error, no request', async () => {
    const cache = freshCache();
    await assert.rejects(
      hubDownload(REPO, 'model.safetensors', { env: { HF_HUB_OFFLINE: 'true', HF_HUB_CACHE: cache, HF_ENDPOINT: hub.hubUrl } }),
      (e: unknown) =>
        e instanceof HubError &&
        e.code === 'E_HUB_OFFLINE_MISS' &&
        e.message.includes(REPO) &&
        e.message.includes(cache) &&
        /offline mode \(HF_HUB_OFFLINE\)/.test(e.message),
    );
    assert.equal(hub.log.length, 0);
  });

  it('resumes a partial .incomplete download with a Range request', async () => {
    const cache = freshCache();
    const blobs = join(storageOf(cache), 'blobs');
    mkdirSync(blobs, { recursive: true });
    const have = 1_000_003;
    writeFileSync(join(blobs, `${WEIGHTS_SHA}.incomplete`), WEIGHTS.subarray(0, have));
    const f = await hubDownload(REPO, 'model.safetensors', opts(cache));
    assert.ok(readFileSync(f.path).equals(WEIGHTS));
    const cdn = hub.log.filter((r) => r.server === 'cdn');
    assert.equal(cdn.length, 1);
    assert.equal(cdn[0]!.range, `bytes=${have}-`);
    assert.equal(cdn[0]!.bytesSent, WEIGHTS.length - have);
  });

  it('keeps the partial file when the connection drops, and resumes next time', async () => {
    const cache = freshCache();
    hub.repos.get(REPO)!.files.get('model.safetensors')!.cutAfter = 3_000_000;
    await assert.rejects(
      hubDownload(REPO, 'model.safetensors', opts(cache)),
      (e: unknown) => e instanceof HubError && e.code === 'E_HUB_NETWORK' && /resume/.test(e.message),
    );
    const incomplete = join(storageOf(cache), 'blobs', `${WEIGHTS_SHA}.incomplete`);
    const partial = readFileSync(incomplete);
    assert.ok(partial.length > 0 && partial.length < WEIGHTS.length);
    assert.ok(partial.equals(WEIGHTS.subarray(0, partial.length)));
    assert.ok(!existsSync(join(storageOf(cache), 'refs', 'main')));
    hub.log.length = 0;
    const f = await hubDownload(REPO, 'model.safetensors', opts(cache));
    assert.ok(readFileSync(f.path).equals(WEIGHTS));
    assert.equal(hub.log.find((r) => r.server === 'cdn')!.range, `bytes=${partial.length}-`);
  });

  it('rejects content whose sha256 differs from the LFS etag, and keeps nothing', async () => {
    const cache = freshCache();
    const corrupt = Buffer.from(WEIGHTS);
    corrupt[corrupt.length - 5]! ^= 0xff;
    hub.repos.get(REPO)!.files.get('model.safetensors')!.body = corrupt;
    await assert.rejects(
      hubDownload(REPO, 'model.safetensors', opts(cache)),
      (e: unknown) => e instanceof HubError && e.code === 'E_HUB_CHECKSUM' && e.message.includes(WEIGHTS_SHA),
    );
    const st = storageOf(cache);
    assert.ok(!existsSync(join(st, 'blobs', WEIGHTS_SHA)));
    assert.ok(!existsSync(join(st, 'blobs', `${WEIGHTS_SHA}.incomplete`)));
    assert.ok(!existsSync(join(st, 'snapshots', COMMIT, 'model.safetensors')));
  });

  it('rejects more bytes than the hub announced', async () => {
    const cache = freshCache();
    hub.repos.get(REPO)!.files.get('model.safetensors')!.body = Buffer.concat([WEIGHTS, Buffer.from('extra')]);
    await assert.rejects(
      hubDownload(REPO, 'model.safetensors', opts(cache)),
      (e: unknown) => e instanceof HubError && e.code === 'E_HUB_SIZE',
    );
  });

  it('404s become clear errors: unknown repo, revision, file', async () => {
    const cache = freshCache();
    await assert.rejects(
      hubDownload('timm/no_such_model.x', 'model.safetensors', opts(cache)),
      (e: unknown) =>
        e instanceof HubError && e.code === 'E_HUB_NOT_FOUND' && /repository timm\/no_such_model\.x not found/.test(e.message),
    );
    await assert.rejects(
      hubDownload(REPO, 'model.safetensors', opts(cache, { revision: 'v9' })),
      (e: unknown) => e instanceof HubError && e.code === 'E_HUB_NOT_FOUND' && /revision "v9" does not exist/.test(e.message),
    );
    await assert.rejects(
      hubDownload(REPO, 'pytorch_model.bin', opts(cache)),
      (e: unknown) =>
        e instanceof HubError && e.code === 'E_HUB_ENTRY_NOT_FOUND' && /file "pytorch_model.bin" does not exist/.test(e.message),
    );
    assert.ok(existsSync(join(storageOf(cache), '.no_exist', COMMIT, 'pytorch_model.bin')));
  });

  it('a repo without config.json still gives its weights, online and offline', async () => {
    const cache = freshCache();
    hub.repos.get(REPO)!.files.delete('config.json');
    const cfg = resolveModelName('tf_efficientnet_b0').pretrainedCfg;
    const files = await downloadPretrained(cfg, opts(cache));
    assert.equal(files.config, null);
    hub.log.length = 0;
    const offline = await downloadPretrained(cfg, opts(cache, { offline: true }));
    assert.equal(offline.config, null);
    assert.equal(hub.log.length, 0);
  });

  it('refuses configs without hub weights instead of falling back', async () => {
    const untrained = archPretrained('efficientnet_b7').cfgs.get('untrained')!;
    await assert.rejects(
      downloadPretrained(untrained, opts(freshCache())),
      (e: unknown) => e instanceof HubError && e.code === 'E_NO_PRETRAINED_WEIGHTS',
    );
  });

  it('sends the token to the hub but never to the CDN origin', async () => {
    const cache = freshCache();
    await hubDownload(REPO, 'model.safetensors', opts(cache, { token: 'hf_secret' }));
    for (const r of hub.log) assert.equal(r.authorization, r.server === 'hub' ? 'Bearer hf_secret' : undefined, `${r.server} ${r.method}`);
  });

  it('follows relative redirects of renamed repos, caching under the requested name', async () => {
    const cache = freshCache();
    hub.renamed.set('timm/old_name', REPO);
    const f = await hubDownload('timm/old_name', 'config.json', opts(cache));
    assert.equal(f.path, join(storageOf(cache, 'timm/old_name'), 'snapshots', COMMIT, 'config.json'));
    assert.ok(readFileSync(f.path).equals(CONFIG));
  });

  it('pins a commit revision without writing refs', async () => {
    const cache = freshCache();
    const f = await hubDownload(REPO, 'config.json', opts(cache, { revision: COMMIT }));
    assert.equal(f.commit, COMMIT);
    assert.ok(!existsSync(join(storageOf(cache), 'refs')));
    hub.log.length = 0;
    const again = await hubDownload(REPO, 'config.json', opts(cache, { revision: COMMIT }));
    assert.equal(again.fromCache, true);
    assert.equal(hub.log.length, 0);
  });

  it('when the hub is unreachable: the cached copy with a warning, else a network error', async () => {
    const cache = freshCache();
    await hubDownload(REPO, 'config.json', opts(cache));
    const dead = 'http://127.0.0.1:9'; // discard port: connection refused
    const warnings: string[] = [];
    const f = await hubDownload(REPO, 'config.json', {
      cacheDir: cache,
      endpoint: dead,
      env: {},
      refresh: true,
      onWarning: (m) => warnings.push(m),
    });
    assert.equal(f.fromCache, true);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /using the cached timm\/tf_efficientnet_b0\.ns_jft_in1k\/config\.json/);
    await assert.rejects(
      hubDownload(REPO, 'config.json', { cacheDir: freshCache(), endpoint: dead, env: {} }),
      (e: unknown) => e instanceof HubError && e.code === 'E_HUB_NETWORK',
    );
  });

  it('reads HF_ENDPOINT and HF_HUB_CACHE from the environment', async () => {
    const cache = freshCache();
    const f = await hubDownload(REPO, 'config.json', { env: { HF_ENDPOINT: `${hub.hubUrl}/`, HF_HUB_CACHE: cache } });
    assert.equal(f.path, join(storageOf(cache), 'snapshots', COMMIT, 'config.json'));
    assert.ok(hub.log.length > 0);
  });

  it('refuses names that would escape the cache folder', async () => {
    await assert.rejects(hubDownload(REPO, '../x', opts(freshCache())), HubError);
    await assert.rejects(hubDownload('timm/../x', 'a', opts(freshCache())), HubError);
    await assert.rejects(hubDownload(REPO, 'a', opts(freshCache(), { revision: '../main' })), HubError);
  });
});
