// Loss parity: timm's LabelSmoothingCrossEntropy / SoftTargetCrossEntropy and the Noisy Student
// combined batch loss, values and logit gradients, against torch (scripts/gen_train_fixtures.py).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { F, liveTensorCount, scope, type Tensor } from '../../src/torch/index.js';
import { applyTemperature, labelSmoothingCrossEntropy, mixedBatchLoss, softTargetCrossEntropy } from '../../src/train/losses.js';
import { diffs, loadFixture, ParityLog, type Fixture } from './fixtures.js';

describe('losses match torch', () => {
  let fx: Fixture;
  const log = new ParityLog();
  before(() => {
    fx = loadFixture('losses');
  });
  after(() => {
    fx.dispose();
    log.print('loss parity (values and d loss / d logits)');
  });

  for (const [d, tol] of [
    ['f32', 2e-6],
    ['f64', 1e-14],
  ] as const) {
    const nLab = () => Number(fx.meta.n_lab);
    const nUnl = () => Number(fx.meta.n_unl);
    const check = (what: string, actual: Tensor, expected: Tensor): void => {
      const r = diffs(actual, expected);
      log.add(`${what} ${d}`, r);
      assert.ok(r.rel <= tol || r.abs <= tol * 1e-2, `${what} ${d}: rel ${r.rel} abs ${r.abs}`);
    };
    const withGrad = (fn: (x: Tensor) => Tensor, x0: Tensor): [Tensor, Tensor] => {
      const x = x0.detach().clone().requiresGrad_(true);
      const loss = fn(x);
      loss.backward();
      return [loss.detach(), x.grad!];
    };

    it(`label smoothing cross entropy ${d}`, () => {
      const start = liveTensorCount();
      scope(() => {
        const logits = fx.get(`${d}.logits`);
        const hard = fx.get(`${d}.hard`);
        for (const s of [0, 0.1]) {
          const tag = s === 0 ? '0.0' : '0.1';
          const [loss, grad] = withGrad((x) => labelSmoothingCrossEntropy(x, hard, s), logits);
          check(`ls${tag} loss`, loss.reshape(1), fx.get(`${d}.ls${tag}.loss`));
          check(`ls${tag} grad`, grad, fx.get(`${d}.ls${tag}.grad`));
        }
        // And torch's own cross_entropy(label_smoothing) agrees, both ways.
        check('ls0.1 vs F.crossEntropy', labelSmoothingCrossEntropy(logits, hard, 0.1).reshape(1), fx.get(`${d}.torch_ce_ls0.1`));
        check(
          'F.crossEntropy(ls) vs torch',
          F.crossEntropy(logits, hard, { labelSmoothing: 0.1 }).reshape(1),
          fx.get(`${d}.torch_ce_ls0.1`),
        );
      });
      assert.equal(liveTensorCount(), start);
    });

    it(`soft target cross entropy and temperature ${d}`, () => {
      const start = liveTensorCount();
      scope(() => {
        const logits = fx.get(`${d}.logits`).narrow(0, nLab(), nUnl());
        const soft = fx.get(`${d}.soft`);
        const [loss, grad] = withGrad((x) => softTargetCrossEntropy(x, soft), logits);
        check('soft loss', loss.reshape(1), fx.get(`${d}.soft.loss`));
        check('soft grad', grad, fx.get(`${d}.soft.grad`));
        check('soft T=2', softTargetCrossEntropy(logits, applyTemperature(soft, 2)).reshape(1), fx.get(`${d}.soft_t2.loss`));
        check('soft T=0.5', softTargetCrossEntropy(logits, applyTemperature(soft, 0.5)).reshape(1), fx.get(`${d}.soft_t0.5.loss`));
        assert.ok(applyTemperature(soft, 1).isSame(soft), 'T=1 is the identity');
      });
      assert.equal(liveTensorCount(), start);
    });

    for (const kind of ['soft', 'hard'] as const) {
      it(`noisy student mixed batch (${kind} pseudo-labels) ${d}`, () => {
        const start = liveTensorCount();
        scope(() => {
          const logits = fx.get(`${d}.logits`);
          const hard = fx.get(`${d}.hard`);
          const targets = {
            labeled: hard.narrow(0, 0, nLab()),
            unlabeled: kind === 'soft' ? fx.get(`${d}.soft`) : hard.narrow(0, nLab(), nUnl()),
          };
          const x = logits.detach().clone().requiresGrad_(true);
          const r = mixedBatchLoss(x, targets, { smoothing: 0.1 });
          r.loss.backward();
          check(`ns ${kind} loss`, r.loss.detach().reshape(1), fx.get(`${d}.ns_${kind}.loss`));
          check(`ns ${kind} lab`, r.labeledLoss.detach().reshape(1), fx.get(`${d}.ns_${kind}.lab`));
          check(`ns ${kind} unl`, r.unlabeledLoss!.detach().reshape(1), fx.get(`${d}.ns_${kind}.unl`));
          check(`ns ${kind} grad`, x.grad!, fx.get(`${d}.ns_${kind}.grad`));
          const m = mixedBatchLoss(logits, targets, { smoothing: 0.1, reduction: 'mean' });
          check(`mean ${kind} loss`, m.loss.reshape(1), fx.get(`${d}.ns_${kind}.mean`));
        });
        assert.equal(liveTensorCount(), start);
      });
    }

    it(`noisy student mixed batch with temperature; labeled-only batch ${d}`, () => {
      const start = liveTensorCount();
      scope(() => {
        const logits = fx.get(`${d}.logits`);
        const hard = fx.get(`${d}.hard`);
        const r = mixedBatchLoss(
          logits,
          { labeled: hard.narrow(0, 0, nLab()), unlabeled: fx.get(`${d}.soft`) },
          { smoothing: 0.1, temperature: 2 },
        );
        check('ns soft T=2', r.loss.reshape(1), fx.get(`${d}.ns_soft_t2.loss`));
        const only = mixedBatchLoss(logits.narrow(0, 0, nLab()), { labeled: hard.narrow(0, 0, nLab()) }, { smoothing: 0.1 });
        assert.equal(only.unlabeledLoss, null);
        assert.equal(only.loss.item(), labelSmoothingCrossEntropy(logits.narrow(0, 0, nLab()), hard.narrow(0, 0, nLab()), 0.1).item());
        assert.throws(() => mixedBatchLoss(logits, { labeled: hard.narrow(0, 0, nLab()) }), /rows/);
      });
      assert.equal(liveTensorCount(), start);
    });
  }
});
