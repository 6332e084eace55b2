// channels_last training: toChannelsLast_ converts the conv weights in place (the optimizer keeps
// its tensors, values unchanged), fit does it when channelsLast is set, and a step in that layout
// matches the contiguous one; saved weights are the same numbers whatever the layout.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { F, Generator, liveTensorCount, loadSafetensors, randint, randn, saveSafetensors, type Tensor } from '../../src/torch/index.js';
import { createModel } from '../../src/models/index.js';
import { SGD, fit, toChannelsLast_, trainStep, type TrainBatch } from '../../src/train/index.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const lossFn = (l: Tensor, b: TrainBatch): Tensor => F.crossEntropy(l, b.target);

describe('channels_last weights for training', () => {
  it('toChannelsLast_ converts the 4-d parameters in place: same tensors, same values, channels_last strides', async () => {
    const start = liveTensorCount();
    const model = await createModel('tinynet_e', { numClasses: 4, generator: new Generator(1) });
    const before = new Map([...model.namedParameters()].map(([k, p]) => [k, { t: p, v: p.toArray() }] as const));
    const convs = [...model.namedParameters()].filter(([, p]) => p.shape.length === 4);
    assert.ok(convs.length > 10);
    assert.ok(
      convs.some(([, p]) => !p.isContiguous('channelsLast')),
      'some conv weight starts contiguous',
    );
    toChannelsLast_(model);
    for (const [k, p] of model.namedParameters()) {
      assert.equal(p, before.get(k)!.t, `${k}: the same tensor object`);
      assert.deepEqual(p.toArray(), before.get(k)!.v, `${k}: the same values`);
      if (p.shape.length === 4) assert.ok(p.isContiguous('channelsLast'), `${k} is channels_last`);
      assert.equal(p.requiresGrad, true, k);
    }
    // Saved tensors are the same numbers in the file (the writer makes them contiguous).
    const dir = mkdtempSync(join(tmpdir(), 'ns-cl-'));
    dirs.push(dir);
    const file = join(dir, 'w.safetensors');
    saveSafetensors(file, model.stateDict());
    const back = loadSafetensors(file);
    for (const [k, t] of back.tensors) {
      if (before.has(k)) assert.deepEqual(t.toArray(), before.get(k)!.v, k);
      t.dispose();
    }
    model.dispose();
    assert.equal(liveTensorCount(), start);
  });

  it('a channels_last step matches the contiguous one, and its gradients and momentum take the weights’ layout', async () => {
    const start = liveTensorCount();
    const g = new Generator(2);
    const batch: TrainBatch = { x: randn([4, 3, 48, 48], { generator: g }), target: randint(0, 4, [4], { generator: g }) };
    const losses: number[] = [];
    const weights: number[][] = [];
    for (const cl of [false, true]) {
      const model = await createModel('tinynet_e', { numClasses: 4, generator: new Generator(3) });
      model.train();
      if (cl) toChannelsLast_(model);
      const opt = new SGD([{ params: [...model.namedParameters()] }], { lr: 0.1, momentum: 0.9 });
      const layouts: boolean[] = [];
      const state = { step: 0 };
      for (let i = 0; i < 2; i++) {
        losses.push(
          trainStep(
            model,
            [batch],
            {
              optimizer: opt,
              lossFn,
              channelsLast: cl,
              afterBackward: (ps) => {
                for (const p of ps) {
                  if (p.shape.length !== 4 || !cl) continue;
                  const gr = p.grad!;
                  layouts.push(gr.isContiguous('channelsLast'));
                  gr.dispose();
                }
              },
            },
            state,
          ),
        );
      }
      if (cl) {
        assert.ok(layouts.length > 0 && layouts.every(Boolean), 'channels_last gradients');
        for (const [k, t] of opt.stateDict().tensors) if (t.shape.length === 4) assert.ok(t.isContiguous('channelsLast'), k);
      }
      weights.push(model.stateDict().get('conv_stem.weight')!.toArray());
      opt.dispose();
      model.dispose();
    }
    // The same math in another memory order: equal up to float32 summation order.
    for (let i = 0; i < 2; i++)
      assert.ok(Math.abs(losses[i]! - losses[i + 2]!) < 1e-4 * Math.max(1, losses[i]!), `step ${i}: ${losses.join(' ')}`);
    const maxDiff = weights[0]!.reduce((m, v, i) => Math.max(m, Math.abs(v - weights[1]![i]!)), 0);
    const scale = weights[0]!.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(maxDiff < 1e-3 * scale, `conv_stem after two steps differs by ${maxDiff} (max |w| ${scale})`);
    batch.x.dispose();
    batch.target.dispose();
    g.dispose();
    assert.equal(liveTensorCount(), start);
  });

  it('fit with channelsLast trains channels_last weights', async () => {
    const start = liveTensorCount();
    const model = await createModel('tinynet_e', { numClasses: 4, generator: new Generator(4) });
    const g = new Generator(5);
    const opt = new SGD([{ params: [...model.namedParameters()] }], { lr: 0.01 });
    await fit({
      model,
      epochs: 1,
      batchesPerEpoch: 1,
      trainBatches: async function* () {
        yield await Promise.resolve({ x: randn([2, 3, 32, 32], { generator: g }), target: randint(0, 4, [2], { generator: g }) });
      },
      optimizer: opt,
      lossFn,
      channelsLast: true,
    });
    for (const [k, p] of model.namedParameters()) if (p.shape.length === 4) assert.ok(p.isContiguous('channelsLast'), k);
    opt.dispose();
    model.dispose();
    g.dispose();
    assert.equal(liveTensorCount(), start);
  });
});
