// `run --ablate noise,soft,warm-start,ratio=N`: variants of the run's config that each change one
// thing about the students, trained beside the main students in the same run folder. The teacher,
// pseudo-label and filter stages are keyed by content (run_plan.ts), and no variant changes what
// they depend on, so a variant finds them finished and trains only its own students.
import { generationStudent, resolveNoisyStudentConfig, type NoisyStudentConfig } from './config.js';

export interface Ablation {
  /** The variant's name as given (`noise`, `soft`, `warm-start`, `ratio=1`): its folder under ablations/. */
  readonly name: string;
  /** What it changes, for the report. */
  readonly label: string;
  readonly apply: (cfg: NoisyStudentConfig) => NoisyStudentConfig;
}

export const ABLATION_NAMES = ['noise', 'soft', 'warm-start', 'ratio=N'] as const;

const refuse = (name: string, why: string): never => {
  throw new Error(`--ablate ${name}: ${why}, so the variant would be the main run`);
};

const variant = (cfg: NoisyStudentConfig, change: (input: Record<string, unknown>) => void): NoisyStudentConfig => {
  const input = structuredClone(cfg) as unknown as Record<string, unknown>;
  // A variant shares the main run's oracle (the ceiling is the same experiment's): it trains none.
  input['oracle'] = false;
  change(input);
  return resolveNoisyStudentConfig(input);
};

function ablation(name: string): Ablation {
  if (name === 'noise')
    return {
      name,
      label: 'no noise',
      apply: (cfg) => {
        if (!cfg.student.noise) refuse(name, 'the students already train without noise');
        return variant(cfg, (c) => ((c['student'] as Record<string, unknown>)['noise'] = false));
      },
    };
  if (name === 'soft')
    return {
      name,
      label: 'soft pseudo-labels',
      apply: (cfg) => {
        if (cfg.pseudoLabel.kind === 'soft') refuse(name, 'the pseudo-labels are already soft');
        return variant(cfg, (c) => ((c['pseudoLabel'] as Record<string, unknown>)['kind'] = 'soft'));
      },
    };
  if (name === 'warm-start')
    return {
      name,
      label: 'students from scratch',
      apply: (cfg) => {
        if (!cfg.students.some((_, g) => generationStudent(cfg, g).warmStart)) refuse(name, 'no student warm-starts');
        return variant(cfg, (c) => {
          (c['student'] as Record<string, unknown>)['warmStart'] = false;
          c['students'] = cfg.students.map((e) => (typeof e === 'string' ? e : { ...e, warmStart: false }));
        });
      },
    };
  const m = /^ratio=(.+)$/.exec(name);
  if (m) {
    const r = Number(m[1]);
    if (!(Number.isFinite(r) && r > 0)) throw new Error(`--ablate ${name}: the ratio must be a positive number, e.g. ratio=1`);
    return {
      name: `ratio=${r}`,
      label: `ratio ${r}`,
      apply: (cfg) => {
        if (cfg.student.ratio === r) refuse(name, `the students already use ratio ${r}`);
        return variant(cfg, (c) => ((c['student'] as Record<string, unknown>)['ratio'] = r));
      },
    };
  }
  throw new Error(`unknown ablation "${name}"; valid: ${ABLATION_NAMES.join(', ')} (comma-separated, e.g. noise,soft,ratio=1)`);
}

/** `noise,soft,ratio=1` -> the ablations, in order; an unknown or repeated name is an error naming the valid ones. */
export function parseAblations(list: string): Ablation[] {
  const names = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new Error(`--ablate needs at least one of: ${ABLATION_NAMES.join(', ')}`);
  const out = names.map(ablation);
  const seen = new Set<string>();
  for (const a of out) {
    if (seen.has(a.name)) throw new Error(`--ablate lists ${a.name} twice`);
    seen.add(a.name);
  }
  return out;
}
