// Checkpoints: N steps + save + load into fresh objects + M steps == N+M uninterrupted steps, bit for
// bit (params, optimizer state, EMA, lr, RNG streams); torn saves are ignored; best and last kept.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { F, Generator, liveTensorCount, noGrad, randint, randn, readSafetensorsHeader, scope, type Tensor } from '../../src/torch/index.js';
import { paramGroupsWeightDecay } from '../../src/train/param_groups.js';
import { RMSpropTF, AdamW, clipGradNorm_, type Optimizer } from '../../src/train/optim/index.js';
import { createSchedule, Scheduler } from '../../src/train/schedule.js';
import { ModelEma } from '../../src/train/ema.js';
import { mixedBatchLoss } from '../../src/train/losses.js';
import { bestCheckpoint, latestCheckpoint, listCheckpoints, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpoint.js';

/** A tiny linear classifier with a float and an int buffer, timm-style keys; everything explicit. */
class Run {
  model = new Map<string, Tensor>();
  opt: Optimizer;
  sched: Scheduler;
  ema: ModelEma;
  gen: Generator;
  step = 0;

  constructor(seed: number, kind: 'rmsproptf' | 'adamw') {
    this.gen = new Generator(seed);
    noGrad(() => {
      this.model.set('classifier.weight', randn([5, 6], { generator: this.gen }).requiresGrad_(true).keep());
      this.model.set('classifier.bias', randn([5], { generator: this.gen }).requiresGrad_(true).keep());
      this.model.set('bn.running_mean', randn([6], { generator: this.gen }).keep());
      this.model.set('bn.num_batches_tracked', randint(0, 1, [], { generator: this.gen }).keep());
    });
    const params = [...this.model].filter(([, t]) => t.requiresGrad);
    const groups = paramGroupsWeightDecay(params, { weightDecay: 1e-2 });
    this.opt = kind === 'rmsproptf' ? new RMSpropTF(groups, { lr: 0.05 }) : new AdamW(groups, { lr: 0.01 });
    const s = createSchedule({ sched: 'exp', epochs: 10, onUpdates: true, updatesPerEpoch: 2, warmupEpochs: 1, decayEpochs: 1.5 });
    this.sched = new Scheduler(this.opt, s.fn, s.tInEpochs);
    this.ema = new ModelEma(this.model, { decay: 0.99, mode: 'tf' });
  }

  /** One training step whose data and noise come from the run's generator. */
  trainStep(): void {
    scope(() => {
      const x = randn([6, 6], { generator: this.gen });
      const hard = randint(0, 5, [6], { generator: this.gen });
      const soft = randn([3, 5], { generator: this.gen }).softmax(1);
      const dropMask = randn([6, 6], { generator: this.gen }).gt(-0.5).float();
      const logits = F.linear(x.mul(dropMask), this.model.get('classifier.weight')!, this.model.get('classifier.bias')!);
      const { loss } = mixedBatchLoss(logits, { labeled: hard.narrow(0, 0, 3), unlabeled: soft }, { smoothing: 0.1 });
      loss.backward();
      clipGradNorm_(this.opt.namedParams(), 1.0);
      this.opt.step();
      this.opt.zeroGrad();
      noGrad(() => {
        this.model.get('bn.running_mean')!.mul_(0.9).add_(x.mean(0), 0.1);
        this.model.get('bn.num_batches_tracked')!.add_(1);
      });
      this.step += 1;
      this.sched.stepUpdate(this.step);
      this.ema.update(this.model);
    });
  }

  snapshot(): Record<string, number[]> {
    return scope(() => {
      const out: Record<string, number[]> = {};
      for (const [k, t] of this.model) out[`model.${k}`] = t.detach().toArray();
      for (const [k, t] of this.ema.stateDict()) out[`ema.${k}`] = t.toArray();
      for (const [k, t] of this.opt.stateDict().tensors) out[`opt.${k}`] = t.toArray();
      out.lr = this.opt.paramGroups.map((g) => g.lr);
      // The generator's stream continues identically too.
      out.rng = randn([3], { generator: this.gen }).toArray();
      return out;
    });
  }

  dispose(): void {
    this.opt.dispose();
    this.ema.dispose();
    for (const t of this.model.values()) t.dispose();
    this.gen.dispose();
  }
}

describe('checkpoints', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'ns-ckpt-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  for (const kind of ['rmsproptf', 'adamw'] as const) {
    it(`N steps + save + load + M steps == N+M steps, bit-exact (${kind})`, () => {
      const start = liveTensorCount();
      const N = 5;
      const M = 4;
      const dir = join(root, `resume-${kind}`);

      const ref = new Run(42, kind);
      for (let i = 0; i < N + M; i++) ref.trainStep();
      const expected = ref.snapshot();
      ref.dispose();

      const a = new Run(42, kind);
      for (let i = 0; i < N; i++) a.trainStep();
      saveCheckpoint(dir, {
        step: a.step,
        epoch: Math.floor(a.step / 2),
        model: a.model,
        optimizer: a.opt,
        ema: a.ema,
        scheduler: a.sched,
        generators: { train: a.gen },
        dataPosition: { batch: a.step },
        configHash: 'abc',
      });
      a.trainStep(); // work after the checkpoint that a crash would lose
      a.dispose();

      // A fresh process: different init and seed, everything comes from the checkpoint.
      const b = new Run(7, kind);
      const loaded = loadCheckpoint(dir, {
        optimizer: b.opt,
        ema: b.ema,
        scheduler: b.sched,
        generators: { train: b.gen },
        expectConfigHash: 'abc',
      });
      assert.ok(loaded);
      assert.equal(loaded.step, N);
      assert.deepEqual(loaded.dataPosition, { batch: N });
      noGrad(() => {
        for (const [k, t] of loaded.model) {
          b.model.get(k)!.copy_(t);
          t.dispose();
        }
      });
      b.step = loaded.step;
      for (let i = 0; i < M; i++) b.trainStep();
      const got = b.snapshot();
      b.dispose();
      assert.deepEqual(Object.keys(got).sort(), Object.keys(expected).sort());
      for (const k of Object.keys(expected)) assert.deepEqual(got[k], expected[k], `${k} differs after resume`);
      assert.throws(() => loadCheckpoint(dir, { expectConfigHash: 'other' }), /config/);
      assert.equal(liveTensorCount(), start, 'no leaked tensors');
    });
  }

  it('writes timm-loadable files with the manifest; keeps last and best; ignores torn writes', () => {
    const start = liveTensorCount();
    const dir = join(root, 'keep');
    const run = new Run(3, 'rmsproptf');
    const top1 = [10, 30, 20, 25];
    for (let i = 0; i < top1.length; i++) {
      run.trainStep();
      const r = saveCheckpoint(
        dir,
        { step: run.step, epoch: i, model: run.model, optimizer: run.opt, ema: run.ema, scheduler: run.sched, metrics: { top1: top1[i]! } },
        { bestMetric: 'top1', keepLast: 1 },
      );
      assert.equal(r.isBest, i === 1 || i === 0);
    }
    // Best (step 2, top1 30) and last (step 4) remain.
    assert.deepEqual(
      listCheckpoints(dir).map((c) => c.step),
      [2, 4],
    );
    assert.equal(bestCheckpoint(dir, 'top1')!.step, 2);
    const last = latestCheckpoint(dir)!;
    assert.deepEqual(readdirSync(last.path).sort(), [
      'checkpoint.json',
      'model.safetensors',
      'model_ema.safetensors',
      'train_state.safetensors',
    ]);
    const header = readSafetensorsHeader(join(last.path, 'model.safetensors'));
    assert.deepEqual([...header.entries.keys()].sort(), [
      'bn.num_batches_tracked',
      'bn.running_mean',
      'classifier.bias',
      'classifier.weight',
    ]);
    assert.equal(header.metadata.format, 'pt');

    // A torn save of step 9 by a process that was killed (its pid is gone): its temporary
    // directory; and a final-named one without a manifest (damaged after the fact).
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const torn = `.tmp-ckpt-9-${dead}-1`;
    mkdirSync(join(dir, torn));
    writeFileSync(join(dir, torn, 'model.safetensors'), 'partial');
    mkdirSync(join(dir, 'ckpt-0000000009'));
    writeFileSync(join(dir, 'ckpt-0000000009', 'model.safetensors'), 'partial');
    assert.equal(latestCheckpoint(dir)!.step, 4, 'torn checkpoints are not picked up');
    const warnings: string[] = [];
    const loaded = loadCheckpoint(dir, { onWarning: (m) => warnings.push(m) })!;
    assert.equal(loaded.step, 4);
    for (const t of loaded.model.values()) t.dispose();
    // Corrupt a file of the last checkpoint behind its manifest's back: refused on load.
    const statePath = join(last.path, 'train_state.safetensors');
    const bytes = readFileSync(statePath);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(statePath, bytes);
    assert.throws(() => loadCheckpoint(last.path), /corrupt/);
    // The best one still loads; the next save cleans the leftovers.
    const best = loadCheckpoint(dir, { which: 'best', bestMetric: 'top1' })!;
    assert.equal(best.step, 2);
    for (const t of best.model.values()) t.dispose();
    run.trainStep();
    saveCheckpoint(dir, { step: run.step, epoch: 9, model: run.model, metrics: { top1: 1 } }, { bestMetric: 'top1' });
    assert.ok(!existsSync(join(dir, torn)) && !existsSync(join(dir, 'ckpt-0000000009')));
    // The manifest-less one was set aside with a warning when the directory was loaded, not deleted.
    assert.match(warnings.join('\n'), /ckpt-0000000009 is corrupt/);
    assert.equal(readdirSync(dir).filter((n) => n.startsWith('ckpt-0000000009.corrupt-')).length, 1);
    assert.deepEqual(
      listCheckpoints(dir).map((c) => c.step),
      [2, 5],
    );
    // Resumed from the best (step 2) and saved at step 3: the abandoned step 5 goes, the best stays.
    saveCheckpoint(dir, { step: 3, epoch: 1, model: run.model, metrics: { top1: 2 } }, { bestMetric: 'top1' });
    assert.deepEqual(
      listCheckpoints(dir).map((c) => c.step),
      [2, 3],
    );
    assert.equal(loadCheckpoint(join(root, 'empty')), null, 'no checkpoint: a fresh run');
    run.dispose();
    assert.equal(liveTensorCount(), start, 'no leaked tensors');
  });
});
