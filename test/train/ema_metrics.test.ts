// EMA against torch's lerp_ with the TF num_updates decay; timm's top-k accuracy and AverageMeter;
// the metrics.jsonl appender (torn-line repair, resume truncation).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveTensorCount, scope, type Tensor } from '../../src/torch/index.js';
import { ModelEma } from '../../src/train/ema.js';
import { accuracy, AverageMeter, MetricsLog } from '../../src/train/metrics.js';
import { diffs, loadFixture, ParityLog, type Fixture } from './fixtures.js';

describe('EMA, accuracy', () => {
  let fx: Fixture;
  const log = new ParityLog();
  before(() => {
    fx = loadFixture('metrics_clip_ema');
  });
  after(() => {
    fx.dispose();
    log.print('EMA / accuracy parity');
  });

  it('ModelEma (tf decay) matches torch lerp_, int buffers copied', () => {
    const start = liveTensorCount();
    scope(() => {
      const names = ['w', 'rm', 'nbt'];
      const init = new Map<string, Tensor>(names.map((n) => [n, fx.get(`ema.init.${n}`)]));
      const ema = new ModelEma(init, { decay: 0.9999, mode: 'tf' });
      const decays = JSON.parse(fx.meta.ema_decays!) as number[];
      for (let s = 0; s < decays.length; s++) {
        const model = new Map<string, Tensor>(names.map((n) => [n, fx.get(`ema.model${s}.${n}`)]));
        const used = ema.update(model);
        assert.equal(used, decays[s]);
        for (const [n, t] of ema.stateDict()) {
          const d = diffs(t, fx.get(`ema.ema${s}.${n}`));
          log.add(`ema ${n}`, d);
          assert.equal(d.abs, 0, `ema step ${s} ${n}`);
        }
      }
      assert.equal(ema.stateDict().get('nbt')!.dtype, 'int64');
      assert.equal(ema.numUpdates, decays.length);
      ema.dispose();
    });
    assert.equal(liveTensorCount(), start);
  });

  it('ModelEma: timm mode copies on the first update; copyNames are copied', () => {
    const start = liveTensorCount();
    scope(() => {
      const a = new Map<string, Tensor>([
        ['w', fx.get('ema.init.w')],
        ['rm', fx.get('ema.init.rm')],
      ]);
      const b = new Map<string, Tensor>([
        ['w', fx.get('ema.model0.w')],
        ['rm', fx.get('ema.model0.rm')],
      ]);
      const ema = new ModelEma(a, { decay: 0.99, mode: 'timm', copyNames: ['rm'] });
      assert.equal(ema.update(b), 0);
      assert.deepEqual(ema.stateDict().get('w')!.toArray(), b.get('w')!.toArray());
      assert.equal(ema.update(a), 0, 'timm: step 1 still copies (max(0, step - 1) == 0)');
      assert.equal(ema.update(b), 0.99);
      assert.deepEqual(ema.stateDict().get('rm')!.toArray(), b.get('rm')!.toArray(), 'copied, not averaged');
      ema.dispose();
    });
    assert.equal(liveTensorCount(), start);
  });

  it("accuracy matches timm's accuracy(topk=(1, 5))", () => {
    const start = liveTensorCount();
    const [top1, top5] = accuracy(fx.get('acc.output'), fx.get('acc.target'), [1, 5]);
    assert.equal(top1, fx.get('acc.top1').item());
    assert.equal(top5, fx.get('acc.top5').item());
    assert.ok(top1! > 0 && top5! > top1!);
    assert.deepEqual(accuracy(fx.get('acc.output'), fx.get('acc.target'), [20]), [100], 'k capped at the class count');
    assert.equal(liveTensorCount(), start);
  });

  it('AverageMeter', () => {
    const m = new AverageMeter();
    m.update(1, 2);
    m.update(4);
    assert.deepEqual([m.val, m.sum, m.count, m.avg], [4, 6, 3, 2]);
    m.reset();
    assert.equal(m.count, 0);
  });
});

describe('MetricsLog', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ns-metrics-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('appends lines, repairs a torn last line, drops records past the resumed step', () => {
    const path = join(dir, 'metrics.jsonl');
    const m = MetricsLog.open(path);
    for (let s = 1; s <= 4; s++) m.append({ step: s, loss: 1 / s });
    m.close();
    appendFileSync(path, '{"step": 5, "lo'); // a crash mid-write
    assert.deepEqual(
      MetricsLog.read(path).map((r) => r.step),
      [1, 2, 3, 4],
    );
    const m2 = MetricsLog.open(path, { resumeStep: 2 });
    m2.append({ step: 3, loss: 0.3 });
    m2.close();
    assert.deepEqual(
      MetricsLog.read(path).map((r) => [r.step, r.loss]),
      [
        [1, 1],
        [2, 0.5],
        [3, 0.3],
      ],
    );
    assert.ok(readFileSync(path, 'utf8').endsWith('\n'));
    writeFileSync(path, '');
    const m3 = MetricsLog.open(path);
    m3.append({ epoch: 0, top1: 12.5 });
    m3.close();
    assert.deepEqual(MetricsLog.read(path), [{ epoch: 0, top1: 12.5 }]);
  });
});
