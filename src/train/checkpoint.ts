// Checkpoints that a killed run can resume from bit-exactly, and that timm can read.
//
// Layout under a checkpoint directory:
//   ckpt-<step>/model.safetensors        the model's state dict with timm's keys (timm loads it as is)
//   ckpt-<step>/model_ema.safetensors    optional: the EMA weights, same keys
//   ckpt-<step>/train_state.safetensors  optimizer state, EMA and RNG state tensors; the JSON
//                                        sidecar (step, epoch, data position, scheduler, optimizer
//                                        scalars, config hash) in its __metadata__
//   ckpt-<step>/checkpoint.json          the manifest: sizes and SHA-256 of the files above
//
// Atomicity: everything is written into a hidden temporary directory, the manifest last, each file
// fsynced; the directory is fsynced and only then renamed to ckpt-<step> (and the parent fsynced).
// A checkpoint counts only if its directory has the final name AND a manifest whose files match, so
// a crash at any point leaves either the previous checkpoints or the new complete one: a torn write
// (a temporary directory, or files without a manifest) is never picked up and is cleaned up later.
//
// Corruption after the fact (a checkpoint whose files no longer match their SHA-256, e.g. a disk
// error): resuming from a directory falls back to the previous complete checkpoint with a warning,
// and the bad one is renamed aside (ckpt-<step>.corrupt-<time>), never deleted: it may be evidence.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { DTYPE_BYTES, loadSafetensors, saveSafetensors, type Generator, type Tensor } from '../torch/index.js';
import { ensureFreeSpace, formatBytes } from '../util/disk.js';
import { atomicWriteJson, fsyncDir, isDiskFull, processGone, removeStaleTemps } from '../util/atomic_write.js';
import { faultPoint } from '../util/fault_points.js';
import type { BaseHyper, Optimizer, OptimizerScalars } from './optim/optimizer.js';
import type { ModelEma, EmaState } from './ema.js';
import type { Scheduler, SchedulerState } from './schedule.js';

export const CHECKPOINT_FORMAT = 'noisy-student-checkpoint/1';
const MANIFEST = 'checkpoint.json';
const MODEL_FILE = 'model.safetensors';
const EMA_MODEL_FILE = 'model_ema.safetensors';
const STATE_FILE = 'train_state.safetensors';
const STATE_META_KEY = 'noisy_student.train_state';
const DIR_RE = /^ckpt-(\d+)$/;
const TMP_PREFIX = '.tmp-ckpt-';
/** .tmp-ckpt-<step>-<pid>-<time>, and the `.old` copy of a re-saved step moved aside. */
const TMP_RE = /^\.tmp-ckpt-\d+-(\d+)-\d+(\.old)?$/;

/** Where warnings about a checkpoint go by default (a resumed run must say it fell back). */
const stderrWarning = (message: string): void => {
  process.stderr.write(`warning: ${message}\n`);
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export interface CheckpointInput {
  /** Optimizer updates done so far (the checkpoint's identity: ckpt-<step>). */
  step: number;
  epoch: number;
  /** The model's state dict, timm keys (parameters and buffers). */
  model: ReadonlyMap<string, Tensor>;
  optimizer?: Optimizer<BaseHyper>;
  ema?: ModelEma;
  scheduler?: Scheduler;
  /** Every Generator whose stream the run depends on (augmentation, dropout, sampler...). */
  generators?: Readonly<Record<string, Generator>>;
  /** Where the data stream stands (epoch, batch index, sampler seed...): the loop's business. */
  dataPosition?: Json;
  /** Validation metrics at this point; used to keep the best checkpoint. */
  metrics?: Readonly<Record<string, number>>;
  /** Hash of the resolved config; loadCheckpoint can refuse a checkpoint from another config. */
  configHash?: string;
  extra?: Json;
}

export interface CheckpointOptions {
  /** Metric (key of `metrics`) that picks the best checkpoint, e.g. 'top1'. Without it no best is kept. */
  bestMetric?: string;
  /** 'max' (accuracy, default) or 'min' (loss). */
  mode?: 'max' | 'min';
  /** How many of the most recent checkpoints to keep besides the best (default 1). */
  keepLast?: number;
  /** Also write the EMA weights as model_ema.safetensors (timm-loadable). Default true when there is an EMA. */
  writeEmaModel?: boolean;
  /** Told about corrupt checkpoints set aside while pruning (default: stderr). */
  onWarning?: (message: string) => void;
}

export interface ManifestFile {
  bytes: number;
  sha256: string;
}

export interface CheckpointManifest {
  format: string;
  step: number;
  epoch: number;
  metrics: Record<string, number>;
  configHash: string | null;
  savedAt: string;
  files: Record<string, ManifestFile>;
}

/** The JSON sidecar in train_state.safetensors. */
export interface TrainStateMeta {
  format: string;
  step: number;
  epoch: number;
  dataPosition: Json;
  configHash: string | null;
  metrics: Record<string, number>;
  optimizer: OptimizerScalars | null;
  scheduler: SchedulerState | null;
  ema: EmaState | null;
  generators: string[];
  extra: Json;
}

export interface CheckpointInfo {
  path: string;
  step: number;
  manifest: CheckpointManifest;
}

function fileDigest(path: string): ManifestFile {
  const data = readFileSync(path);
  return { bytes: data.byteLength, sha256: createHash('sha256').update(data).digest('hex') };
}

function checkpointDirName(step: number): string {
  if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`checkpoint step must be a non-negative integer, got ${step}`);
  return `ckpt-${String(step).padStart(10, '0')}`;
}

/** Read and verify one checkpoint directory's manifest; null when it is missing, torn or corrupt. */
export function readManifest(path: string, opts: { verifyHashes?: boolean } = {}): CheckpointManifest | null {
  const mpath = join(path, MANIFEST);
  if (!existsSync(mpath)) return null;
  let m: CheckpointManifest;
  try {
    m = JSON.parse(readFileSync(mpath, 'utf8')) as CheckpointManifest;
  } catch {
    return null;
  }
  if (m.format !== CHECKPOINT_FORMAT || typeof m.files !== 'object' || m.files === null) return null;
  for (const [name, f] of Object.entries(m.files)) {
    const p = join(path, name);
    if (!existsSync(p) || statSync(p).size !== f.bytes) return null;
    if (opts.verifyHashes && fileDigest(p).sha256 !== f.sha256) return null;
  }
  return m;
}

/** Every complete checkpoint in `dir`, oldest step first. Torn or temporary ones are skipped. */
export function listCheckpoints(dir: string): CheckpointInfo[] {
  if (!existsSync(dir)) return [];
  const out: CheckpointInfo[] = [];
  for (const name of readdirSync(dir)) {
    if (!DIR_RE.test(name)) continue;
    const path = join(dir, name);
    const manifest = readManifest(path);
    if (manifest !== null) out.push({ path, step: manifest.step, manifest });
  }
  return out.sort((a, b) => a.step - b.step);
}

/** The most recent complete checkpoint, or null. */
export function latestCheckpoint(dir: string): CheckpointInfo | null {
  return listCheckpoints(dir).at(-1) ?? null;
}

/** The complete checkpoint with the best `metric` (ties: the earliest), or null. */
export function bestCheckpoint(dir: string, metric: string, mode: 'max' | 'min' = 'max'): CheckpointInfo | null {
  let best: CheckpointInfo | null = null;
  for (const c of listCheckpoints(dir)) {
    const v = c.manifest.metrics[metric];
    if (typeof v !== 'number' || Number.isNaN(v)) continue;
    const bv = best?.manifest.metrics[metric];
    if (best === null || bv === undefined || (mode === 'max' ? v > bv : v < bv)) best = c;
  }
  return best;
}

/**
 * Write a checkpoint atomically (see the file comment), then prune: keep the `keepLast` most recent
 * and the best by `bestMetric`; remove older ones, leftover temporary directories, and any
 * checkpoint with a larger step than this one (an abandoned timeline).
 */
export function saveCheckpoint(dir: string, input: CheckpointInput, opts: CheckpointOptions = {}): { path: string; isBest: boolean } {
  dir = resolve(dir);
  mkdirSync(dir, { recursive: true });
  const finalName = checkpointDirName(input.step);
  const tmp = join(dir, `${TMP_PREFIX}${String(input.step)}-${process.pid}-${Date.now()}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    saveSafetensors(join(tmp, MODEL_FILE), input.model, { format: 'pt' });
    const writeEma = input.ema !== undefined && (opts.writeEmaModel ?? true);
    if (writeEma) saveSafetensors(join(tmp, EMA_MODEL_FILE), input.ema!.stateDict(), { format: 'pt' });

    const tensors = new Map<string, Tensor>();
    const opt = input.optimizer?.stateDict() ?? null;
    if (opt) for (const [k, t] of opt.tensors) tensors.set(`optimizer.${k}`, t);
    if (input.ema) for (const [k, t] of input.ema.stateDict()) tensors.set(`ema.${k}`, t);
    const genNames = Object.keys(input.generators ?? {}).sort();
    const rngStates: Tensor[] = [];
    for (const name of genNames) {
      const s = input.generators![name]!.getState();
      rngStates.push(s);
      tensors.set(`rng.${name}`, s);
    }
    const meta: TrainStateMeta = {
      format: CHECKPOINT_FORMAT,
      step: input.step,
      epoch: input.epoch,
      dataPosition: input.dataPosition ?? null,
      configHash: input.configHash ?? null,
      metrics: { ...(input.metrics ?? {}) },
      optimizer: opt?.scalars ?? null,
      scheduler: input.scheduler?.stateDict() ?? null,
      ema: input.ema?.state() ?? null,
      generators: genNames,
      extra: input.extra ?? null,
    };
    try {
      saveSafetensors(join(tmp, STATE_FILE), tensors, { [STATE_META_KEY]: JSON.stringify(meta) });
    } finally {
      for (const s of rngStates) s.dispose();
    }

    const files: Record<string, ManifestFile> = {};
    for (const f of [MODEL_FILE, ...(writeEma ? [EMA_MODEL_FILE] : []), STATE_FILE]) files[f] = fileDigest(join(tmp, f));
    const manifest: CheckpointManifest = {
      format: CHECKPOINT_FORMAT,
      step: input.step,
      epoch: input.epoch,
      metrics: { ...(input.metrics ?? {}) },
      configHash: input.configHash ?? null,
      savedAt: new Date().toISOString(),
      files,
    };
    // The manifest last: a directory without it is a torn checkpoint.
    atomicWriteJson(join(tmp, MANIFEST), manifest);
    fsyncDir(tmp);

    const finalPath = join(dir, finalName);
    if (existsSync(finalPath)) {
      // Re-saving a step (e.g. after a resume replayed it): move the old one aside first, since a
      // directory cannot be renamed over a non-empty one. Between the renames the old copy is only
      // under a temporary name; a crash there loses that one checkpoint, never a newer one.
      const aside = `${tmp}.old`;
      faultPoint(`rename ${finalPath}`);
      renameSync(finalPath, aside);
      faultPoint(`rename ${tmp}`);
      renameSync(tmp, finalPath);
      faultPoint(`remove ${aside}`);
      rmSync(aside, { recursive: true, force: true });
    } else {
      faultPoint(`rename ${tmp}`);
      renameSync(tmp, finalPath);
    }
    fsyncDir(dir);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (isDiskFull(e))
      throw new Error(
        `the disk is full: saving checkpoint ${finalName} in ${dir} failed (${(e as Error).message.split(';')[0]}); ` +
          'the partial checkpoint was removed and the earlier ones are intact. Free space on that disk and resume (the same command, or --resume)',
        { cause: e },
      );
    throw e;
  }

  const finalPath = join(dir, finalName);
  // Checkpoints past this step belong to a timeline that was abandoned (a run resumed from an
  // earlier checkpoint, e.g. the best one): drop them first, or 'last' would point into it.
  for (const c of listCheckpoints(dir)) if (c.step > input.step) removeCheckpointDir(dir, c);
  const best = opts.bestMetric ? bestCheckpoint(dir, opts.bestMetric, opts.mode ?? 'max') : null;
  prune(dir, opts.keepLast ?? 1, best?.path ?? null, finalPath, opts.onWarning ?? stderrWarning);
  return { path: finalPath, isBest: best?.path === finalPath };
}

function prune(dir: string, keepLast: number, bestPath: string | null, justWritten: string, warn: (m: string) => void): void {
  const all = listCheckpoints(dir);
  const keep = new Set(all.slice(-Math.max(1, keepLast)).map((c) => c.path));
  keep.add(justWritten);
  if (bestPath) keep.add(bestPath);
  for (const c of all) if (!keep.has(c.path)) removeCheckpointDir(dir, c);
  removeCheckpointLeftovers(dir, warn);
}

let removals = 0;

/**
 * Remove a checkpoint by first renaming it to a temporary name: a kill in the middle of deleting its
 * files then leaves a temporary folder (cleaned up at the next start), never a final-named one with
 * files missing, which would look corrupt.
 */
function removeCheckpointDir(dir: string, c: CheckpointInfo): void {
  const doomed = join(dir, `${TMP_PREFIX}${c.step}-${process.pid}-${Date.now()}${String(++removals % 1000).padStart(3, '0')}`);
  faultPoint(`rename ${c.path}`);
  renameSync(c.path, doomed);
  faultPoint(`remove ${doomed}`);
  rmSync(doomed, { recursive: true, force: true });
}

/**
 * Leftovers of interrupted saves in a checkpoint directory, seen at a job's start (and after each
 * save): temporary directories of a process that is gone are removed; a re-saved step's old copy
 * moved aside by a save killed between its two renames is put back when the step has no checkpoint.
 * A final-named directory was renamed only once complete, so one whose manifest or file sizes do not
 * match is damaged after the fact: it is set aside with a warning, not deleted.
 */
export function removeCheckpointLeftovers(dir: string, warn: (message: string) => void = stderrWarning): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const tmp = TMP_RE.exec(name);
    if (tmp) {
      const pid = Number(tmp[1]);
      if (pid !== process.pid && !processGone(pid)) continue; // another live job's save in flight
      const step = tmp[2] ? Number(/^\.tmp-ckpt-(\d+)-/.exec(name)![1]) : -1;
      const home = step >= 0 ? join(dir, checkpointDirName(step)) : '';
      if (step >= 0 && !existsSync(home) && readManifest(p, { verifyHashes: true }) !== null) {
        faultPoint(`rename ${p}`);
        renameSync(p, home);
        fsyncDir(dir);
      } else {
        faultPoint(`remove ${p}`);
        rmSync(p, { recursive: true, force: true });
      }
    } else if (DIR_RE.test(name) && readManifest(p) === null) {
      setAside(p, 'its manifest is missing or its files do not match it', warn);
    }
  }
}

/**
 * At a job's start: the leftovers a killed process left anywhere under `root` (a run or output
 * folder): atomicWriteFile's temporary files, and in each checkpoint directory its temporary
 * checkpoint directories (removeCheckpointLeftovers). Only our own naming patterns, only of
 * processes that are gone; a lock file or anything else is left alone.
 */
export function removeJobLeftovers(root: string, warn: (message: string) => void = stderrWarning): void {
  removeStaleTemps(root);
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (entries.some((e) => e.isDirectory() && TMP_RE.test(e.name))) removeCheckpointLeftovers(dir, warn);
    for (const e of entries) if (e.isDirectory() && !TMP_RE.test(e.name)) walk(join(dir, e.name));
  };
  walk(root);
}

/** Rename a damaged checkpoint out of the way (kept for inspection) and say so. */
function setAside(path: string, why: string, warn: (message: string) => void): void {
  const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  faultPoint(`rename ${path}`);
  renameSync(path, aside);
  fsyncDir(resolve(path, '..'));
  warn(`checkpoint ${path} is corrupt (${why}); set aside as ${aside}`);
}

/**
 * The most a training job's checkpoints occupy at once: the kept last and best ones and the one
 * being written, each the model (and the EMA's copy and state when there is one) plus optimizer
 * state of up to two slots per trainable parameter (momentum, second moments), and the final
 * model/ folder.
 */
export function checkpointBytesEstimate(model: ReadonlyMap<string, Tensor>, o: { ema?: boolean; keepLast?: number } = {}): number {
  let all = 0;
  let trainable = 0;
  for (const t of model.values()) {
    const b = t.numel() * DTYPE_BYTES[t.dtype];
    all += b;
    if (t.requiresGrad) trainable += b;
  }
  const one = all * (o.ema ? 3 : 1) + 2 * trainable;
  return one * (Math.max(1, o.keepLast ?? 1) + 2) + all;
}

/** Before training starts: stop unless the disk holding `dir` can take its checkpoints (those already there count as room). */
export function ensureCheckpointSpace(dir: string, model: ReadonlyMap<string, Tensor>, o: { ema?: boolean; keepLast?: number } = {}): void {
  let present = 0;
  for (const c of listCheckpoints(dir)) for (const f of Object.values(c.manifest.files)) present += f.bytes;
  const needed = Math.max(0, checkpointBytesEstimate(model, o) - present);
  let modelBytes = 0;
  for (const t of model.values()) modelBytes += t.numel() * DTYPE_BYTES[t.dtype];
  ensureFreeSpace(dir, needed, `checkpoints of a ${formatBytes(modelBytes)} model (the last and best kept, one being written, and model/)`);
}

export interface LoadCheckpointOptions {
  /** When `path` is a directory of checkpoints: 'last' (default) or 'best' (needs bestMetric). */
  which?: 'last' | 'best';
  bestMetric?: string;
  mode?: 'max' | 'min';
  /** Restore into these (each optional). Their parameter names/groups must match the saved ones. */
  optimizer?: Optimizer<BaseHyper>;
  ema?: ModelEma;
  scheduler?: Scheduler;
  generators?: Readonly<Record<string, Generator>>;
  /** Refuse a checkpoint written under another config. */
  expectConfigHash?: string;
  /** Check the SHA-256 of every file against the manifest (default true). */
  verifyHashes?: boolean;
  /** Told when a corrupt checkpoint is set aside and an earlier one used instead (default: stderr). */
  onWarning?: (message: string) => void;
}

export interface LoadedCheckpoint {
  path: string;
  step: number;
  epoch: number;
  /** The model tensors (timm keys); owned by the caller, who loads them into a model and disposes them. */
  model: Map<string, Tensor>;
  dataPosition: Json;
  metrics: Record<string, number>;
  configHash: string | null;
  extra: Json;
  meta: TrainStateMeta;
}

/**
 * Load a checkpoint — `path` is either one checkpoint (ckpt-<step>) or a directory of them — and
 * restore optimizer, EMA, scheduler and generator states into the objects given. Returns null when
 * a directory holds no complete checkpoint (a fresh run). In a directory, the leftovers of a killed
 * save are cleaned first, and a corrupt latest (or best) checkpoint is set aside with a warning and
 * the previous complete one loaded instead.
 */
export function loadCheckpoint(path: string, opts: LoadCheckpointOptions = {}): LoadedCheckpoint | null {
  path = resolve(path);
  const verifyHashes = opts.verifyHashes ?? true;
  const warn = opts.onWarning ?? stderrWarning;
  let ckpt: string;
  let manifest: CheckpointManifest | null;
  if (existsSync(join(path, MANIFEST))) {
    ckpt = path;
    manifest = readManifest(ckpt, { verifyHashes });
    if (manifest === null)
      throw new Error(
        `loadCheckpoint: ${ckpt} is incomplete or corrupt (its files do not match its manifest); give its directory to fall back to an earlier checkpoint`,
      );
  } else {
    removeCheckpointLeftovers(path, warn);
    for (;;) {
      const info = opts.which === 'best' ? bestCheckpoint(path, opts.bestMetric ?? 'top1', opts.mode ?? 'max') : latestCheckpoint(path);
      if (info === null) return null;
      manifest = readManifest(info.path, { verifyHashes });
      if (manifest !== null) {
        ckpt = info.path;
        break;
      }
      setAside(info.path, 'its files do not match the SHA-256 in its manifest; resuming from the previous complete one', warn);
    }
  }
  if (opts.expectConfigHash !== undefined && manifest.configHash !== opts.expectConfigHash) {
    throw new Error(
      `loadCheckpoint: ${ckpt} was written with config ${manifest.configHash}, this run's config is ${opts.expectConfigHash}`,
    );
  }

  const state = loadSafetensors(join(ckpt, STATE_FILE));
  try {
    const rawMeta = state.metadata[STATE_META_KEY];
    if (rawMeta === undefined) throw new Error(`loadCheckpoint: ${STATE_FILE} in ${ckpt} has no ${STATE_META_KEY} metadata`);
    const meta = JSON.parse(rawMeta) as TrainStateMeta;
    const pick = (prefix: string): Map<string, Tensor> => {
      const m = new Map<string, Tensor>();
      for (const [k, t] of state.tensors) if (k.startsWith(prefix)) m.set(k.slice(prefix.length), t);
      return m;
    };
    if (opts.optimizer) {
      if (meta.optimizer === null) throw new Error(`loadCheckpoint: ${ckpt} has no optimizer state`);
      opts.optimizer.loadStateDict({ tensors: pick('optimizer.'), scalars: meta.optimizer });
    }
    if (opts.ema) {
      if (meta.ema === null) throw new Error(`loadCheckpoint: ${ckpt} has no EMA state`);
      opts.ema.loadStateDict(pick('ema.'), meta.ema);
    }
    if (opts.scheduler) {
      if (meta.scheduler === null) throw new Error(`loadCheckpoint: ${ckpt} has no scheduler state`);
      opts.scheduler.loadStateDict(meta.scheduler);
    }
    for (const [name, g] of Object.entries(opts.generators ?? {})) {
      const s = state.tensors.get(`rng.${name}`);
      if (s === undefined) throw new Error(`loadCheckpoint: ${ckpt} has no state for generator "${name}"`);
      g.setState(s);
    }
    const model = loadSafetensors(join(ckpt, MODEL_FILE)).tensors;
    return {
      path: ckpt,
      step: meta.step,
      epoch: meta.epoch,
      model,
      dataPosition: meta.dataPosition,
      metrics: meta.metrics,
      configHash: meta.configHash,
      extra: meta.extra,
      meta,
    };
  } finally {
    for (const t of state.tensors.values()) t.dispose();
  }
}
