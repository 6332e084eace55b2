// A model stage (the teacher, a student): trained into a folder named by the hash of its inputs, so
// a changed input trains a new model beside the old one instead of overwriting it, and a finished
// folder (one with record.json) is returned as it is. The inputs are content keys only: the same
// run moved to another path finds the same folders.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadInferenceBackend, type BackendOption, type Calibration, type Precision } from '../../backends/index.js';
import type { ImageDataset, SampleError } from '../../data/index.js';
import { evaluateModel, type EvalResult, type ProgressListener } from '../../train/index.js';
import { addLogits, emptyConfusion } from '../confusion.js';
import { contentHash, fileHash } from '../../util/hash.js';
import { withElapsed } from '../../util/elapsed.js';
import { isWriterRank } from '../../distributed/index.js';
import { readStageRecord, writeStageRecord, type StageRecord } from '../artifacts/stage_record.js';

export interface ModelStageResult {
  /** The stage's own folder: PARENT/<key>. */
  dir: string;
  modelDir: string;
  record: StageRecord;
  skipped: boolean;
}

export const stageDir = (parent: string, inputs: unknown): string => join(parent, contentHash(inputs));

/** A test-set score with its confusion matrix (counts[true][predicted]), tallied from the same logits. */
export type StageEval = EvalResult & { confusion?: number[][] };

/** Top-1/top-5 and the confusion matrix of a saved model folder on a labeled set, with the model's own preprocessing. */
export async function evaluateModelDir(
  modelName: string,
  modelDir: string,
  test: ImageDataset,
  o: {
    workers: number;
    device?: string | undefined;
    onEvent?: ProgressListener | undefined;
    stage?: string;
    onSampleError?: ((e: SampleError, set: string) => void) | undefined;
    backend?: BackendOption;
    precision?: Precision;
    /** int8: the images it is calibrated on. */
    calibration?: Calibration | undefined;
  },
): Promise<StageEval> {
  const model = await loadInferenceBackend(modelName, {
    checkpointPath: modelDir,
    ...(o.device ? { device: o.device } : {}),
    backend: o.backend ?? 'torch',
    precision: o.precision ?? 'fp32',
    ...(o.calibration ? { calibration: o.calibration } : {}),
  });
  try {
    const onErr = o.onSampleError;
    const confusion = emptyConfusion(model.numClasses);
    const score = await evaluateModel(model, test, {
      batchSize: 256,
      workers: o.workers,
      stage: o.stage ?? 'evaluate',
      onEvent: o.onEvent,
      onLogits: (logits, labels) => addLogits(confusion, logits, labels),
      ...(onErr ? { onSampleError: (e: SampleError) => onErr(e, 'test') } : {}),
    });
    return { ...score, confusion };
  } finally {
    await model.dispose();
  }
}

export async function modelStage(o: {
  parent: string;
  stage: 'teacher' | 'student' | 'oracle';
  model: string;
  inputs: unknown;
  /** Train into `dir` (resumable), leaving the model in dir/model; returns the epochs' history. */
  train: (dir: string) => Promise<StageRecord['history']>;
  test: ImageDataset;
  workers: number;
  device?: string | undefined;
  onEvent?: ProgressListener | undefined;
  onSampleError?: ((e: SampleError, set: string) => void) | undefined;
}): Promise<ModelStageResult> {
  const key = contentHash(o.inputs);
  const dir = join(o.parent, key);
  const done = readStageRecord(dir);
  if (done) return { dir, modelDir: join(dir, 'model'), record: done, skipped: true };
  // Under a launcher every rank trains and scores; rank 0 alone records it.
  const writer = isWriterRank();
  const { result, seconds } = await withElapsed(writer ? join(dir, 'elapsed.json') : null, async () => {
    const history = await o.train(dir);
    const modelDir = join(dir, 'model');
    if (!existsSync(join(modelDir, 'model.safetensors'))) throw new Error(`${o.stage} stage: no model in ${modelDir}`);
    const ev = await evaluateModelDir(o.model, modelDir, o.test, {
      workers: o.workers,
      device: o.device,
      onEvent: o.onEvent,
      onSampleError: o.onSampleError,
      stage: `${o.stage} test`,
    });
    return { history, eval: ev, weights: fileHash(join(modelDir, 'model.safetensors')) };
  });
  const record: StageRecord = { stage: o.stage, key, inputs: o.inputs, model: o.model, ...result, seconds };
  if (writer) writeStageRecord(dir, record);
  return { dir, modelDir: join(dir, 'model'), record, skipped: false };
}
