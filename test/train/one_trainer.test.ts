// One trainer, not two that agree: the `train` command and the Noisy Student student stage, given
// the same recipe and data and no pseudo-labeled images, write bit-identical weights.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveTensorCount, selectData } from '../../src/index.js';
import { StudentRecipe, StudentSettingsSchema } from '../../src/noisy/config.js';
import { studentStage, type PseudoLabels, type Selection } from '../../src/noisy/index.js';
import { TRAIN_TINY_FMNIST, runCli } from '../cli/run_cli.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-one-trainer-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('one trainer', () => {
  it('train and the student stage with zero pseudo-labeled images give bit-identical weights', async () => {
    const start = liveTensorCount();
    const recipe = { epochs: 2, batchSize: 10, lr: 3e-3, warmupEpochs: 0.5, zeroHead: true };
    const trained = join(dir, 'train');
    const r = await runCli([
      ...TRAIN_TINY_FMNIST,
      '--labels-per-class',
      '3',
      '--seed',
      '1',
      '--epochs',
      '2',
      '-b',
      '10',
      '--lr',
      '3e-3',
      '--warmup-epochs',
      '0.5',
      '--zero-head',
      '--val-limit',
      '20',
      '--workers',
      '0',
      '-o',
      trained,
    ]);
    assert.equal(r.code, 0, r.stderr);

    const labeled = selectData({ spec: 'fashion-mnist', labelsPerClass: 3, part: 'labeled', seed: 1 });
    const pseudo: PseudoLabels = { probs: new Float32Array(0), numClasses: 10, records: [], failed: [], fingerprint: 'none' };
    const selection: Selection = {
      pseudoLabels: 'none',
      settings: { perClass: 1, threshold: 0.3, upsample: true, downsample: 'original', seed: 1 },
      fingerprint: 'empty',
      ids: [],
      entries: [],
    };
    const st = await studentStage({
      parent: join(dir, 'student'),
      student: {
        ...StudentSettingsSchema.parse({ noise: false }),
        train: StudentRecipe.parse(recipe),
        warmStart: false,
        model: 'tinynet_e',
      },
      pseudoLabel: { kind: 'soft', temperature: 1 },
      classes: labeled.classes!,
      labeled,
      unlabeled: selectData({ spec: 'fashion-mnist', labelsPerClass: 3, part: 'unlabeled', seed: 1, limit: 10 }),
      pseudo,
      selection,
      teacher: { model: 'tinynet_e', modelDir: '' },
      test: selectData({ spec: 'fashion-mnist:test', limit: 20 }),
      curve: null,
      defaults: labeled.defaults,
      sizes: {},
      seed: 1,
      workers: 0,
    });
    const a = readFileSync(join(trained, 'model', 'model.safetensors'));
    const b = readFileSync(join(st.modelDir, 'model.safetensors'));
    assert.ok(a.equals(b), 'the student stage trained other weights than the train command');
    assert.equal(liveTensorCount(), start);
  });
});
