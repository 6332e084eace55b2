// The training job end to end on Fashion-MNIST: a CI-sized fine-tune that must beat chance clearly,
// the b0 training-step fixture through the loop's own trainStep, and a kill -9 + --resume that ends
// with exactly the weights of an uninterrupted run.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { F, liveTensorCount, loadSafetensors, type Tensor } from '../../src/torch/index.js';
import { createModel } from '../../src/models/index.js';
import { SGD, trainStep } from '../../src/train/index.js';
import { resolveTrainConfig, runTrainJob } from '../../src/train/index.js';
import { FIXTURES, REPO_ROOT } from '../helpers/paths.js';
import { TRAIN_TINY_FMNIST } from '../cli/run_cli.js';
import { assertClose } from '../helpers/tensors.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'ns-train-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('training job', () => {
  it('fine-tunes tf_efficientnet_b0 (fixture weights) on Fashion-MNIST 32x32 with 1,000 labels to well above chance', async () => {
    const start = liveTensorCount();
    const out = tmp();
    const cfg = resolveTrainConfig(
      {},
      {
        model: 'tf_efficientnet_b0',
        checkpoint: join(FIXTURES, 'tf_efficientnet_b0/model.safetensors'),
        data: 'fashion-mnist',
        labelsPerClass: 100,
        valLimit: 1000,
        epochs: 4,
        batchSize: 32,
        lr: 2e-3,
        zeroHead: true,
        output: out,
      },
    );
    const r = await runTrainJob(cfg, { log: () => {} });
    assert.ok(r.final !== null);
    assert.ok(r.final.top1 > 0.4, `top-1 ${r.final.top1} is not clearly above chance (0.1)`);
    assert.deepEqual(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).labelsPerClass, 100);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines.filter((l) => 'top1' in l).length, 4, 'one eval record per epoch');
    // The saved model loads back with its own preprocessing (1 channel, 32 px) and 10 classes.
    const back = await createModel('tf_efficientnet_b0', { checkpointPath: r.modelDir });
    assert.equal(back.numClasses, 10);
    assert.deepEqual(back.pretrainedCfg!.inputSize, [1, 32, 32]);
    back.dispose();
    assert.equal(liveTensorCount(), start);
  });

  it('reproduces the b0 training-step fixture through trainStep (SGD lr 0.1, momentum 0.9, wd 1e-5 on every param)', async () => {
    const start = liveTensorCount();
    const dir = join(FIXTURES, 'tf_efficientnet_b0');
    const io = loadSafetensors(join(dir, 'io.safetensors'), { names: ['x'] }).tensors;
    const ref = loadSafetensors(join(dir, 'train_step.safetensors')).tensors;
    const tol = JSON.parse(readFileSync(join(dir, 'tolerances.json'), 'utf8')).files['train_step.safetensors'] as Record<
      string,
      { atol: number }
    >;
    const model = await createModel('tf_efficientnet_b0', { checkpointPath: join(dir, 'model.safetensors') });
    model.train();
    const opt = new SGD([{ params: [...model.namedParameters()] }], { lr: 0.1, momentum: 0.9, weightDecay: 1e-5 });
    const batch = { x: io.get('x')!, target: ref.get('targets')! };
    const state = { step: 0 };
    const losses: number[] = [];
    const lossFn = (logits: Tensor, b: typeof batch): Tensor => F.crossEntropy(logits, b.target);
    losses.push(trainStep(model, [batch], { optimizer: opt, lossFn }, state));
    const sd = model.stateDict();
    for (const k of ['classifier.weight', 'classifier.bias', 'conv_stem.weight', 'bn2.weight'])
      assertClose(sd.get(k)!, ref.get(`step1.${k}`)!, tol[`step1.${k}`]!.atol, `step1.${k}`);
    losses.push(trainStep(model, [batch], { optimizer: opt, lossFn }, state));
    assert.ok(Math.abs(losses[0]! - ref.get('loss')!.item()) <= tol['loss']!.atol);
    assert.ok(Math.abs(losses[1]! - ref.get('step2.loss')!.item()) <= tol['step2.loss']!.atol);
    for (const k of ['classifier.bias', 'conv_stem.weight', 'bn2.weight', 'bn1.running_mean'])
      assertClose(sd.get(k)!, ref.get(`step2.${k}`)!, tol[`step2.${k}`]!.atol, `step2.${k}`);
    opt.dispose();
    model.dispose();
    for (const t of [...io.values(), ...ref.values()]) t.dispose();
    assert.equal(liveTensorCount(), start);
  });

  it('a run killed (SIGKILL) mid-epoch and resumed ends with the same weights as an uninterrupted run', async () => {
    const args = (out: string): string[] => [
      '--import',
      'tsx',
      'src/cli/main.ts',
      ...TRAIN_TINY_FMNIST,
      '--labels-per-class',
      '20',
      '--val-limit',
      '200',
      '--epochs',
      '2',
      '-b',
      '20',
      '--drop-rate',
      '0.2',
      '--drop-path-rate',
      '0.1',
      '--aug',
      'rand-m9-mstd0.5',
      '--ema-decay',
      '0.99',
      '--checkpoint-every',
      '3',
      '--output',
      out,
    ];
    const straight = tmp();
    const r1 = spawnSync(process.execPath, args(straight), { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r1.status, 0, r1.stderr);

    const killed = tmp();
    const child = spawn(process.execPath, args(killed), { cwd: REPO_ROOT, stdio: 'ignore' });
    const closed = new Promise((r) => child.on('close', r));
    // Kill once a mid-epoch checkpoint (step 6 of 10 in epoch 1) exists.
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const ck = join(killed, 'checkpoints');
        if (existsSync(ck) && readdirSync(ck).some((n) => /^ckpt-0*6$/.test(n))) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
      child.on('exit', () => {
        clearInterval(timer);
        resolve();
      });
      setTimeout(() => reject(new Error('no checkpoint appeared')), 120_000).unref();
    });
    await closed;
    assert.ok(!existsSync(join(killed, 'model', 'model.safetensors')), 'the killed run did not finish');
    const r2 = spawnSync(process.execPath, [...args(killed), '--resume'], { cwd: REPO_ROOT, encoding: 'utf8' });
    assert.equal(r2.status, 0, r2.stderr);
    const a = readFileSync(join(straight, 'model', 'model.safetensors'));
    const b = readFileSync(join(killed, 'model', 'model.safetensors'));
    assert.ok(a.equals(b), 'final weights differ between the resumed and the uninterrupted run');
  });
});
