// The student stage: the one trainer (train/trainer.ts) on labeled + pseudo-labeled batches, `ratio`
// unlabeled per labeled image, with noise (RandAugment on both streams, dropout before the
// classifier, stochastic depth) unless it is the no-noise ablation; soft targets use cross-entropy
// with the teacher's probabilities (temperature), hard ones and the labeled loss use label
// smoothing. Its folder is keyed by everything the student depends on: its model and recipe, its
// teacher's weights (and whether it warm-starts from them), the pseudo-label set, the selection, the
// labeled and test data, and the seed.
import { join } from 'node:path';
import { fileHash } from '../../util/hash.js';
import type { SampleError } from '../../data/index.js';
import { trainModel, type DataConfigOverrides, type DataDefaults, type ProgressListener, type SelectedData } from '../../train/index.js';
import { studentRecipe, type GenerationStudent } from '../config.js';
import { pseudoLabelTargets, type PseudoLabels } from '../artifacts/pseudo_labels.js';
import type { Selection } from '../artifacts/selection.js';
import { modelStage, stageDir, type ModelStageResult } from './model_stage.js';

export interface StudentStageArgs {
  /** The folder the keyed student folder goes into (a run's gen-N/student, or the command's --output). */
  parent: string;
  student: GenerationStudent;
  pseudoLabel: { kind: 'soft' | 'hard'; temperature: number };
  classes: readonly string[];
  labeled: SelectedData;
  unlabeled: SelectedData;
  pseudo: PseudoLabels;
  selection: Selection;
  /** The teacher that made the pseudo-labels (its model folder: the warm start's weights). */
  teacher: { model: string; modelDir: string };
  test: SelectedData;
  /** Evaluated after each epoch (the curves); none when null. */
  curve: SelectedData | null;
  defaults: DataDefaults | null;
  sizes: DataConfigOverrides;
  seed: number;
  workers: number;
  device?: string;
  signal?: AbortSignal | undefined;
  onEvent?: ProgressListener | undefined;
  stage?: string;
  /** Each image that could not be read (training or test); may throw to stop the run (maxSkipped). */
  onSampleError?: ((e: SampleError, set: string) => void) | undefined;
}

/** Content keys of everything the student depends on (no paths). */
export function studentStageInputs(
  a: Omit<StudentStageArgs, 'parent' | 'signal' | 'onEvent' | 'stage' | 'workers' | 'device' | 'pseudo' | 'onSampleError'> & {
    pseudo: { fingerprint: string };
  },
): unknown {
  const s = a.student;
  return {
    model: s.model,
    recipe: studentRecipe(s),
    ratio: s.ratio,
    targets: a.pseudoLabel.kind === 'hard' ? { kind: 'hard' } : a.pseudoLabel,
    // The pseudo-labels' fingerprint stands for the teacher; a warm start also takes its weights.
    warmStart: s.warmStart ? { model: a.teacher.model, weights: fileHash(join(a.teacher.modelDir, 'model.safetensors')) } : null,
    pseudoLabels: a.pseudo.fingerprint,
    selection: a.selection.fingerprint,
    labeled: a.labeled.key,
    classes: a.classes,
    test: a.test.key,
    curve: a.curve?.key ?? null,
    sizes: a.sizes,
    seed: a.seed,
  };
}

export const studentStageDir = (a: Parameters<typeof studentStageInputs>[0] & { parent: string }): string =>
  stageDir(a.parent, studentStageInputs(a));

export async function studentStage(a: StudentStageArgs): Promise<ModelStageResult> {
  const s = a.student;
  if (s.warmStart && s.model !== a.teacher.model)
    throw new Error(`${s.model} cannot warm-start from its teacher ${a.teacher.model} (different architectures)`);
  const inputs = studentStageInputs(a);
  return modelStage({
    parent: a.parent,
    stage: 'student',
    model: s.model,
    inputs,
    test: a.test.dataset,
    workers: a.workers,
    device: a.device,
    onEvent: a.onEvent,
    onSampleError: a.onSampleError,
    train: async (dir) => {
      const r = await trainModel({
        model: s.model,
        recipe: studentRecipe(s),
        ...(s.warmStart ? { init: { checkpoint: a.teacher.modelDir } } : {}),
        numClasses: a.classes.length,
        labelNames: a.classes,
        labeled: a.labeled.dataset,
        val: a.curve?.dataset ?? null,
        unlabeled: {
          images: a.unlabeled.dataset,
          ids: a.selection.ids,
          ratio: s.ratio,
          targets: pseudoLabelTargets(a.pseudo),
          kind: a.pseudoLabel.kind,
          temperature: a.pseudoLabel.temperature,
        },
        dataDefaults: a.defaults,
        sizes: a.sizes,
        seed: a.seed,
        workers: a.workers,
        ...(a.device ? { device: a.device } : {}),
        output: dir,
        resume: true,
        key: inputs,
        stage: a.stage ?? 'student',
        signal: a.signal,
        onEvent: a.onEvent,
        onSampleError: a.onSampleError,
      });
      return r.fit.history;
    },
  });
}
