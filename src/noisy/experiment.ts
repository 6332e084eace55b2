// `run --seeds 0,1,2` and `run --ablate ...`: the same config once per seed, each into DIR/seed-<n>/
// (a run folder like any other: resumable, reportable), each with its ablation variants beside its
// main students; then DIR/seeds.json (every figure per seed and as mean ± sample sd, gains and
// margins as paired same-seed differences) and DIR/report.html with the spread shown as error bars.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readArtifact, writeArtifact } from './artifacts/format.js';
import { readAblations } from './run_dir.js';
import { isWriterRank } from '../distributed/index.js';
import type { Ablation } from './ablations.js';
import type { NoisyStudentConfig } from './config.js';
import { runNoisyStudent, type RunOptions, type Summary } from './pipeline.js';
import { writeRunReport } from './run_report.js';
import { gapClosed, pairedSpread, spread, type Spread } from './stats.js';
import { writeSeedsReport } from './seeds_report.js';

export interface ExperimentOptions extends RunOptions {
  /** Run once per seed into DIR/seed-<n>/ and aggregate; without it, one run into DIR. */
  seeds?: readonly number[];
  ablations?: readonly Ablation[];
}

export interface SeedRun {
  seed: number;
  /** Relative to the experiment folder ('.' for a single run). */
  dir: string;
  summary: Summary;
  /** The ablation variants' summaries, in the order asked for. */
  ablations: Summary[];
}

export const seedDir = (dir: string, seed: number): string => join(dir, `seed-${seed}`);

/** `0,1,2` -> [0, 1, 2]: distinct non-negative integers. */
export function parseSeeds(list: string): number[] {
  const parts = list.split(',').map((s) => s.trim());
  const seeds = parts.map((p) => {
    if (!/^\d+$/.test(p)) throw new Error(`--seeds: "${p}" is not a non-negative integer (give e.g. 0,1,2)`);
    return Number(p);
  });
  if (new Set(seeds).size !== seeds.length) throw new Error(`--seeds lists a seed twice: ${list}`);
  return seeds;
}

/** One run folder: the main config, then each ablation variant beside it, then its report. */
async function runOne(cfg: NoisyStudentConfig, dir: string, o: ExperimentOptions, rel: string): Promise<SeedRun> {
  const { seeds: _s, ablations = [], ...runOptions } = o;
  const summary = await runNoisyStudent(cfg, dir, runOptions);
  const variants: Summary[] = [];
  for (const a of ablations) {
    o.log?.(`ablation ${a.name} (${a.label}), seed ${cfg.seed}`);
    variants.push(await runNoisyStudent(a.apply(cfg), dir, { ...runOptions, variant: a.name }));
  }
  if (ablations.length) await writeRunReport(dir);
  return { seed: cfg.seed, dir: rel, summary, ablations: variants };
}

export async function runExperiment(cfg: NoisyStudentConfig, dir: string, o: ExperimentOptions = {}): Promise<SeedRun[]> {
  // Every variant is checked before anything trains: a bad one should not wait for a teacher.
  for (const a of o.ablations ?? []) a.apply(cfg);
  if (!o.seeds) return [await runOne(cfg, dir, o, '.')];
  const runs: SeedRun[] = [];
  for (const seed of o.seeds) {
    o.log?.(`seed ${seed}: ${seedDir(dir, seed)}`);
    runs.push(await runOne({ ...cfg, seed }, seedDir(dir, seed), o, `seed-${seed}`));
  }
  const agg = aggregateSeeds(runs);
  // Every rank of a launched experiment aggregates; rank 0 writes.
  if (isWriterRank()) {
    writeArtifact(join(dir, 'seeds.json'), 'seeds', agg);
    await writeSeedsReport(dir, agg);
  }
  return runs;
}

export interface ScorePair {
  top1: number;
  top5: number;
}

export interface SeedRow {
  seed: number;
  dir: string;
  teacher: ScorePair;
  generations: {
    student: ScorePair;
    /** Student − the first teacher, and − its own teacher (top-1). */
    gain: number;
    gainVsTeacher: number;
    pseudoLabels: { kept: number; uniqueKept: number; accuracy: number | null; balancedAccuracy: number | null };
  }[];
  /** The final student's top-1 gain over the first teacher. */
  gain: number;
  oracle: ScorePair | null;
  gapClosed: number | null;
  ablations: Record<string, { student: ScorePair; gain: number; margin: number }>;
}

export interface Aggregate {
  seeds: number[];
  runs: SeedRow[];
  mean: {
    teacher: { top1: Spread; top5: Spread };
    generations: {
      student: { top1: Spread; top5: Spread };
      gain: Spread;
      gainVsTeacher: Spread;
      pseudoLabels: { kept: Spread; uniqueKept: Spread; accuracy: Spread | null; balancedAccuracy: Spread | null };
    }[];
    gain: Spread;
    oracle: { top1: Spread; top5: Spread; gap: Spread } | null;
    gapClosed: {
      /** Over the seeds where it is defined (the oracle beats the teacher). */
      perSeed: Spread | null;
      undefinedSeeds: number[];
      /** From the mean top-1s: (student − teacher) / (oracle − teacher). */
      ofMeans: number | null;
    } | null;
    ablations: {
      name: string;
      top1: Spread;
      top5: Spread;
      /** Variant − first teacher (paired). */
      gain: Spread;
      /** Main final student − variant final student (paired): what the ablated thing is worth. */
      margin: Spread;
      /** Seeds on which the main student beats the variant. */
      mainWins: number;
    }[];
  };
  config: NoisyStudentConfig;
}

const pair = (s: { top1: number; top5: number }): ScorePair => ({ top1: s.top1, top5: s.top5 });

/** seeds.json from the runs: every figure per seed and as mean ± sample sd; gains and margins paired by seed. */
export function aggregateSeeds(runs: readonly SeedRun[]): Aggregate {
  if (runs.length === 0) throw new RangeError('aggregateSeeds: no runs');
  const G = runs[0]!.summary.generations.length;
  for (const r of runs)
    if (r.summary.generations.length !== G)
      throw new Error(`seed ${r.seed} finished ${r.summary.generations.length} generations, seed ${runs[0]!.seed} ${G}`);
  const names = runs[0]!.ablations.map((a) => a.ablation ?? '?');
  const rows: SeedRow[] = runs.map((r) => {
    const s = r.summary;
    const t = s.teacher.top1;
    const final = s.generations[G - 1]!.student.top1;
    const ablations: SeedRow['ablations'] = {};
    for (const a of r.ablations) {
      const af = a.generations[a.generations.length - 1]!.student;
      ablations[a.ablation ?? '?'] = { student: pair(af), gain: af.top1 - t, margin: final - af.top1 };
    }
    return {
      seed: r.seed,
      dir: r.dir,
      teacher: pair(s.teacher),
      generations: s.generations.map((g, i) => ({
        student: pair(g.student),
        gain: g.student.top1 - t,
        gainVsTeacher: g.student.top1 - (i === 0 ? t : s.generations[i - 1]!.student.top1),
        pseudoLabels: {
          kept: g.pseudoLabels.kept,
          uniqueKept: g.pseudoLabels.uniqueKept,
          accuracy: g.pseudoLabels.accuracy,
          balancedAccuracy: g.pseudoLabels.balancedAccuracy,
        },
      })),
      gain: final - t,
      oracle: s.oracle ? pair(s.oracle) : null,
      gapClosed: s.oracle ? gapClosed(final, t, s.oracle.top1) : null,
      ablations,
    };
  });
  const col = (f: (r: SeedRow) => number): number[] => rows.map(f);
  const maybe = (f: (r: SeedRow) => number | null): Spread | null => {
    const v = rows.map(f);
    return v.every((x): x is number => x !== null) ? spread(v) : null;
  };
  const teacher1 = col((r) => r.teacher.top1);
  const final1 = col((r) => r.generations[G - 1]!.student.top1);
  const withOracle = rows.every((r) => r.oracle !== null);
  let oracle: Aggregate['mean']['oracle'] = null;
  let gap: Aggregate['mean']['gapClosed'] = null;
  if (withOracle) {
    const o1 = col((r) => r.oracle!.top1);
    oracle = { top1: spread(o1), top5: spread(col((r) => r.oracle!.top5)), gap: pairedSpread(o1, teacher1) };
    const defined = rows.filter((r) => r.gapClosed !== null);
    const [mt, ms, mo] = [spread(teacher1).mean, spread(final1).mean, spread(o1).mean];
    gap = {
      perSeed: defined.length ? spread(defined.map((r) => r.gapClosed!)) : null,
      undefinedSeeds: rows.filter((r) => r.gapClosed === null).map((r) => r.seed),
      ofMeans: gapClosed(ms, mt, mo),
    };
  }
  for (const r of rows) for (const n of names) if (!r.ablations[n]) throw new Error(`seed ${r.seed} has no finished ablation ${n}`);
  return {
    seeds: runs.map((r) => r.seed),
    runs: rows,
    mean: {
      teacher: { top1: spread(teacher1), top5: spread(col((r) => r.teacher.top5)) },
      generations: Array.from({ length: G }, (_, g) => ({
        student: { top1: spread(col((r) => r.generations[g]!.student.top1)), top5: spread(col((r) => r.generations[g]!.student.top5)) },
        gain: pairedSpread(
          col((r) => r.generations[g]!.student.top1),
          teacher1,
        ),
        gainVsTeacher: spread(col((r) => r.generations[g]!.gainVsTeacher)),
        pseudoLabels: {
          kept: spread(col((r) => r.generations[g]!.pseudoLabels.kept)),
          uniqueKept: spread(col((r) => r.generations[g]!.pseudoLabels.uniqueKept)),
          accuracy: maybe((r) => r.generations[g]!.pseudoLabels.accuracy),
          balancedAccuracy: maybe((r) => r.generations[g]!.pseudoLabels.balancedAccuracy),
        },
      })),
      gain: pairedSpread(final1, teacher1),
      oracle,
      gapClosed: gap,
      ablations: names.map((n) => {
        const v1 = col((r) => r.ablations[n]!.student.top1);
        return {
          name: n,
          top1: spread(v1),
          top5: spread(col((r) => r.ablations[n]!.student.top5)),
          gain: pairedSpread(v1, teacher1),
          margin: pairedSpread(final1, v1),
          mainWins: rows.filter((r) => r.ablations[n]!.margin > 0).length,
        };
      }),
    },
    config: runs[0]!.summary.config,
  };
}

/** Whether `dir` is an experiment over seeds (a seeds.json, or seed-<n>/ run folders and no config.json of its own). */
export function isSeedsDir(dir: string): boolean {
  if (existsSync(join(dir, 'seeds.json'))) return true;
  return !existsSync(join(dir, 'config.json')) && seedFolders(dir).length > 0;
}

const seedFolders = (dir: string): number[] =>
  existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && /^seed-\d+$/.test(e.name) && existsSync(join(dir, e.name, 'config.json')))
        .map((e) => Number(e.name.slice(5)))
        .sort((a, b) => a - b)
    : [];

/**
 * seeds.json and report.html of an experiment again, from its seed folders' summaries: after a
 * seed was rerun or resumed by hand, or for the seeds that have finished so far. Seeds without a
 * summary.json are left out and named; the ablations are the ones seeds.json listed (else those every
 * finished seed has).
 */
export async function rebuildSeeds(dir: string, o: { log?: (line: string) => void } = {}): Promise<{ agg: Aggregate; report: string }> {
  const all = seedFolders(dir);
  if (all.length === 0) throw new Error(`${dir} holds no seed-<n>/ run folders: it is not an experiment over seeds`);
  const finished = all.filter((s) => existsSync(join(seedDir(dir, s), 'summary.json')));
  const missing = all.filter((s) => !finished.includes(s));
  if (finished.length === 0)
    throw new Error(`${dir}: no seed has finished yet (no seed-<n>/summary.json); run the experiment again to finish them`);
  if (missing.length) o.log?.(`seeds ${missing.join(', ')} have not finished (no summary.json) and are left out`);
  const before = existsSync(join(dir, 'seeds.json'))
    ? readArtifact<Aggregate>(join(dir, 'seeds.json'), 'seeds', 'delete it and run report again')
    : null;
  const runs: SeedRun[] = finished.map((seed) => {
    const d = seedDir(dir, seed);
    const summary = readArtifact<Summary>(join(d, 'summary.json'), 'summary', `delete ${d}/summary.json and run the experiment again`);
    return { seed, dir: `seed-${seed}`, summary, ablations: readAblations(d) };
  });
  const names =
    before?.mean.ablations.map((a) => a.name) ??
    runs.map((r) => r.ablations.map((a) => a.ablation ?? '?')).reduce((common, n) => common.filter((x) => n.includes(x)));
  for (const r of runs) {
    const by = new Map(r.ablations.map((a) => [a.ablation ?? '?', a]));
    const lacking = names.filter((n) => !by.has(n));
    if (lacking.length)
      throw new Error(`seed ${r.seed} has no finished ablation ${lacking.join(', ')}: run the experiment again to finish it`);
    r.ablations = names.map((n) => by.get(n)!);
  }
  const agg = aggregateSeeds(runs);
  writeArtifact(join(dir, 'seeds.json'), 'seeds', agg);
  return { agg, report: await writeSeedsReport(dir, agg) };
}
