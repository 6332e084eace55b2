// Optimizer parity: the same parameters, gradients and lr changes as scripts/gen_train_fixtures.py fed
// to torch.optim.SGD / AdamW and to the TF RMSprop formula; every step's parameters and the final
// state must match (float32 to ~1e-6 relative, float64 tighter).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { liveTensorCount, scope, type Tensor, type DType } from '../../src/torch/index.js';
import { AdamW, RMSpropTF, SGD, type Optimizer, clipGradNorm_ } from '../../src/train/optim/index.js';
import { paramGroupsWeightDecay, type NamedParam } from '../../src/train/param_groups.js';
import { diffs, loadFixture, ParityLog, type Fixture } from './fixtures.js';

const NAMES = ['w', 'b', 'g'] as const;

type Make = (groups: { params: NamedParam[]; weightDecay: number }[], lr: number) => Optimizer;
const CASES: Record<string, Make> = {
  sgd: (gs, lr) => new SGD(gs, { lr }),
  sgd_momentum: (gs, lr) => new SGD(gs, { lr, momentum: 0.9 }),
  sgd_dampening: (gs, lr) => new SGD(gs, { lr, momentum: 0.8, dampening: 0.3 }),
  sgd_nesterov: (gs, lr) => new SGD(gs, { lr, momentum: 0.9, nesterov: true }),
  adamw: (gs, lr) => new AdamW(gs, { lr, betas: [0.9, 0.999], eps: 1e-8 }),
  adamw_amsgrad: (gs, lr) => new AdamW(gs, { lr, betas: [0.8, 0.99], eps: 1e-6, amsgrad: true }),
  rmsproptf: (gs, lr) => new RMSpropTF(gs, { lr, alpha: 0.9, eps: 1e-3, momentum: 0.9 }),
  rmsproptf_decoupled: (gs, lr) => new RMSpropTF(gs, { lr, alpha: 0.9, eps: 1e-3, momentum: 0.9, decoupledDecay: true }),
  rmsproptf_nomomentum: (gs, lr) => new RMSpropTF(gs, { lr, alpha: 0.9, eps: 1e-3, momentum: 0 }),
};

describe('optimizers match torch', () => {
  let fx: Fixture;
  const log = new ParityLog();
  before(() => {
    fx = loadFixture('optim');
  });
  after(() => {
    fx.dispose();
    log.print('optimizer parity (max over steps and params)');
  });

  it('covers every case the fixture has', () => {
    assert.deepEqual(JSON.parse(fx.meta.cases!), Object.keys(CASES));
  });

  for (const [dname, dtype, tol] of [
    ['f32', 'float32', 2e-6],
    ['f64', 'float64', 1e-13],
  ] as const) {
    for (const [cname, make] of Object.entries(CASES)) {
      it(`${cname} ${dname}`, () => {
        const start = liveTensorCount();
        const lrs = JSON.parse(fx.meta.lrs!) as number[];
        const wd = JSON.parse(fx.meta.weight_decay!) as number;
        const skip = new Set((JSON.parse(fx.meta.skip!) as [number, string][]).map(([k, n]) => `${k}.${n}`));
        const params = new Map<string, Tensor>(
          NAMES.map((n) => [
            n,
            fx
              .get(`init.${n}`)
              .to(dtype as DType, { copy: true })
              .requiresGrad_(true)
              .keep(),
          ]),
        );
        // The same grouping timm's param_groups_weight_decay produces: 1-D params undecayed, first.
        const groups = paramGroupsWeightDecay(
          NAMES.map((n) => [n, params.get(n)!] as const),
          { weightDecay: wd },
        ) as { params: NamedParam[]; weightDecay: number }[];
        assert.deepEqual(
          groups.map((g) => g.params.map(([n]) => n)),
          [['b', 'g'], ['w']],
        );
        const opt = make(groups, lrs[0]!);
        for (let k = 0; k < lrs.length; k++) {
          opt.setLr(lrs[k]!);
          scope(() => {
            for (const n of NAMES)
              params.get(n)!.grad = skip.has(`${k}.${n}`) ? null : fx.get(`grad.${k}.${n}`).to(dtype as DType, { copy: true });
          });
          opt.step();
          scope(() => {
            for (const n of NAMES) {
              const d = diffs(params.get(n)!.detach(), fx.get(`${cname}.${dname}.step${k}.${n}`));
              log.add(`${cname} ${dname} params`, d);
              assert.ok(d.rel <= tol || d.abs <= tol * 1e-3, `${cname} ${dname} step ${k} ${n}: rel ${d.rel} abs ${d.abs}`);
            }
          });
        }
        // Final optimizer state against torch's.
        const sd = opt.stateDict();
        const prefix = `${cname}.${dname}.state.`;
        const expectedKeys = fx.names().filter((k) => k.startsWith(prefix));
        let compared = 0;
        for (const k of expectedKeys) {
          const [n, key] = k.slice(prefix.length).split('.') as [string, string];
          if (key === 'step') {
            assert.equal(sd.scalars.steps[n], fx.get(k).item(), `${k}`);
          } else {
            const mine = sd.tensors.get(`${key}.${n}`);
            assert.ok(mine, `missing state ${key}.${n}`);
            const d = scope(() => diffs(mine, fx.get(k)));
            log.add(`${cname} ${dname} state`, d);
            assert.ok(d.rel <= tol || d.abs <= tol * 1e-3, `${k}: rel ${d.rel} abs ${d.abs}`);
          }
          compared++;
        }
        assert.ok(compared > 0 || cname === 'sgd');
        assert.equal(sd.tensors.size, expectedKeys.filter((k) => !k.endsWith('.step')).length, 'no extra state tensors');
        opt.dispose();
        for (const p of params.values()) {
          p.grad = null;
          p.dispose();
        }
        assert.equal(liveTensorCount(), start, 'no leaked tensors');
      });
    }
  }

  it('zeroGrad sets grads to null; params with no grad are skipped', () => {
    const start = liveTensorCount();
    scope(() => {
      const p = fx.get('init.w').clone().requiresGrad_(true);
      const q = fx.get('init.b').clone().requiresGrad_(true);
      const opt = new SGD(
        [
          ['p', p],
          ['q', q],
        ],
        { lr: 0.1, momentum: 0.9 },
      );
      p.grad = fx.get('grad.0.w').clone();
      const qBefore = q.detach().clone();
      opt.step();
      assert.equal(opt.stateDict().tensors.size, 1, 'only p has state');
      assert.deepEqual(q.detach().toArray(), qBefore.toArray());
      opt.zeroGrad();
      assert.equal(p.grad, null);
      opt.dispose();
    });
    assert.equal(liveTensorCount(), start);
  });
});

describe('clipGradNorm_ matches torch.nn.utils.clip_grad_norm_', () => {
  let fx: Fixture;
  const log = new ParityLog();
  before(() => {
    fx = loadFixture('metrics_clip_ema');
  });
  after(() => {
    fx.dispose();
    log.print('clip_grad_norm_ parity');
  });
  for (const dname of ['f32', 'f64'] as const) {
    for (const [tag, normType] of [
      ['l2', 2],
      ['inf', Infinity],
    ] as const) {
      for (const maxNorm of [0.5, 100]) {
        it(`${dname} ${tag} maxNorm=${maxNorm}`, () => {
          const start = liveTensorCount();
          scope(() => {
            const ps = [0, 1, 2].map((i) => {
              const g = fx.get(`clip.${dname}.grad${i}`);
              const p = g.mul(0).requiresGrad_(true);
              p.grad = g.clone();
              return p;
            });
            const total = clipGradNorm_(ps, maxNorm, { normType });
            const key = `clip.${dname}.${tag}.${maxNorm.toFixed(1)}`;
            const expTotal = fx.get(`${key}.total`).item();
            const tol = dname === 'f32' ? 1e-6 : 1e-14;
            log.add(`${dname} ${tag} total`, { abs: Math.abs(total - expTotal), rel: Math.abs(total - expTotal) / expTotal });
            assert.ok(Math.abs(total - expTotal) <= tol * expTotal, `total ${total} vs ${expTotal}`);
            ps.forEach((p, i) => {
              const d = diffs(p.grad!, fx.get(`${key}.grad${i}`));
              log.add(`${dname} ${tag} grads`, d);
              assert.ok(d.rel <= tol * 2 || d.abs < tol * 1e-3, `grad${i}: rel ${d.rel}`);
            });
            for (const p of ps) p.grad = null;
          });
          assert.equal(liveTensorCount(), start);
        });
      }
    }
  }
});
