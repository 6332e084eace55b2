// The Noisy Student loop: train a teacher on labeled images; label the unlabeled ones with the
// un-noised teacher; filter and balance; train an equal-or-larger noised student on both; the
// student becomes the next teacher. Every stage leaves its artifacts in the run directory and is
// skipped (or resumed) when the same command runs again.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DataLoader } from '../data/index.js';
import { evaluate, loaderBatches, type EvalResult } from '../train/index.js';
import { resolveTrainConfig, trainClassifier } from '../jobs/train_classifier.js';
import { atomicWriteJson } from '../util/atomic_write.js';
import { withElapsed } from '../util/elapsed.js';
import { evaluateModelDir, filterStage, pseudoLabel, pseudoLabelDir, stage, trainStudent, configHash } from './stages.js';
import { writeRunReport } from './run_report.js';
import { createModel } from '../models/index.js';
import { generationStudent, studentTrainingKey, type NoisyStudentConfig } from './config.js';
import { resolveRunData } from './run_data.js';

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
  config: NoisyStudentConfig;
  seconds: Record<string, number>;
}

export interface RunHooks {
  log?: (line: string) => void;
  onStep?: (p: {
    stage: string;
    epoch: number;
    epochs: number;
    batch: number;
    batches: number;
    loss: number;
    samples: number;
    seconds: number;
  }) => void;
  onEpochEnd?: () => void;
}

interface History {
  epoch: number;
  trainLoss: number;
  eval: EvalResult | null;
}

export async function runNoisyStudent(cfg: NoisyStudentConfig, out: string, hooks: RunHooks = {}): Promise<Summary> {
  const log = hooks.log ?? (() => {});
  type StepReport = Omit<Parameters<NonNullable<RunHooks['onStep']>>[0], 'stage' | 'epochs'>;
  const stepHook =
    (stage: string, epochs: number) =>
    (p: StepReport): void =>
      hooks.onStep?.({
        stage,
        epochs,
        epoch: p.epoch,
        batch: p.batch,
        batches: p.batches,
        loss: p.loss,
        samples: p.samples,
        seconds: p.seconds,
      });
  mkdirSync(out, { recursive: true });
  atomicWriteJson(join(out, 'config.json'), cfg);
  const seconds: Record<string, number> = {};

  // ---------------------------------------------------------------- data
  const { classes, labeled, unlabeled, trueLabel, test, curveSet, dataConfig, inChans, imgSize } = resolveRunData(cfg);
  const numClasses = classes.length;
  log(
    `labeled ${labeled.length} images, unlabeled ${unlabeled.length}, test ${test.length}; ${numClasses} classes; input ${inChans}x${imgSize}x${imgSize}`,
  );

  // ---------------------------------------------------------------- teacher
  const t = cfg.teacher;
  const teacherDir = join(out, 'teacher');
  const teacherStage = await stage(
    teacherDir,
    configHash({ t, l: cfg.labeled, seed: cfg.seed, inChans, imgSize, test: cfg.test }),
    async () => {
      let modelDir: string;
      let history: History[] = [];
      if (t.checkpoint || t.pretrained) {
        if (!t.checkpoint)
          throw new Error('teacher.pretrained needs a checkpoint path for the data set classes (or leave it out to train one)');
        modelDir = t.checkpoint;
      } else {
        log(`teacher: training ${t.model} on ${labeled.length} labeled images`);
        const r = await trainClassifier(
          resolveTrainConfig(
            {},
            {
              model: t.model,
              data: cfg.labeled.data,
              ...(cfg.labeled.perClass ? { labelsPerClass: cfg.labeled.perClass } : {}),
              valLimit: cfg.curveEvalLimit,
              ...(cfg.test.data !== 'default' ? { valData: cfg.test.data } : {}),
              inChans,
              imgSize,
              ...t.train,
              seed: cfg.seed,
              workers: cfg.workers,
              output: join(teacherDir, 'train'),
              resume: true,
              checkpointEvery: 200,
            },
          ),
          {
            log,
            onStep: stepHook('teacher', t.train.epochs),
            onEpoch: () => hooks.onEpochEnd?.(),
          },
        );
        modelDir = r.modelDir;
        history = r.fit.history;
      }
      const ev = await evaluateModelDir(t.model, modelDir, test, dataConfig, cfg.workers);
      return { modelDir, history, eval: ev };
    },
  );
  seconds['teacher'] = teacherStage.seconds;
  const teacherScore: ModelScore = { model: t.model, top1: teacherStage.result.eval.top1, top5: teacherStage.result.eval.top5 };
  log(`teacher ${t.model}: top1 ${pct(teacherScore.top1)} top5 ${pct(teacherScore.top5)}${teacherStage.skipped ? ' (done before)' : ''}`);

  // ---------------------------------------------------------------- generations
  const summaryGens: Summary['generations'] = [];
  let teacherModel = t.model;
  let teacherModelDir = teacherStage.result.modelDir;
  let prevScore = teacherScore;

  for (let g = 0; g < cfg.students.length; g++) {
    const genDir = join(out, `gen-${g + 1}`);
    const { model: studentModel, ...genStudent } = generationStudent(cfg, g);
    const genCfg: NoisyStudentConfig = { ...cfg, student: genStudent };
    // Pseudo-labels from the un-noised teacher (shards on disk are reused).
    log(`generation ${g + 1}: pseudo-labelling ${unlabeled.length} images with ${teacherModel}`);
    const plDir = pseudoLabelDir(genDir, teacherModelDir, cfg.pseudoLabel.topk);
    // Time summed over attempts (shards already on disk make a rerun nearly free).
    const { result: pl, seconds: plSeconds } = await withElapsed(join(plDir, 'elapsed.json'), async () => {
      const teacher = await createModel(teacherModel, { checkpointPath: teacherModelDir });
      return pseudoLabel(teacher, unlabeled, dataConfig, {
        dir: plDir,
        shardSize: cfg.pseudoLabel.shardSize,
        ...(cfg.pseudoLabel.topk !== undefined ? { topk: cfg.pseudoLabel.topk } : {}),
        inputsKey: configHash({ labeled: cfg.labeled, unlabeled: cfg.unlabeled, seed: cfg.seed }),
        batchSize: cfg.pseudoLabel.batchSize,
        workers: cfg.workers,
      }).finally(() => teacher.dispose());
    });
    seconds[`gen${g + 1}.pseudoLabel`] = plSeconds;
    if (pl.failed.length)
      log(`  ${pl.failed.length} unlabeled images could not be read and were skipped (first: ${pl.failed[0]!.message})`);
    const { result: sel, accuracy } = filterStage(pl, cfg, trueLabel);
    atomicWriteJson(join(genDir, 'filter', 'stats.json'), { stats: sel.stats, accuracy });
    log(
      `  kept ${sel.stats.kept} (${sel.stats.uniqueKept} unique) of ${sel.stats.images} at threshold ${cfg.pseudoLabel.threshold}` +
        (accuracy
          ? `; pseudo-label accuracy ${pct(accuracy.overall.accuracy ?? 0)} overall, ${pct(accuracy.balanced?.accuracy ?? 0)} after balancing`
          : ''),
    );
    // The student.
    const studentDir = join(genDir, 'student');
    const st = await stage(
      studentDir,
      configHash({
        studentModel,
        s: studentTrainingKey(genStudent),
        pl: cfg.pseudoLabel,
        teacher: teacherModelDir,
        seed: cfg.seed,
        n: sel.ids.length,
      }),
      async () => {
        log(
          `  student ${studentModel}${genStudent.noise ? ' with noise' : ' WITHOUT noise'}${genStudent.warmStart ? ` warm-started from ${teacherModel}` : ' from scratch'}: ` +
            `${genStudent.train.epochs} epochs over ${sel.ids.length} pseudo-labeled images`,
        );
        const r = await trainStudent(studentModel, {
          dir: studentDir,
          cfg: genCfg,
          labeled,
          unlabeled,
          pseudo: pl,
          selectionIds: sel.ids,
          dataConfig,
          inChans,
          numClasses,
          ...(genStudent.warmStart ? { warmStartFrom: teacherModelDir } : {}),
          validate: async (m) => {
            const l = new DataLoader(curveSet, { batchSize: 256, transform: { config: dataConfig } });
            m.eval();
            try {
              return await evaluate(m, loaderBatches(l)(0, 0));
            } finally {
              await l.close();
            }
          },
          onStep: stepHook(`student ${g + 1}`, genStudent.train.epochs),
          onEpoch: () => hooks.onEpochEnd?.(),
        });
        const ev = await evaluateModelDir(studentModel, r.modelDir, test, dataConfig, cfg.workers);
        return { modelDir: r.modelDir, history: r.history, eval: ev };
      },
    );
    seconds[`gen${g + 1}.student`] = st.seconds;
    const score: ModelScore = { model: studentModel, top1: st.result.eval.top1, top5: st.result.eval.top5 };
    log(
      `  student ${studentModel}: top1 ${pct(score.top1)} top5 ${pct(score.top5)} (teacher ${pct(prevScore.top1)})${st.skipped ? ' (done before)' : ''}`,
    );
    summaryGens.push({
      student: score,
      pseudoLabels: {
        kept: sel.stats.kept,
        uniqueKept: sel.stats.uniqueKept,
        accuracy: accuracy?.overall.accuracy ?? null,
        balancedAccuracy: accuracy?.balanced?.accuracy ?? null,
        threshold: cfg.pseudoLabel.threshold,
      },
    });
    teacherModel = studentModel;
    teacherModelDir = st.result.modelDir;
    prevScore = score;
  }

  const summary: Summary = { teacher: teacherScore, generations: summaryGens, config: cfg, seconds };
  atomicWriteJson(join(out, 'summary.json'), summary);

  // ---------------------------------------------------------------- report
  await writeRunReport(out);
  return summary;
}

function pct(v: number): string {
  return `${(v * 100).toFixed(2)}%`;
}
