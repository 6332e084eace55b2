// A fine-tuned model's folder and its model.safetensors are the same model: config.json beside the
// weights is the one source of its classes, channels, preprocessing and class names.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARED } from '../helpers/paths.js';
import { TRAIN_TINY_FMNIST, runCli } from './run_cli.js';

let dir: string;
let trainArgs: string[];
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ns-ckpt-forms-'));
  trainArgs = [
    ...TRAIN_TINY_FMNIST,
    '--labels-per-class',
    '3',
    '--epochs',
    '1',
    '-b',
    '10',
    '--zero-head',
    '--val-limit',
    '10',
    '--workers',
    '0',
    '-o',
    join(dir, 'run'),
  ];
  const r = await runCli(trainArgs);
  assert.equal(r.code, 0, r.stderr);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('a model folder or its model.safetensors', () => {
  it('validate and predict build the same model from either', async () => {
    const folder = join(dir, 'run', 'model');
    const file = join(folder, 'model.safetensors');
    const cfg = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));
    assert.equal(cfg.num_classes, 10);
    assert.deepEqual(cfg.pretrained_cfg.input_size, [1, 32, 32]);
    assert.equal(cfg.label_names[9], 'Ankle boot');
    const validate = (ckpt: string) =>
      runCli(['validate', '-m', 'tinynet_e', '--checkpoint', ckpt, '--data', 'fashion-mnist:test', '--limit', '64', '--json']);
    const [v1, v2] = await Promise.all([validate(folder), validate(file)]);
    assert.equal(v1.code, 0, v1.stderr);
    assert.equal(v2.code, 0, v2.stderr);
    assert.deepEqual(JSON.parse(v2.stdout), JSON.parse(v1.stdout));
    assert.doesNotMatch(v2.stderr, /classifier was not loaded|adapted/);
    const predict = (ckpt: string) =>
      runCli(['predict', join(SHARED, 'data', 'dog.jpg'), '-m', 'tinynet_e', '--checkpoint', ckpt, '--json']);
    const [p1, p2] = await Promise.all([predict(folder), predict(file)]);
    assert.equal(p1.code, 0, p1.stderr);
    assert.equal(p2.code, 0, p2.stderr);
    const a = JSON.parse(p1.stdout) as { topk: { label: string }[] }[];
    assert.deepEqual(JSON.parse(p2.stdout), a);
    // The labels are the training set's class names, read from config.json's label_names.
    assert.ok(
      a[0]!.topk.every((t) => cfg.label_names.includes(t.label)),
      JSON.stringify(a[0]),
    );
  });
});

describe('a bare .safetensors file without config.json', () => {
  it("is built with its tensors' classes and channels, and never evaluated with a new head", async () => {
    const folder = join(dir, 'run', 'model');
    const bare = join(dir, 'bare.safetensors');
    copyFileSync(join(folder, 'model.safetensors'), bare);
    const validate = (ckpt: string, ...more: string[]) =>
      runCli(['validate', '-m', 'tinynet_e', '--checkpoint', ckpt, '--data', 'fashion-mnist:test', '--limit', '64', '--json', ...more]);
    const [v1, v2, v3] = await Promise.all([validate(folder), validate(bare), validate(bare, '--num-classes', '10')]);
    assert.equal(v1.code, 0, v1.stderr);
    assert.equal(v2.code, 0, v2.stderr);
    assert.equal(v3.code, 0, v3.stderr);
    // 10 classes from the classifier's rows, 1 channel from the stem: no dropped head, no adapted stem.
    assert.doesNotMatch(v2.stderr, /classifier was not loaded|adapted|cannot adapt/);
    assert.deepEqual(JSON.parse(v2.stdout), JSON.parse(v1.stdout));
    assert.deepEqual(JSON.parse(v3.stdout), JSON.parse(v1.stdout));
    // Asking for another classifier size than the checkpoint's is an error, not a random 1000-way head.
    const wrong = await validate(bare, '--num-classes', '1000');
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /classifier has 10 classes but the model was built with 1000/);
    assert.equal(wrong.stdout, '');
  });
});

describe('train into a folder that holds a run', () => {
  it('is refused without --resume or --overwrite, and the first run stays as it was', async () => {
    const metrics = join(dir, 'run', 'metrics.jsonl');
    const weights = join(dir, 'run', 'model', 'model.safetensors');
    const [m0, w0] = [readFileSync(metrics), readFileSync(weights)];
    const again = await runCli(trainArgs);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is not empty \(a previous run\?\): give --resume to continue it, another --output, or --overwrite/);
    assert.ok(readFileSync(metrics).equals(m0) && readFileSync(weights).equals(w0), 'the refused run changed the first one');
    // --overwrite replaces it: the same command trains the same weights again.
    const over = await runCli([...trainArgs, '--overwrite']);
    assert.equal(over.code, 0, over.stderr);
    assert.ok(readFileSync(weights).equals(w0));
  });
});
