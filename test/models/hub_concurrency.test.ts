// Two downloads of one file into one hub cache (two jobs sharing HF_HUB_CACHE): the second waits on
// the first's file lock, then uses the finished, verified blob; nothing is downloaded twice and the
// two never write the same .incomplete.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { hubDownload } from '../../src/models/hub.js';
import { FakeHub, REPO, WEIGHTS } from '../helpers/fake_hub.js';

const hub = new FakeHub();
const roots: string[] = [];
before(() => hub.start());
after(async () => {
  await hub.stop();
  for (const d of roots) rmSync(d, { recursive: true, force: true });
});
beforeEach(() => hub.reset());

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('concurrent hub downloads of one file', () => {
  it('the second waits for the first and uses its verified file', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'noisy-hub-conc-'));
    roots.push(cache);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const file = hub.repos.get(REPO)!.files.get('model.safetensors')!;
    file.stallAfter = 1_000_000;
    file.gate = gate;
    const opts = { cacheDir: cache, endpoint: hub.hubUrl, env: {} };
    const cdnGets = (): number => hub.log.filter((r) => r.server === 'cdn' && r.method === 'GET').length;

    const first = hubDownload(REPO, 'model.safetensors', opts);
    // The first download is under way (its body stalls after 1 MB) when the second starts.
    for (let i = 0; i < 500 && cdnGets() === 0; i++) await pause(10);
    assert.equal(cdnGets(), 1);
    let waitedFor: number | undefined;
    const second = hubDownload(REPO, 'model.safetensors', { ...opts, onWait: (h) => (waitedFor = h?.pid ?? -1) });
    // Let the first finish once the second waits for it (or, without a lock, once it sent its own request).
    const hubGets = (): number => hub.log.filter((r) => r.server === 'hub' && r.method === 'GET').length;
    for (let i = 0; i < 500 && waitedFor === undefined && hubGets() < 2; i++) await pause(10);
    open();
    const [a, b] = await Promise.all([first, second]);

    assert.equal(waitedFor, process.pid, 'the second download waited for the lock of the first');
    assert.equal(cdnGets(), 1, 'the file was downloaded once');
    assert.equal(a.fromCache, false);
    assert.equal(b.fromCache, true);
    assert.equal(a.path, b.path);
    assert.ok(readFileSync(a.path).equals(WEIGHTS));
    assert.ok(readFileSync(b.path).equals(WEIGHTS));
    assert.ok(!existsSync(`${a.blobPath}.lock`) && !existsSync(`${a.blobPath}.incomplete`), 'no lock or partial file is left');
  });
});
