// createModel: names and errors, checkpoints in and out, head and stem adaptation, and pretrained
// weights end to end through a local hub server.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveTensorCount, loadSafetensors, noGrad, randn, scope, saveSafetensors, Generator, type Tensor } from '../../src/torch/index.js';
import { StateDictError } from '../../src/nn/index.js';
import { CheckpointError, HubError, UnknownModelError, createModel, listModels, saveModel } from '../../src/models/index.js';
import { FakeHub, REPO } from '../helpers/fake_hub.js';
import { FIXTURES } from '../helpers/paths.js';
import { assertClose } from '../helpers/tensors.js';

const WEIGHTS = join(FIXTURES, 'tf_efficientnet_b0/model.safetensors');
let dir: string;
let io: Map<string, Tensor>;
let start: number;
before(() => {
  start = liveTensorCount();
  dir = mkdtempSync(join(tmpdir(), 'ns-create-'));
  io = loadSafetensors(join(FIXTURES, 'tf_efficientnet_b0/io.safetensors'), { names: ['x', 'logits'] }).tensors;
});
after(() => {
  for (const t of io.values()) t.dispose();
  rmSync(dir, { recursive: true, force: true });
  assert.equal(liveTensorCount(), start);
});
const quiet = { onWarning: () => {} };

describe('createModel', () => {
  it('resolves legacy aliases and tags, and suggests close names for unknown ones', async () => {
    const m = await createModel('tf_efficientnet_b0_ns');
    assert.equal(m.pretrainedCfg!.tag, 'ns_jft_in1k');
    assert.equal(m.pretrainedCfg!.hfHubId, 'timm/tf_efficientnet_b0.ns_jft_in1k');
    m.dispose();
    const l2 = listModels('tf_efficientnet_l2*', { pretrained: true, includeTags: true });
    assert.ok(l2.includes('tf_efficientnet_l2.ns_jft_in1k_475'));
    await assert.rejects(
      createModel('efficientnet_b9'),
      (e: unknown) => e instanceof UnknownModelError && /Did you mean: efficientnet_b0, efficientnet_b1/.test(e.message),
    );
    await assert.rejects(createModel('tf_efficientnet_b0.nope'), /tag/);
  });

  it('loads a timm checkpoint strictly and saves one timm can load (same keys, bit-exact round trip)', async () => {
    const m = await createModel('tf_efficientnet_b0.ns_jft_in1k', { checkpointPath: WEIGHTS });
    const out = join(dir, 'saved');
    saveModel(m, out);
    const timmKeys = Object.keys(JSON.parse(readFileSync(join(FIXTURES, 'manifests/tf_efficientnet_b0.json'), 'utf8')).state_dict).sort();
    const saved = loadSafetensors(join(out, 'model.safetensors')).tensors;
    assert.deepEqual([...saved.keys()].sort(), timmKeys);
    const orig = loadSafetensors(WEIGHTS).tensors;
    for (const [k, t] of orig) assert.deepEqual(Buffer.from(saved.get(k)!.toTypedArray().buffer), Buffer.from(t.toTypedArray().buffer), k);
    for (const t of [...saved.values(), ...orig.values()]) t.dispose();
    const back = await createModel('tf_efficientnet_b0', { checkpointPath: out });
    back.eval();
    noGrad(() => scope(() => assertClose(back.forward(io.get('x')!), io.get('logits')!, 2e-5, 'logits after round trip')));
    m.dispose();
    back.dispose();
  });

  it('lists missing, unexpected and mis-shaped keys of a checkpoint that does not fit', async () => {
    const bad = join(dir, 'bad.safetensors');
    scope(() => {
      const { tensors } = loadSafetensors(WEIGHTS);
      tensors.delete('bn1.weight');
      tensors.set('extra.weight', randn([2]));
      tensors.set('conv_head.weight', randn([1280, 320, 1, 2]));
      saveSafetensors(bad, tensors);
      for (const t of tensors.values()) t.dispose();
    });
    await assert.rejects(
      createModel('tf_efficientnet_b0', { checkpointPath: bad }),
      (e: unknown) =>
        e instanceof StateDictError &&
        /missing keys: bn1\.weight/.test(e.message) &&
        /unexpected keys: extra\.weight/.test(e.message) &&
        /conv_head\.weight \(checkpoint \[1280, 320, 1, 2\], model \[1280, 320, 1, 1\]\)/.test(e.message),
    );
    await assert.rejects(createModel('tf_efficientnet_b1', { checkpointPath: WEIGHTS }), StateDictError);
    await assert.rejects(createModel('tf_efficientnet_b0', { checkpointPath: join(dir, 'nope.safetensors') }), CheckpointError);
  });

  it('a new class count keeps the backbone and gets a fresh head; reloading keeps the count', async () => {
    const g = new Generator(0);
    const m = await createModel('tf_efficientnet_b0', { checkpointPath: WEIGHTS, numClasses: 10, generator: g, ...quiet });
    assert.equal(m.numClasses, 10);
    const ref = await createModel('tf_efficientnet_b0', { checkpointPath: WEIGHTS });
    m.eval();
    ref.eval();
    noGrad(() =>
      scope(() => {
        assert.deepEqual(m.forward(io.get('x')!).shape, [2, 10]);
        const a = m.forwardHead(m.forwardFeatures(io.get('x')!), { preLogits: true });
        const b = ref.forwardHead(ref.forwardFeatures(io.get('x')!), { preLogits: true });
        assertClose(a, b, 0, 'backbone unchanged');
      }),
    );
    const out = join(dir, 'ten');
    saveModel(m, out);
    const back = await createModel('tf_efficientnet_b0', { checkpointPath: out });
    assert.equal(back.numClasses, 10, 'config.json num_classes is honoured');
    m.resetClassifier(0);
    noGrad(() => scope(() => assert.deepEqual(m.forward(io.get('x')!).shape, [2, 1280])));
    for (const x of [m, ref, back]) x.dispose();
    g.dispose();
  });

  it('adapts pretrained stem weights to 1 and 5 input channels like timm', async () => {
    const orig = loadSafetensors(WEIGHTS, { names: ['conv_stem.weight'] }).tensors.get('conv_stem.weight')!;
    const one = await createModel('tf_efficientnet_b0', { checkpointPath: WEIGHTS, inChans: 1, ...quiet });
    const five = await createModel('tf_efficientnet_b0', { checkpointPath: WEIGHTS, inChans: 5, ...quiet });
    scope(() => {
      assertClose(one.stateDict().get('conv_stem.weight')!, orig.sum(1, { keepdim: true }), 1e-6, 'sum for 1 channel');
      const w5 = five.stateDict().get('conv_stem.weight')!;
      assert.deepEqual(w5.shape, [32, 5, 3, 3]);
      assertClose(w5.slice(1, 0, 3), orig.mul(3 / 5), 1e-7, 'first three channels');
      assertClose(w5.slice(1, 3, 5), orig.slice(1, 0, 2).mul(3 / 5), 1e-7, 'repeated channels');
      noGrad(() => assert.deepEqual(one.eval().forward(randn([1, 1, 64, 64])).shape, [1, 1000]));
    });
    for (const x of [one, five, orig]) x.dispose();
  });

  it('global pool variants change the head width like timm', async () => {
    const m = await createModel('tf_efficientnet_b0', { globalPool: 'catavgmax', numClasses: 3 });
    assert.deepEqual(m.stateDict().get('classifier.weight')!.shape, [3, 2560]);
    noGrad(() => scope(() => assert.deepEqual(m.eval().forward(randn([1, 3, 64, 64])).shape, [1, 3])));
    m.dispose();
  });
});

describe('createModel({ pretrained: true }) through a hub on 127.0.0.1', () => {
  const hub = new FakeHub();
  let cache: string;
  before(async () => {
    await hub.start();
    hub.reset();
    cache = mkdtempSync(join(tmpdir(), 'ns-hubcache-'));
  });
  after(async () => {
    await hub.stop();
    rmSync(cache, { recursive: true, force: true });
  });

  it('downloads into the hub cache and gives timm’s logits; then works offline from the cache', async () => {
    const hubOpts = { cacheDir: cache, endpoint: hub.hubUrl, env: {} };
    const m = await createModel('tf_efficientnet_b0_ns', { pretrained: true, hub: hubOpts });
    m.eval();
    noGrad(() => scope(() => assertClose(m.forward(io.get('x')!), io.get('logits')!, 2e-5, 'pretrained logits')));
    m.dispose();
    const offline = await createModel('tf_efficientnet_b0.ns_jft_in1k', {
      pretrained: true,
      hub: { cacheDir: cache, offline: true, env: {} },
    });
    offline.dispose();
  });

  it('fails loudly, never falling back to random weights', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'ns-hubempty-'));
    await assert.rejects(
      createModel('tf_efficientnet_b0.ns_jft_in1k', { pretrained: true, hub: { cacheDir: empty, offline: true, env: {} } }),
      (e: unknown) => e instanceof HubError && e.code === 'E_HUB_OFFLINE_MISS',
    );
    await assert.rejects(
      createModel('tf_efficientnet_b1.ns_jft_in1k', { pretrained: true, hub: { cacheDir: empty, endpoint: hub.hubUrl, env: {} } }),
      (e: unknown) => e instanceof HubError,
    );
    await assert.rejects(createModel('tinynet_e', { pretrained: true, hub: { cacheDir: empty, endpoint: hub.hubUrl, env: {} } }), HubError);
    rmSync(empty, { recursive: true, force: true });
    assert.ok(REPO.length > 0);
  });
});
