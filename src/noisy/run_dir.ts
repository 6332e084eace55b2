// A run directory read back from disk: its config and data, the finished teacher, and each finished
// generation with its pseudo-labels, selection and student. Every folder is found from the config
// and the records (content keys, run_plan.ts), never from a stored path, so `evaluate` and `report`
// work on any finished (or partly finished) run, also after it was moved or copied.
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWriteJson } from '../util/atomic_write.js';
import { generationStudent, resolveNoisyStudentConfig, runIdentityDifferences, type NoisyStudentConfig } from './config.js';
import { resolveRunData, type RunData } from './run_data.js';
import { generationDir, pseudoLabelStageDir, runFilterSettings } from './run_plan.js';
import { filterStageDir, studentStageInputs, stageDir, teacherStageDir } from './stages/index.js';
import { readPseudoLabelIndex, readPseudoLabels, type PseudoLabels } from './artifacts/pseudo_labels.js';
import { readFilterResult } from './artifacts/selection.js';
import { readStageRecord, refuseOldLayout, type StageRecord } from './artifacts/stage_record.js';
import { readArtifact } from './artifacts/format.js';
import { oracleStageInputs } from './stages/oracle.js';
import type { Summary } from './pipeline.js';
import type { FilterResult } from './filter.js';

export interface FinishedModel {
  /** The stage folder (…/<key>) and its model folder. */
  dir: string;
  modelDir: string;
  record: StageRecord;
}

export interface RunGeneration {
  /** 1-based. */
  index: number;
  dir: string;
  model: string;
  teacherModel: string;
  teacherModelDir: string;
  pseudoDir: string;
  filterDir: string;
  student: FinishedModel;
  /** The teacher's pseudo-labels, read from their shards. */
  pseudoLabels(): PseudoLabels;
  /** The filter stage's output, as written. */
  filtered(): FilterResult;
}

export interface OpenedRun {
  dir: string;
  cfg: NoisyStudentConfig;
  data: RunData;
  teacher: FinishedModel;
  /** The finished generations, in order. */
  generations: RunGeneration[];
  /** Generations the config lists that have not finished. */
  unfinished: number;
  /** Wall time per stage, from summary.json when the run wrote one. */
  seconds: Record<string, number> | null;
  /** The finished oracle (config `oracle: true`, every generation finished), else null. */
  oracle: FinishedModel | null;
  /** The finished ablation variants (RUN/ablations/<name>/summary.json), by name. */
  ablations: Summary[];
}

export function openRun(runDir: string): OpenedRun {
  const cfgFile = join(runDir, 'config.json');
  if (!existsSync(cfgFile)) throw new Error(`${runDir} is not a Noisy Student run directory (no config.json)`);
  refuseOldLayout(runDir);
  const cfg = resolveNoisyStudentConfig(JSON.parse(readFileSync(cfgFile, 'utf8')));
  const data = resolveRunData(cfg);
  const tDir = teacherStageDir(runDir, cfg, data);
  const tRec = readStageRecord(tDir);
  if (!tRec)
    throw new Error(
      `${runDir}: the teacher has not finished (no ${join('teacher', '<key>', 'record.json')}); run the same command again to complete it`,
    );
  const teacher: FinishedModel = { dir: tDir, modelDir: join(tDir, 'model'), record: tRec };
  const generations: RunGeneration[] = [];
  let prev = { model: cfg.teacher.model, weights: tRec.weights, modelDir: teacher.modelDir };
  for (let g = 0; g < cfg.students.length; g++) {
    const dir = generationDir(runDir, g);
    const s = generationStudent(cfg, g);
    const pseudoDir = pseudoLabelStageDir(dir, prev.weights, cfg, data);
    if (!existsSync(join(pseudoDir, 'index.json'))) break;
    const index = readPseudoLabelIndex(pseudoDir);
    const settings = runFilterSettings(cfg);
    const filterDir = filterStageDir(dir, index.fingerprint, settings);
    if (!existsSync(join(filterDir, 'selection.json'))) break;
    const filtered = readFilterResult(filterDir);
    const sDir = stageDir(
      join(dir, 'student'),
      studentStageInputs({
        student: s,
        pseudoLabel: cfg.pseudoLabel,
        classes: data.classes,
        labeled: data.labeled,
        unlabeled: data.unlabeled,
        pseudo: { fingerprint: index.fingerprint },
        selection: filtered.selection,
        teacher: prev,
        test: data.test,
        curve: data.curve,
        defaults: data.defaults,
        sizes: data.sizes,
        seed: cfg.seed,
      }),
    );
    const rec = readStageRecord(sDir);
    if (!rec) break;
    generations.push({
      index: g + 1,
      dir,
      model: s.model,
      teacherModel: prev.model,
      teacherModelDir: prev.modelDir,
      pseudoDir,
      filterDir,
      student: { dir: sDir, modelDir: join(sDir, 'model'), record: rec },
      pseudoLabels: () => readPseudoLabels(pseudoDir),
      filtered: () => filtered,
    });
    prev = { model: s.model, weights: rec.weights, modelDir: join(sDir, 'model') };
  }
  const summaryFile = join(runDir, 'summary.json');
  const seconds = existsSync(summaryFile)
    ? ((JSON.parse(readFileSync(summaryFile, 'utf8')) as { seconds?: Record<string, number> }).seconds ?? null)
    : null;
  let oracle: FinishedModel | null = null;
  const final = generations[generations.length - 1];
  if (cfg.oracle && final && generations.length === cfg.students.length) {
    const { inputs } = oracleStageInputs({
      cfg,
      data,
      student: generationStudent(cfg, cfg.students.length - 1),
      unlabeledCount: final.filtered().ids.length,
      teacher: { model: final.teacherModel, modelDir: final.teacherModelDir },
    });
    const oDir = stageDir(join(runDir, 'oracle'), inputs);
    const rec = readStageRecord(oDir);
    if (rec) oracle = { dir: oDir, modelDir: join(oDir, 'model'), record: rec };
  }
  return {
    dir: runDir,
    cfg,
    data,
    teacher,
    generations,
    unfinished: cfg.students.length - generations.length,
    seconds,
    oracle,
    ablations: readAblations(runDir),
  };
}

/** The summaries under RUN/ablations/, in name order (an unfinished variant has none yet). */
export function readAblations(runDir: string): Summary[] {
  const root = join(runDir, 'ablations');
  if (!existsSync(root)) return [];
  return readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, e.name, 'summary.json')))
    .map((e) => e.name)
    .sort()
    .map((name) =>
      readArtifact<Summary>(join(root, name, 'summary.json'), 'summary', `delete ${join(root, name)} and run the ablation again`),
    );
}

/**
 * Make `runDir` the folder of a run of `cfg` before anything is written: a new folder gets its
 * config.json; a folder holding a run keeps everything (its config.json included) unless `cfg` is
 * the same run (the same data: RUN_IDENTITY_KEYS), which then records the new config and goes on
 * beside the finished stages.
 */
export function claimRunDir(runDir: string, cfg: NoisyStudentConfig): void {
  refuseOldLayout(runDir);
  const cfgFile = join(runDir, 'config.json');
  const elsewhere = `use another --output for this config, or delete ${runDir} to start over`;
  if (existsSync(cfgFile)) {
    let old: NoisyStudentConfig;
    try {
      old = resolveNoisyStudentConfig(JSON.parse(readFileSync(cfgFile, 'utf8')));
    } catch (e) {
      throw new Error(
        `${runDir} is not a Noisy Student run folder (its config.json is not a run config: ${(e as Error).message.slice(0, 200)}); ${elsewhere}`,
      );
    }
    const diffs = runIdentityDifferences(old, cfg);
    if (diffs.length)
      throw new Error(
        `${runDir} holds a run on other data (${diffs.join('; ')}); a run folder holds one run's data, so nothing was changed: ${elsewhere}`,
      );
    if (JSON.stringify(old) === JSON.stringify(cfg)) return;
  }
  mkdirSync(runDir, { recursive: true });
  atomicWriteJson(cfgFile, cfg);
}

/** An ablation variant runs in the folder of a run of the same data: refuse one that is not. */
export function checkVariantOf(runDir: string, cfg: NoisyStudentConfig): void {
  refuseOldLayout(runDir);
  const cfgFile = join(runDir, 'config.json');
  if (!existsSync(cfgFile)) throw new Error(`${runDir}: no run to ablate (no config.json); run the main config there first`);
  const diffs = runIdentityDifferences(resolveNoisyStudentConfig(JSON.parse(readFileSync(cfgFile, 'utf8'))), cfg);
  if (diffs.length) throw new Error(`${runDir} holds a run on other data (${diffs.join('; ')}): an ablation must share the run's data`);
}
