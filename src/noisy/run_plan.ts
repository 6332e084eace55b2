// Where each stage of a run lives: every folder is named by the content key of its inputs, so the
// pipeline (which creates them) and openRun (which reads a finished run, wherever it was moved)
// find the same folders from the config and the records alone.
import { join } from 'node:path';
import { contentHash } from '../util/hash.js';
import type { NoisyStudentConfig } from './config.js';
import type { RunData } from './run_data.js';
import { filterSettings } from './stages/filter.js';
import type { FilterSettings } from './artifacts/selection.js';

export const generationDir = (runDir: string, g: number): string => join(runDir, `gen-${g + 1}`);

/** The pseudo-label folder of a generation: the teacher's weights, the images and the shard settings. */
export function pseudoLabelStageDir(genDir: string, teacherWeights: string, cfg: NoisyStudentConfig, data: RunData): string {
  const p = cfg.pseudoLabel;
  return join(
    genDir,
    'pseudo',
    contentHash({
      teacher: teacherWeights,
      unlabeled: data.unlabeled.key,
      topk: p.topk ?? null,
      shardSize: p.shardSize,
      batchSize: p.batchSize,
      // The backend shifts the last bits of each probability, so it is part of the key; the default
      // (torch, fp32) is left out so that runs made before backends existed keep their folders.
      ...(p.backend === 'torch' && p.precision === 'fp32' ? {} : { backend: p.backend, precision: p.precision }),
      // int8's outputs depend on the images its ranges were calibrated on.
      ...(p.precision === 'int8' ? { calibrationImages: p.calibrationImages } : {}),
    }),
  );
}

/** The run's filter settings, the `filter` command's defaults otherwise. */
export const runFilterSettings = (cfg: NoisyStudentConfig): FilterSettings =>
  filterSettings({ perClass: cfg.pseudoLabel.perClass, threshold: cfg.pseudoLabel.threshold, seed: cfg.seed });
