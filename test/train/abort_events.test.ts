// Long library calls report progress through one event type and stop on an AbortSignal, releasing
// what they made.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createModel,
  trainingDataConfig,
  liveTensorCount,
  RecipeSchema,
  runTrainJob,
  resolveTrainConfig,
  selectData,
  trainModel,
  type ProgressEvent,
} from '../../src/index.js';
import { pseudoLabel } from '../../src/noisy/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-abort-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('progress events and AbortSignal', () => {
  it('trainModel reports steps and epochs, and an abort after the first step ends it with nothing leaked', async () => {
    const start = liveTensorCount();
    const labeled = selectData({ spec: 'fashion-mnist', labelsPerClass: 4, part: 'labeled', seed: 0 });
    const ac = new AbortController();
    const events: ProgressEvent[] = [];
    await assert.rejects(
      trainModel({
        model: 'tinynet_e',
        recipe: RecipeSchema.parse({ epochs: 2, batchSize: 8 }),
        numClasses: 10,
        labelNames: labeled.classes,
        labeled: labeled.dataset,
        dataDefaults: labeled.defaults,
        seed: 0,
        workers: 0,
        output: join(dir, 'aborted'),
        resume: false,
        key: null,
        signal: ac.signal,
        onEvent: (e) => {
          events.push(e);
          if (e.type === 'step') ac.abort();
        },
      }),
      /train was cancelled/,
    );
    assert.equal(events.filter((e) => e.type === 'step').length, 1);
    assert.equal(liveTensorCount(), start);

    const all: ProgressEvent[] = [];
    const cfg = resolveTrainConfig(
      {},
      { model: 'tinynet_e', data: 'fashion-mnist', labelsPerClass: 2, epochs: 1, batchSize: 10, valLimit: 10, output: join(dir, 'full') },
    );
    await runTrainJob(cfg, { onEvent: (e) => all.push(e) });
    const steps = all.filter((e) => e.type === 'step');
    assert.equal(steps.length, 2);
    assert.deepEqual(
      all.filter((e) => e.type === 'epoch').map((e) => e.type === 'epoch' && [e.stage, e.epoch, e.epochs, e.eval?.n]),
      [['train', 0, 1, 10]],
    );
    assert.equal(liveTensorCount(), start);
  });

  it('pseudoLabel reports images done and stops on an abort', async () => {
    const start = liveTensorCount();
    const model = await createModel('tinynet_e', { numClasses: 10, inChans: 1 });
    const data = selectData({ spec: 'fashion-mnist:test', limit: 40 });
    const ac = new AbortController();
    const seen: number[] = [];
    await assert.rejects(
      pseudoLabel(model, data.dataset, trainingDataConfig(model, data.defaults), {
        dir: join(dir, 'pl'),
        shardSize: 20,
        batchSize: 10,
        workers: 0,
        signal: ac.signal,
        onEvent: (e) => {
          if (e.type === 'items') seen.push(e.done);
          if (e.type === 'items' && e.done >= 20) ac.abort();
        },
      }),
      /pseudo-label was cancelled/,
    );
    assert.deepEqual(seen, [10, 20]);
    model.dispose();
    assert.equal(liveTensorCount(), start);
  });
});
