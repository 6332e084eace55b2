// The teacher stage: a model trained on the labeled images only (the one trainer), or given weights
// (teacher.checkpoint), copied into the stage folder so the run is self-contained and relocatable.
import { atomicCopyFile, atomicWriteJson } from '../../util/atomic_write.js';
import { join } from 'node:path';
import { checkpointFiles } from '../../models/index.js';
import { trainModel, type ProgressListener } from '../../train/index.js';
import type { SampleError } from '../../data/index.js';
import { fileHash } from '../../util/hash.js';
import type { NoisyStudentConfig } from '../config.js';
import type { RunData } from '../run_data.js';
import { modelStage, stageDir, type ModelStageResult } from './model_stage.js';

export interface TeacherStageOptions {
  device?: string | undefined;
  signal?: AbortSignal | undefined;
  onEvent?: ProgressListener | undefined;
  log?: ((line: string) => void) | undefined;
  /** Each image that could not be read (training or test); may throw to stop the run (maxSkipped). */
  onSampleError?: ((e: SampleError, set: string) => void) | undefined;
}

/** What the teacher depends on: its model, recipe, starting weights, data and seed (content keys only). */
export function teacherStageInputs(cfg: NoisyStudentConfig, data: RunData): unknown {
  const t = cfg.teacher;
  const givenWeights = t.checkpoint ? fileHash(checkpointFiles(t.checkpoint).weights) : null;
  return {
    model: t.model,
    ...(givenWeights ? { weights: givenWeights } : { recipe: t.train, labeled: data.labeled.key, curve: data.curve.key }),
    classes: data.classes,
    sizes: data.sizes,
    test: data.test.key,
    seed: cfg.seed,
  };
}

export const teacherStageDir = (runDir: string, cfg: NoisyStudentConfig, data: RunData): string =>
  stageDir(join(runDir, 'teacher'), teacherStageInputs(cfg, data));

export async function teacherStage(
  runDir: string,
  cfg: NoisyStudentConfig,
  data: RunData,
  o: TeacherStageOptions = {},
): Promise<ModelStageResult> {
  const t = cfg.teacher;
  if (t.pretrained && !t.checkpoint)
    throw new Error('teacher.pretrained needs a checkpoint path for the data set classes (or leave it out to train one)');
  const inputs = teacherStageInputs(cfg, data);
  return modelStage({
    parent: join(runDir, 'teacher'),
    stage: 'teacher',
    model: t.model,
    inputs,
    test: data.test.dataset,
    workers: cfg.workers,
    device: o.device,
    onEvent: o.onEvent,
    onSampleError: o.onSampleError,
    train: async (dir) => {
      const modelDir = join(dir, 'model');
      if (t.checkpoint) {
        const files = checkpointFiles(t.checkpoint);
        // Atomic: under a launcher every rank copies the same bytes while the others may read them.
        atomicCopyFile(files.weights, join(modelDir, 'model.safetensors'));
        if (files.config) atomicWriteJson(join(modelDir, 'config.json'), files.config);
        return [];
      }
      o.log?.(`teacher: training ${t.model} on ${data.labeled.dataset.length} labeled images`);
      const r = await trainModel({
        model: t.model,
        recipe: { ...t.train, checkpointEvery: t.train.checkpointEvery ?? 200 },
        numClasses: data.classes.length,
        labelNames: data.classes,
        labeled: data.labeled.dataset,
        val: data.curve.dataset,
        dataDefaults: data.defaults,
        sizes: data.sizes,
        seed: cfg.seed,
        workers: cfg.workers,
        device: o.device,
        output: dir,
        resume: true,
        key: inputs,
        stage: 'teacher',
        signal: o.signal,
        onEvent: o.onEvent,
        log: o.log,
        onSampleError: o.onSampleError,
      });
      return r.fit.history;
    },
  });
}
