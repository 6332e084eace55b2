// record.json of a model stage (a teacher or a student): written last, in the stage's own folder
// (named by its key), so a folder with a record is a finished stage. It holds no paths: the model is
// `model/` beside it, its inputs are content keys, and its weights have a fingerprint.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalResult } from '../../train/index.js';
import { ArtifactFormatError, readArtifact, writeArtifact } from './format.js';

export interface StageRecord {
  stage: 'teacher' | 'student' | 'oracle';
  /** The folder's name: a hash of `inputs`. */
  key: string;
  inputs: unknown;
  model: string;
  /** Fingerprint of model/model.safetensors. */
  weights: string;
  history: { epoch: number; trainLoss: number; eval: EvalResult | null }[];
  /** On the test set; `confusion` (counts[true][predicted]) in records written since it was kept. */
  eval: EvalResult & { confusion?: number[][] };
  seconds: number;
}

export const RECORD = 'record.json';

/** The finished stage in `dir`, or null if it has not finished. A stage of the old layout is an error. */
export function readStageRecord(dir: string): StageRecord | null {
  const f = join(dir, RECORD);
  if (existsSync(f)) return readArtifact<StageRecord>(f, 'stage-record', 'run it again into a new output folder');
  return null;
}

export function writeStageRecord(dir: string, r: StageRecord): void {
  writeArtifact(join(dir, RECORD), 'stage-record', r);
}

/** A run directory made before runs were keyed by content (a done.json per stage) cannot be resumed by this version. */
export function refuseOldLayout(runDir: string): void {
  if (existsSync(join(runDir, 'teacher', 'done.json')))
    throw new ArtifactFormatError(
      `${runDir} was made by an older noisy-student (stages recorded in done.json, folders not keyed by content): ` +
        'run into a new output folder (its finished stages cannot be reused by this version)',
    );
}
