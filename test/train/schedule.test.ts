// Schedules against timm's CosineLRScheduler / StepLRScheduler formulas and the TF EfficientNet
// exponential schedule, as transcribed in scripts/gen_train_fixtures.py; and the Scheduler's
// timm call convention (t_in_epochs).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { liveTensorCount, scope, zeros } from '../../src/torch/index.js';
import { cosineLr, createSchedule, efficientNetExpLr, Scheduler, stepLr, type LrFn } from '../../src/train/schedule.js';
import { timmEmaDecay, tfEmaDecay } from '../../src/train/ema.js';
import { SGD } from '../../src/train/optim/index.js';
import { loadFixture, ParityLog, type Fixture } from './fixtures.js';

const CASES: Record<string, [LrFn, number]> = {
  cosine_warmup: [cosineLr({ tInitial: 50, lrMin: 1e-4, warmupT: 5, warmupLrInit: 1e-5 }), 0.1],
  cosine_prefix: [cosineLr({ tInitial: 50, lrMin: 1e-4, warmupT: 5, warmupLrInit: 1e-5, warmupPrefix: true }), 0.1],
  cosine_cycles: [cosineLr({ tInitial: 10, lrMin: 1e-3, cycleMul: 2, cycleDecay: 0.5, cycleLimit: 3 }), 0.05],
  cosine_restarts: [cosineLr({ tInitial: 10, cycleDecay: 0.7, cycleLimit: 4, kDecay: 1.5 }), 0.05],
  step: [stepLr({ decayT: 7, decayRate: 0.5, warmupT: 3, warmupLrInit: 1e-4 }), 0.1],
  step_frac: [stepLr({ decayT: 2.4, decayRate: 0.97, warmupT: 3, warmupLrInit: 1e-6, warmupPrefix: false }), 0.016],
  tf_exp_steps: [efficientNetExpLr({ stepsPerEpoch: 13 }), 0.128],
  tf_exp_epochs: [efficientNetExpLr({ stepsPerEpoch: 1 }), 0.128],
};

describe('schedules', () => {
  let fx: Fixture;
  const log = new ParityLog();
  const start = liveTensorCount();
  before(() => {
    fx = loadFixture('schedules');
  });
  after(() => {
    fx.dispose();
    log.print('schedule parity (max over t)');
    assert.equal(liveTensorCount(), start);
  });

  for (const [name, [fn, base]] of Object.entries(CASES)) {
    it(`${name} matches the formula`, () => {
      const expected = fx.get(name).toArray();
      let worst = 0;
      expected.forEach((e, t) => {
        const a = fn(t, base);
        const d = Math.abs(a - e);
        worst = Math.max(worst, d);
        assert.ok(d <= 1e-15 * Math.max(1, Math.abs(e)) * 4, `${name} t=${t}: ${a} vs ${e}`);
      });
      log.add(name, { abs: worst, rel: 0 });
    });
  }

  it('EMA decay rules match timm ModelEmaV3 and TF num_updates', () => {
    const w = fx.get('ema_timm_warmup').toArray();
    const steps = [...Array.from({ length: 30 }, (_, i) => i), 100, 1000, 1e6];
    steps.forEach((s, i) => {
      const decay = i < 30 ? 0.999 : 0.9999;
      assert.ok(Math.abs(timmEmaDecay({ decay, useWarmup: true }, s) - w[i]!) <= 1e-16, `timm warmup step ${s}`);
    });
    fx.get('ema_timm_after')
      .toArray()
      .forEach((e, s) => assert.equal(timmEmaDecay({ decay: 0.99, updateAfterStep: 5 }, s), e));
    const tf = fx.get('ema_tf').toArray();
    [...Array.from({ length: 30 }, (_, i) => i), 1e5, 1e6].forEach((s, i) => assert.equal(tfEmaDecay(0.9999, s), tf[i]));
  });

  it('the exp schedule reproduces the recipe: x0.97 every 2.4 epochs after 5 warmup epochs', () => {
    const spe = 100;
    const f = efficientNetExpLr({ stepsPerEpoch: spe });
    assert.equal(f(0, 0.128), 0);
    assert.equal(f(250, 0.128), 0.128 * 0.5);
    assert.equal(f(500, 0.128), 0.128 * 0.97 ** 2); // floor(500 / 240) = 2
    assert.equal(f(719, 0.128), 0.128 * 0.97 ** 2);
    assert.equal(f(720, 0.128), 0.128 * 0.97 ** 3);
  });

  it('Scheduler: timm call convention, lrScale, state round trip', () => {
    scope(() => {
      const p = zeros([2]).requiresGrad_(true);
      const q = zeros([2]).requiresGrad_(true);
      const opt = new SGD([{ params: [['p', p]] }, { params: [['q', q]], lr: 0.2, lrScale: 0.5 }], { lr: 0.1 });
      const { fn, tInEpochs } = createSchedule({ sched: 'cosine', epochs: 10, warmupEpochs: 2, warmupLr: 1e-3 });
      assert.equal(tInEpochs, true);
      const s = new Scheduler(opt, fn, tInEpochs);
      // timm applies warmup_lr_init at construction.
      assert.deepEqual(
        opt.paramGroups.map((g) => g.lr),
        [1e-3, 1e-3 * 0.5],
      );
      s.stepUpdate(5); // per-epoch schedule: updates change nothing
      assert.deepEqual(
        opt.paramGroups.map((g) => g.lr),
        [1e-3, 1e-3 * 0.5],
      );
      s.step(3);
      assert.deepEqual(
        opt.paramGroups.map((g) => g.lr),
        [fn(3, 0.1), fn(3, 0.2) * 0.5],
      );
      const saved = JSON.parse(JSON.stringify(s.stateDict())) as ReturnType<Scheduler['stateDict']>;
      // A fresh optimizer + scheduler restored from the saved state has the same lrs.
      const opt2 = new SGD([{ params: [['p', p]] }, { params: [['q', q]], lr: 0.2, lrScale: 0.5 }], { lr: 0.1 });
      const s2 = new Scheduler(opt2, fn, tInEpochs);
      s2.loadStateDict(saved);
      assert.deepEqual(
        opt2.paramGroups.map((g) => g.lr),
        opt.paramGroups.map((g) => g.lr),
      );
      const onUpd = createSchedule({ sched: 'step', epochs: 10, decayEpochs: 2, decayRate: 0.5, onUpdates: true, updatesPerEpoch: 4 });
      assert.equal(onUpd.tInEpochs, false);
      assert.equal(onUpd.fn(8, 1), 0.5);
      assert.equal(onUpd.fn(7, 1), 1);
    });
  });
});
