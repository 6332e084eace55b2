// The CLI end to end on the fixture weights (random, so classes are meaningless but every step is
// real) and ../shared/data/dog.jpg: models, predict (files, folders, corrupt images, JSON, class
// maps, refusals), features (checked against the library computed in-process), error reporting.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveTensorCount, loadSafetensors, noGrad, scope, stack } from '../../src/torch/index.js';
import { IMAGENET_CLASSES, createModel, saveModel } from '../../src/models/index.js';
import { createTransform, loadImage, resolveDataConfig } from '../../src/data/index.js';
import { FIXTURES, sharedPath } from '../helpers/paths.js';
import { assertClose } from '../helpers/tensors.js';
import { FakeHub } from '../helpers/fake_hub.js';
import { runCli } from './run_cli.js';

const WEIGHTS = join(FIXTURES, 'tf_efficientnet_b0/model.safetensors');
const DOG = sharedPath('data/dog.jpg');
const MODEL = 'tf_efficientnet_b0_ns';

interface JsonPrediction {
  file: string;
  topk: { index: number; label: string | null; prob: number }[];
}

let dir: string;
let folder: string;
let start: number;
before(() => {
  start = liveTensorCount();
  dir = mkdtempSync(join(tmpdir(), 'ns-cli-'));
  // Two copies of the dog (one in a subfolder: folders are walked recursively), a truncated JPEG
  // and a text file named .jpg.
  folder = join(dir, 'images');
  mkdirSync(join(folder, 'sub'), { recursive: true });
  copyFileSync(DOG, join(folder, 'dog1.jpg'));
  copyFileSync(DOG, join(folder, 'sub', 'dog2.jpg'));
  writeFileSync(join(folder, 'broken.jpg'), readFileSync(DOG).subarray(0, 4000));
  writeFileSync(join(folder, 'notes.jpg'), 'not an image\n');
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
  assert.equal(liveTensorCount(), start);
});

function checkTopk(p: JsonPrediction, k: number, names: readonly string[] | null): void {
  assert.equal(p.topk.length, k);
  let sum = 0;
  p.topk.forEach((t, i) => {
    assert.ok(Number.isInteger(t.index) && t.index >= 0);
    assert.ok(t.prob > 0 && t.prob <= 1, `prob ${t.prob}`);
    if (i > 0) assert.ok(t.prob <= p.topk[i - 1]!.prob, 'top-k sorted by probability');
    assert.equal(t.label, names ? names[t.index] : null);
    sum += t.prob;
  });
  assert.ok(sum <= 1 + 1e-6, `top-k probabilities sum to ${sum}`);
}

describe('noisy-student models', () => {
  it("lists pretrained names with their tags, like timm's list_models(pretrained=True)", async () => {
    const r = await runCli(['models', 'tf_efficientnet_b*', '--pretrained']);
    assert.equal(r.code, 0, r.stderr);
    const names = r.stdout.trim().split('\n');
    assert.ok(names.includes('tf_efficientnet_b0.ns_jft_in1k'), r.stdout);
    assert.ok(names.every((n) => n.startsWith('tf_efficientnet_b') && n.includes('.')));
    const json = await runCli(['models', 'tf_efficientnet_l2*', '--json']);
    assert.deepEqual(JSON.parse(json.stdout), ['tf_efficientnet_l2']);
  });
});

describe('noisy-student predict', () => {
  it('prints the top-k ImageNet classes of an image', async () => {
    const r = await runCli(['predict', DOG, '--model', MODEL, '--checkpoint', WEIGHTS, '--topk', '3']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines[0], DOG);
    assert.equal(lines.length, 4);
    for (const l of lines.slice(1)) {
      const m = /^ {2}(\d\.\d{4}) {2}(.+) \((\d+)\)$/.exec(l);
      assert.ok(m, `line "${l}"`);
      assert.equal(m[2], IMAGENET_CLASSES[Number(m[3])]);
    }
  });

  it('walks a folder in batches, reports and skips undecodable images, and prints JSON', async () => {
    const r = await runCli(['predict', folder, '-m', MODEL, '-c', WEIGHTS, '--batch-size', '3', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const preds = JSON.parse(r.stdout) as JsonPrediction[];
    assert.deepEqual(
      preds.map((p) => p.file),
      [join(folder, 'dog1.jpg'), join(folder, 'sub', 'dog2.jpg')],
    );
    for (const p of preds) checkTopk(p, 5, IMAGENET_CLASSES);
    // The same image gives the same answer whichever batch it lands in.
    assert.deepEqual(
      preds[0]!.topk.map((t) => t.index),
      preds[1]!.topk.map((t) => t.index),
    );
    assert.match(r.stderr, /broken\.jpg/);
    assert.match(r.stderr, /notes\.jpg/);
    assert.match(r.stderr, /predicted 2 of 4 images, 2 failed/);
  });

  it('prints class indices for a model without ImageNet classes, and names from --class-map', async () => {
    const m = await createModel(MODEL, { numClasses: 10 });
    const ckpt = join(dir, 'ten');
    saveModel(m, ckpt);
    m.dispose();
    const plain = await runCli(['predict', DOG, '-m', MODEL, '-c', ckpt, '--json', '-k', '20']);
    assert.equal(plain.code, 0, plain.stderr);
    const [p] = JSON.parse(plain.stdout) as JsonPrediction[];
    checkTopk(p!, 10, null); // k is capped at the number of classes
    const text = await runCli(['predict', DOG, '-m', MODEL, '-c', ckpt, '-k', '1']);
    assert.match(text.stdout, /^ {2}\d\.\d{4} {2}class \d$/m);

    const names = Array.from({ length: 10 }, (_, i) => `thing ${i}`);
    const mapFile = join(dir, 'classes.txt');
    writeFileSync(mapFile, `${names.join('\n')}\n`);
    const mapped = await runCli(['predict', DOG, '-m', MODEL, '-c', ckpt, '--class-map', mapFile, '--json']);
    assert.equal(mapped.code, 0, mapped.stderr);
    checkTopk((JSON.parse(mapped.stdout) as JsonPrediction[])[0]!, 5, names);

    writeFileSync(mapFile, 'a\nb\n');
    const wrong = await runCli(['predict', DOG, '-m', MODEL, '-c', ckpt, '--class-map', mapFile]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /has 2 names but .* has 10 classes/);
  });

  it('refuses to predict with random weights', async () => {
    const r = await runCli(['predict', DOG, '--model', MODEL]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^noisy-student: error: predict needs trained weights: pass --checkpoint .* or --pretrained/);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line, no stack');
  });

  it('names the closest models for an unknown name, one line, exit 1; the stack with --verbose', async () => {
    const r = await runCli(['predict', DOG, '--model', 'tf_efficientnet_b0_nss', '-c', WEIGHTS]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown model "tf_efficientnet_b0_nss"\. Did you mean: tf_efficientnet_b0_ns/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    const v = await runCli(['--verbose', 'predict', DOG, '--model', 'tf_efficientnet_b0_nss', '-c', WEIGHTS]);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /\n\s+at resolveModelName/);
  });

  it('fails on a missing input path before loading anything', async () => {
    const r = await runCli(['predict', join(dir, 'nope.jpg'), '-m', MODEL, '-c', WEIGHTS]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nope\.jpg: no such file or directory/);
  });
});

describe('noisy-student predict --pretrained through a hub on 127.0.0.1', () => {
  const hub = new FakeHub();
  before(async () => {
    await hub.start();
    hub.reset();
  });
  after(() => hub.stop());

  it('downloads the weights into --hub-cache, predicts as with the same file, then works --offline', async () => {
    const cache = join(dir, 'hub-cache');
    const env = { HF_ENDPOINT: hub.hubUrl, HF_HUB_OFFLINE: '', HF_HOME: join(dir, 'hf-home') };
    const online = await runCli(['predict', DOG, '-m', MODEL, '--pretrained', '--hub-cache', cache, '--json'], { env });
    assert.equal(online.code, 0, online.stderr);
    assert.ok(
      hub.log.some((l) => l.path.endsWith('/model.safetensors')),
      'the weights came from the hub',
    );
    const local = await runCli(['predict', DOG, '-m', MODEL, '-c', WEIGHTS, '--json']);
    assert.deepEqual(JSON.parse(online.stdout), JSON.parse(local.stdout));

    hub.log.length = 0;
    const offline = await runCli(['predict', DOG, '-m', MODEL, '--pretrained', '--hub-cache', cache, '--offline', '--json'], { env });
    assert.equal(offline.code, 0, offline.stderr);
    assert.equal(hub.log.length, 0, 'no request offline');
    assert.deepEqual(JSON.parse(offline.stdout), JSON.parse(local.stdout));
  });
});

describe('noisy-student features', () => {
  it("writes pre-logits equal to forwardHead(forwardFeatures(x), { preLogits: true }) with the files' order", async () => {
    const out = join(dir, 'out', 'features.safetensors');
    const r = await runCli(['features', DOG, folder, '-m', MODEL, '-c', WEIGHTS, '-o', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /broken\.jpg/);
    const { tensors, metadata } = loadSafetensors(out);
    const files = JSON.parse(metadata['files']!) as string[];
    assert.deepEqual(files, [DOG, join(folder, 'dog1.jpg'), join(folder, 'sub', 'dog2.jpg')]);
    assert.equal(metadata['model'], 'tf_efficientnet_b0.ns_jft_in1k');
    const got = tensors.get('pre_logits')!;
    assert.deepEqual(got.shape, [3, 1280]);

    // The same computation in-process, on the same batch (the CLI's default batch holds all three).
    const model = await createModel(MODEL, { checkpointPath: WEIGHTS });
    model.eval();
    const transform = createTransform(resolveDataConfig({}, model));
    const images = await Promise.all(files.map((f) => loadImage(f)));
    const diff = scope(() => {
      const x = stack(images.map((img) => transform(img)));
      const want = noGrad(() => model.forwardHead(model.forwardFeatures(x), { preLogits: true }));
      assert.ok(want.abs().sum().item() > 0);
      return assertClose(got, want, 1e-5, 'pre_logits');
    });
    assert.ok(diff <= 1e-5);
    model.dispose();
    for (const t of tensors.values()) t.dispose();
  });

  it('writes the 5 feature maps of a features_only model with their channel counts', async () => {
    const out = join(dir, 'maps.safetensors');
    const r = await runCli(['features', DOG, '-m', MODEL, '-c', WEIGHTS, '--feature-maps', '-o', out, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { files: string[]; tensors: Record<string, number[]> };
    assert.deepEqual(summary.files, [DOG]);
    const { tensors, metadata } = loadSafetensors(out);
    // ../shared/fixtures/timm/README.md: feature_maps.0..4 of b0 at 224.
    const expected = [
      [1, 16, 112, 112],
      [1, 24, 56, 56],
      [1, 40, 28, 28],
      [1, 112, 14, 14],
      [1, 320, 7, 7],
    ];
    assert.deepEqual([...tensors.keys()].sort(), [
      'feature_maps.0',
      'feature_maps.1',
      'feature_maps.2',
      'feature_maps.3',
      'feature_maps.4',
    ]);
    expected.forEach((s, i) => assert.deepEqual([...tensors.get(`feature_maps.${i}`)!.shape], s));
    assert.deepEqual(
      (JSON.parse(metadata['feature_info']!) as { num_chs: number }[]).map((f) => f.num_chs),
      [16, 24, 40, 112, 320],
    );
    for (const t of tensors.values()) t.dispose();

    const both = await runCli(['features', DOG, '-m', MODEL, '-c', WEIGHTS, '--feature-maps', '--pre-logits', '-o', out]);
    assert.equal(both.code, 2, 'conflicting options are a usage error');
    assert.match(both.stderr, /cannot be used with/);
  });
});
