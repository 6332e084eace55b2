// Error paths free what they made: fit, evaluate, evaluateModel, the student stage and the training
// job each get a throw while tensors are alive (mid-epoch), and the live native tensor count must
// be back at its start once the error has reached the caller. What the caller passed in (a model,
// an optimizer) stays the caller's: the test disposes those itself before counting.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SGD,
  createModel,
  evaluate,
  evaluateModel,
  fit,
  liveTensorCount,
  loadInferenceModel,
  randn,
  resolveTrainConfig,
  runTrainJob,
  saveModel,
  selectData,
  tensor,
  trainingDataConfig,
  ModelEma,
  type TrainBatch,
} from '../../src/index.js';
import { StudentRecipe, StudentSettingsSchema } from '../../src/noisy/config.js';
import { studentStage, type PseudoLabels, type Selection } from '../../src/noisy/index.js';
import { evaluateModelDir } from '../../src/noisy/stages/index.js';

const dir = mkdtempSync(join(tmpdir(), 'ns-error-leaks-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const tinyModel = (numClasses = 3) => createModel('tinynet_e', { numClasses, inChans: 1 });

/** `count` batches of two 1×32×32 images, made lazily as fit and evaluate pull them. */
async function* batches(count: number, channels = 1): AsyncGenerator<TrainBatch> {
  for (let i = 0; i < count; i++) yield { x: randn([2, channels, 32, 32]), target: tensor([0, 1], { dtype: 'int64' }) };
}

describe('error paths free what they made', () => {
  it('fit: a loss that throws on the third step frees the batches it holds (and with gradient accumulation)', async () => {
    for (const gradAccum of [1, 2]) {
      const start = liveTensorCount();
      const model = await tinyModel();
      const optimizer = new SGD(model.namedParameters(), { lr: 0.01 });
      const ema = new ModelEma(model.stateDict(), { decay: 0.9 });
      let calls = 0;
      await assert.rejects(
        fit({
          model,
          optimizer,
          ema,
          gradAccum,
          epochs: 1,
          batchesPerEpoch: 8,
          trainBatches: () => batches(8),
          lossFn: (logits, b) => {
            if (++calls === 3) throw new Error('injected: loss failed');
            return logits.logSoftmax(1).gather(1, b.target.unsqueeze(1)).neg().mean();
          },
        }),
        /injected: loss failed/,
      );
      ema.dispose();
      optimizer.dispose();
      model.dispose();
      assert.equal(liveTensorCount(), start, `gradAccum ${gradAccum}: fit left tensors alive after the throw`);
    }
  });

  it('fit: a resume whose checkpoint does not fit the model frees the weights it loaded', async () => {
    const start = liveTensorCount();
    const out = join(dir, 'fit-resume');
    mkdirSync(out, { recursive: true });
    const a = await tinyModel(3);
    const optA = new SGD(a.namedParameters(), { lr: 0.01 });
    const lossFn = (logits: ReturnType<typeof randn>, b: TrainBatch) => logits.logSoftmax(1).gather(1, b.target.unsqueeze(1)).neg().mean();
    await fit({ model: a, optimizer: optA, epochs: 1, batchesPerEpoch: 1, trainBatches: () => batches(1), lossFn, output: out });
    optA.dispose();
    a.dispose();
    // Another head: the optimizer (no momentum) has no state to refuse it, the model's weights do.
    const b = await tinyModel(4);
    const optB = new SGD(b.namedParameters(), { lr: 0.01 });
    await assert.rejects(
      fit({ model: b, optimizer: optB, epochs: 2, batchesPerEpoch: 1, trainBatches: () => batches(1), lossFn, output: out, resume: true }),
      /classifier/,
    );
    optB.dispose();
    b.dispose();
    assert.equal(liveTensorCount(), start, 'the checkpoint weights loaded for the resume were left alive');
  });

  it('evaluate: a forward that throws (3-channel images for a 1-channel model) frees the batch', async () => {
    const start = liveTensorCount();
    const model = await tinyModel();
    await assert.rejects(evaluate(model, batches(2, 3)));
    model.dispose();
    assert.equal(liveTensorCount(), start, 'evaluate left the batch it was scoring alive');
  });

  it("evaluateModel and a model folder's evaluation (the stages', noisy evaluate's): labels beyond the classes, a throwing listener", async () => {
    const start = liveTensorCount();
    const data = selectData({ spec: 'fashion-mnist:test', limit: 8 }); // labels up to 9
    const saved = join(dir, 'eval-model-3');
    const saved10 = join(dir, 'eval-model-10');
    let dataConfig: ReturnType<typeof trainingDataConfig> | undefined;
    for (const [n, folder] of [
      [3, saved],
      [10, saved10],
    ] as const) {
      const model = await tinyModel(n);
      dataConfig = trainingDataConfig(model, data.defaults);
      saveModel(model, folder, { labelNames: null });
      model.dispose();
    }
    const inference3 = await loadInferenceModel('tinynet_e', { checkpointPath: saved });
    await assert.rejects(evaluateModel(inference3, data.dataset, { batchSize: 4, dataConfig: dataConfig! }), /out of bounds/);
    await inference3.dispose();
    const inference = await loadInferenceModel('tinynet_e', { checkpointPath: saved10 });
    await assert.rejects(
      evaluateModel(inference, data.dataset, {
        batchSize: 4,
        dataConfig: dataConfig!,
        onEvent: () => {
          throw new Error('injected: listener failed');
        },
      }),
      /injected/,
    );
    await inference.dispose();
    await assert.rejects(evaluateModelDir('tinynet_e', saved, data.dataset, { workers: 0 }));
    assert.equal(liveTensorCount(), start);
  });

  it('student stage: a selected image without a pseudo-label stops it mid-epoch with nothing alive', async () => {
    const start = liveTensorCount();
    const labeled = selectData({ spec: 'fashion-mnist', labelsPerClass: 2, part: 'labeled', seed: 1 });
    const unlabeled = selectData({ spec: 'fashion-mnist', labelsPerClass: 2, part: 'unlabeled', seed: 1, limit: 12 });
    // Hard pseudo-labels for ids 0..5 only; the selection also lists 6..11, which have none.
    const records = Array.from({ length: 6 }, (_, id) => ({ id, label: id % 10, confidence: 0.9 }));
    // Both the record list and its columns: the set as readPseudoLabels hands it over.
    const pseudo = {
      numClasses: 10,
      images: 12,
      topk: 0,
      probs: new Float32Array(12 * 10),
      classes: null,
      columns: {
        ids: Int32Array.from(records, (r) => r.id),
        labels: Int32Array.from(records, (r) => r.label),
        confidences: Float32Array.from(records, (r) => r.confidence),
      },
      records,
      failed: [],
      fingerprint: 'partial',
    } as unknown as PseudoLabels;
    const ids = Array.from({ length: 12 }, (_, i) => i);
    const selection: Selection = {
      pseudoLabels: 'partial',
      settings: { perClass: 1, threshold: 0, upsample: false, downsample: 'original', seed: 1 },
      fingerprint: 'with-missing',
      ids,
      entries: [],
    };
    await assert.rejects(
      studentStage({
        parent: join(dir, 'student'),
        student: {
          ...StudentSettingsSchema.parse({ noise: false, ratio: 2 }),
          train: StudentRecipe.parse({ epochs: 1, batchSize: 4, emaDecay: 0.9 }),
          warmStart: false,
          model: 'tinynet_e',
        },
        pseudoLabel: { kind: 'hard', temperature: 1 },
        classes: labeled.classes!,
        labeled,
        unlabeled,
        pseudo,
        selection,
        teacher: { model: 'tinynet_e', modelDir: '' },
        test: selectData({ spec: 'fashion-mnist:test', limit: 4 }),
        curve: null,
        defaults: labeled.defaults,
        sizes: {},
        seed: 1,
        workers: 0,
      }),
      /has no pseudo-label/,
    );
    assert.equal(liveTensorCount(), start, 'the student stage left tensors alive after the throw');
  });

  it('training job: more labels in the data than --num-classes stops it in the first steps with nothing alive', async () => {
    const start = liveTensorCount();
    const cfg = resolveTrainConfig(
      {},
      {
        model: 'tinynet_e',
        data: 'fashion-mnist',
        labelsPerClass: 2,
        numClasses: 3, // Fashion-MNIST has 10: a target of 3..9 makes the loss throw mid-step
        epochs: 1,
        batchSize: 4,
        valLimit: 8,
        emaDecay: 0.9,
        workers: 0,
        output: join(dir, 'job-classes'),
      },
    );
    // The loss refuses the target mid-step (were the job to check labels up front, inject elsewhere:
    // this test is about a throw while batches and the model are alive).
    await assert.rejects(runTrainJob(cfg), /out of bounds/);
    assert.equal(liveTensorCount(), start, 'runTrainJob left tensors alive after the throw');
  });

  it('training job: a listener that throws on the second step, with EMA and validation, leaves nothing alive', async () => {
    const start = liveTensorCount();
    const cfg = resolveTrainConfig(
      {},
      {
        model: 'tinynet_e',
        data: 'fashion-mnist',
        labelsPerClass: 2,
        epochs: 2,
        batchSize: 4,
        valLimit: 8,
        emaDecay: 0.9,
        workers: 0,
        output: join(dir, 'job'),
      },
    );
    let steps = 0;
    await assert.rejects(
      runTrainJob(cfg, {
        onEvent: (e) => {
          if (e.type === 'step' && ++steps === 2) throw new Error('injected: listener failed');
        },
      }),
      /injected: listener failed/,
    );
    assert.equal(liveTensorCount(), start, 'runTrainJob left tensors alive after the throw');
  });
});
