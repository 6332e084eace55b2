// The Noisy Student loop: train a teacher on labeled images; label the unlabeled ones with the
// un-noised teacher; filter and balance; train an equal-or-larger noised student on both; the
// student becomes the next teacher. Every stage writes the same artifacts as its stage command,
// into a folder named by the key of its inputs (run_plan.ts), and is skipped (or resumed) when the
// same command runs again, also after the run folder was moved.
import { existsSync, mkdirSync } from 'node:fs';
import { readPseudoLabels } from './artifacts/pseudo_labels.js';
import { join } from 'node:path';
import { createModel, type InferenceModel } from '../models/index.js';
import { calibrationFromDataset } from '../backends/index.js';
import { inferenceDataConfig, removeJobLeftovers, type ProgressListener } from '../train/index.js';
import { withElapsed } from '../util/elapsed.js';
import { acquireRankJobLock, type RankJobLock } from '../distributed/job_lock.js';
import { generationStudent, type NoisyStudentConfig } from './config.js';
import { pseudoLabelAccuracy } from './filter.js';
import { resolveRunData } from './run_data.js';
import { generationDir, pseudoLabelStageDir, runFilterSettings } from './run_plan.js';
import {
  filterStage,
  filterStageDir,
  openPseudoLabelTeacher,
  pseudoLabel,
  studentStage,
  teacherStage,
  weightsFingerprint,
} from './stages/index.js';
import { writeArtifact } from './artifacts/format.js';
import { checkVariantOf, claimRunDir } from './run_dir.js';
import { oracleStage, type OracleBudget } from './stages/oracle.js';
import { atomicWriteJson } from '../util/atomic_write.js';
import { SkipReport, type SampleError } from '../data/index.js';
import { writeRunReport } from './run_report.js';

export interface ModelScore {
  model: string;
  top1: number;
  top5: number;
}

export interface Summary {
  teacher: ModelScore;
  generations: {
    student: ModelScore;
    pseudoLabels: { kept: number; uniqueKept: number; accuracy: number | null; balancedAccuracy: number | null; threshold: number };
  }[];
  /** The ceiling (config `oracle: true`): the final student's architecture and budget on all true labels. */
  oracle?: ModelScore & { budget: OracleBudget };
  /** Set in an ablation's summary (RUN/ablations/<name>/summary.json): the variant's name. */
  ablation?: string;
  config: NoisyStudentConfig;
  seconds: Record<string, number>;
}

export interface RunOptions {
  log?: (line: string) => void;
  /** Progress of every stage (training steps and epochs, images labelled, evaluation). */
  onEvent?: ProgressListener;
  signal?: AbortSignal;
  /** Where the models train and run: cpu or cuda[:N]. Not part of any key. */
  device?: string;
  /**
   * Run `cfg` as the ablation `variant` of the run in `out`: its stages go into `out` beside the
   * main run's (finished ones, keyed by content, are reused), its config.json and summary.json into
   * out/ablations/<variant>/, and out's own config.json, summary and report are left alone.
   */
  variant?: string;
}

/** Where an ablation's config.json and summary.json go. */
export const ablationDir = (runDir: string, name: string): string => join(runDir, 'ablations', name);

export async function runNoisyStudent(cfg: NoisyStudentConfig, out: string, o: RunOptions = {}): Promise<Summary> {
  // The run holds the one lock of its folder (its stages run inside it and take none), before config.json is looked at.
  // Under a launcher rank 0 holds it and writes the run's files; every rank runs the stages.
  const lock = await acquireRankJobLock(out, `run --output ${out}`);
  try {
    return await runLocked(cfg, out, o, lock);
  } finally {
    lock.release();
  }
}

async function runLocked(cfg: NoisyStudentConfig, out: string, o: RunOptions, lock: RankJobLock): Promise<Summary> {
  const log = o.log ?? (() => {});
  // config.json is replaced only by a config of the same run (run_dir.ts); other data is refused.
  // A variant's goes into its own folder, after the same check against the main run's.
  const recordDir = o.variant !== undefined ? ablationDir(out, o.variant) : out;
  // Under a launcher, rank 0 checks and claims the folder; the other ranks start once it has.
  if (lock.isWriter) {
    if (o.variant !== undefined) {
      checkVariantOf(out, cfg);
      mkdirSync(recordDir, { recursive: true });
      atomicWriteJson(join(recordDir, 'config.json'), cfg);
    } else claimRunDir(out, cfg);
    // A killed run's temporary files and checkpoint folders go before anything else is written.
    removeJobLeftovers(out);
  }
  await lock.ready();
  const seconds: Record<string, number> = {};
  const data = resolveRunData(cfg);
  const { classes, labeled, unlabeled, test } = data;
  log(
    `labeled ${labeled.dataset.length} images, unlabeled ${unlabeled.dataset.length}, test ${test.dataset.length}; ${classes.length} classes`,
  );
  for (const note of data.notes) log(`warning: ${note}`);
  // The oracle trains on the unlabeled images' true labels: say now, not after the students, that there are none.
  if (cfg.oracle && !data.unlabeled.trueLabel)
    throw new Error(
      `oracle: the unlabeled images (${cfg.unlabeled.data}) have no true labels to train it on; it needs unlabeled 'rest' (the rest of a labeled set)`,
    );
  // Unreadable images of every stage, once each in OUTPUT/skipped.jsonl; past cfg.maxSkipped the run stops.
  const skips = new SkipReport({
    total: labeled.dataset.length + unlabeled.dataset.length + test.dataset.length,
    maxSkipped: cfg.maxSkipped,
    dir: lock.isWriter ? out : null,
    resume: true,
    option: 'maxSkipped',
  });
  const onSampleError = (e: SampleError, set: string): void => skips.add(e, set);

  const t = await teacherStage(out, cfg, data, { device: o.device, signal: o.signal, onEvent: o.onEvent, log, onSampleError });
  seconds['teacher'] = t.record.seconds;
  const teacherScore: ModelScore = { model: cfg.teacher.model, top1: t.record.eval.top1, top5: t.record.eval.top5 };
  log(`teacher ${t.record.model}: top1 ${pct(teacherScore.top1)} top5 ${pct(teacherScore.top5)}${t.skipped ? ' (done before)' : ''}`);

  const generations: Summary['generations'] = [];
  let teacher = { model: cfg.teacher.model, weights: t.record.weights, modelDir: t.modelDir };
  let prevScore = teacherScore;
  // The final generation's teacher and pseudo-labeled list: the oracle's warm start and budget.
  let last: { teacher: typeof teacher; unlabeled: number } | null = null;
  for (let g = 0; g < cfg.students.length; g++) {
    const genDir = generationDir(out, g);
    const s = generationStudent(cfg, g);
    log(`generation ${g + 1}: pseudo-labelling ${unlabeled.dataset.length} images with ${teacher.model}`);
    const plDir = pseudoLabelStageDir(genDir, teacher.weights, cfg, data);
    // Time summed over attempts (shards already on disk make a rerun nearly free). A finished set, as
    // an ablation variant or a resume finds it, is read back without loading the teacher: its folder
    // is keyed by the teacher's weights. (Before dropout was keyed per sample this load shifted the
    // global generator, and a resumed run ended with other figures than the straight one: the
    // kill-and-resume test in pipeline.test.ts guards that no stage depends on it any more.)
    const { result: pl, seconds: plSeconds } = await withElapsed(lock.isWriter ? join(plDir, 'elapsed.json') : null, async () => {
      if (existsSync(join(plDir, 'index.json'))) return readPseudoLabels(plDir);
      const model = await createModel(teacher.model, { checkpointPath: teacher.modelDir, ...(o.device ? { device: o.device } : {}) });
      let inf: InferenceModel | null = null;
      try {
        mkdirSync(plDir, { recursive: true });
        inf = await openPseudoLabelTeacher(model, plDir, {
          backend: cfg.pseudoLabel.backend,
          precision: cfg.pseudoLabel.precision,
          batchSize: cfg.pseudoLabel.batchSize,
          onChoice: (c) => log(`pseudo-label ${g + 1}: backend ${c.backend} (${c.precision}), ${c.reason}`),
          calibration:
            cfg.pseudoLabel.precision === 'int8'
              ? calibrationFromDataset(unlabeled.dataset, inferenceDataConfig(model), {
                  images: cfg.pseudoLabel.calibrationImages,
                  describe: { data: 'the unlabeled images' },
                })
              : undefined,
        });
        return await pseudoLabel(inf, unlabeled.dataset, inferenceDataConfig(model), {
          teacherFingerprint: weightsFingerprint(model),
          dir: plDir,
          shardSize: cfg.pseudoLabel.shardSize,
          batchSize: cfg.pseudoLabel.batchSize,
          workers: cfg.workers,
          topk: cfg.pseudoLabel.topk,
          inputs: unlabeled.key,
          signal: o.signal,
          stage: `pseudo-label ${g + 1}`,
          ...(o.onEvent ? { onEvent: o.onEvent } : {}),
          onSampleError: (e) => skips.add(e, 'unlabeled'),
        });
      } finally {
        await inf?.dispose();
        model.dispose();
      }
    });
    seconds[`gen${g + 1}.pseudoLabel`] = plSeconds;
    for (const f of pl.failed) {
      const src = unlabeled.dataset.source(f.id);
      skips.add({ index: f.id, path: src.kind === 'file' ? src.path : null, message: f.message }, 'unlabeled');
    }
    if (pl.failed.length) log(`  ${pl.failed.length} unlabeled images could not be read and were skipped`);
    const settings = runFilterSettings(cfg);
    const sel = filterStage(filterStageDir(genDir, pl.fingerprint, settings), pl, settings);
    const accuracy = unlabeled.trueLabel ? pseudoLabelAccuracy(pl.columns ?? pl.records, unlabeled.trueLabel, sel) : null;
    log(
      `  kept ${sel.stats.kept} (${sel.stats.uniqueKept} unique) of ${sel.stats.images} at threshold ${settings.threshold}` +
        (accuracy
          ? `; pseudo-label accuracy ${pct(accuracy.overall.accuracy ?? 0)} overall, ${pct(accuracy.balanced?.accuracy ?? 0)} after balancing`
          : ''),
    );
    log(
      `  student ${s.model}${s.noise ? ' with noise' : ' WITHOUT noise'}${s.warmStart ? ` warm-started from ${teacher.model}` : ' from scratch'}: ` +
        `${s.train.epochs} epochs over ${sel.ids.length} pseudo-labeled images`,
    );
    const st = await studentStage({
      parent: join(genDir, 'student'),
      student: s,
      pseudoLabel: cfg.pseudoLabel,
      classes,
      labeled,
      unlabeled,
      pseudo: pl,
      selection: sel.selection,
      teacher,
      test,
      curve: data.curve,
      defaults: data.defaults,
      sizes: data.sizes,
      seed: cfg.seed,
      workers: cfg.workers,
      ...(o.device ? { device: o.device } : {}),
      signal: o.signal,
      onEvent: o.onEvent,
      stage: `student ${g + 1}`,
      onSampleError,
    });
    seconds[`gen${g + 1}.student`] = st.record.seconds;
    const score: ModelScore = { model: s.model, top1: st.record.eval.top1, top5: st.record.eval.top5 };
    log(
      `  student ${s.model}: top1 ${pct(score.top1)} top5 ${pct(score.top5)} (teacher ${pct(prevScore.top1)})${st.skipped ? ' (done before)' : ''}`,
    );
    generations.push({
      student: score,
      pseudoLabels: {
        kept: sel.stats.kept,
        uniqueKept: sel.stats.uniqueKept,
        accuracy: accuracy?.overall.accuracy ?? null,
        balancedAccuracy: accuracy?.balanced?.accuracy ?? null,
        threshold: settings.threshold,
      },
    });
    last = { teacher, unlabeled: sel.ids.length };
    teacher = { model: s.model, weights: st.record.weights, modelDir: st.modelDir };
    prevScore = score;
  }

  let oracle: Summary['oracle'];
  if (cfg.oracle && o.variant === undefined && last) {
    const s = generationStudent(cfg, cfg.students.length - 1);
    const r = await oracleStage({
      runDir: out,
      cfg,
      data,
      student: s,
      unlabeledCount: last.unlabeled,
      teacher: last.teacher,
      device: o.device,
      signal: o.signal,
      onEvent: o.onEvent,
      onSampleError,
    });
    const b = r.budget;
    log(
      `oracle ${s.model}: ${b.steps} steps of ${b.batchSize} images over ${b.images} images with true labels: ` +
        `top1 ${pct(r.record.eval.top1)} top5 ${pct(r.record.eval.top5)}${r.skipped ? ' (done before)' : ''}`,
    );
    seconds['oracle'] = r.record.seconds;
    oracle = { model: s.model, top1: r.record.eval.top1, top5: r.record.eval.top5, budget: b };
  }

  const skipped = skips.finish();
  if (skipped) log(skipped);
  const summary: Summary = {
    teacher: teacherScore,
    generations,
    ...(oracle ? { oracle } : {}),
    ...(o.variant !== undefined ? { ablation: o.variant } : {}),
    config: cfg,
    seconds,
  };
  if (lock.isWriter) writeArtifact(join(recordDir, 'summary.json'), 'summary', summary);
  if (lock.isWriter && o.variant === undefined) await writeRunReport(out);
  return summary;
}

function pct(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}
