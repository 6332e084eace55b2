// Learning-rate schedules as pure functions t -> lr (timm's formulas and the EfficientNet / Noisy
// Student TF schedule), and a Scheduler that applies them to an optimizer's groups with timm's call
// convention: step(epoch) at the end of each epoch, stepUpdate(numUpdates) after each optimizer
// update; only the one matching `tInEpochs` changes anything. Pure functions make resume trivial:
// the lr after a restart is a function of the restored step/epoch, nothing else to save.
import type { BaseHyper, Optimizer } from './optim/optimizer.js';

/** A schedule: the lr at time t (an epoch or an update count) for a group whose base lr is baseLr. */
export type LrFn = (t: number, baseLr: number) => number;

export interface WarmupOptions {
  /** Warmup length in t units (0: none). */
  warmupT?: number;
  /** lr at t = 0; rises linearly to the base lr at t = warmupT (timm's warmup_lr_init). */
  warmupLrInit?: number;
  /** Start the decay after warmup (t - warmupT) instead of at t = 0 (timm's warmup_prefix). */
  warmupPrefix?: boolean;
}

function warmupLr(t: number, baseLr: number, w: Required<Pick<WarmupOptions, 'warmupT' | 'warmupLrInit'>>): number {
  return w.warmupLrInit + t * ((baseLr - w.warmupLrInit) / w.warmupT);
}

export interface CosineOptions extends WarmupOptions {
  /** Length of the first cycle. */
  tInitial: number;
  lrMin?: number;
  /** Each cycle is cycleMul times longer than the previous one. */
  cycleMul?: number;
  /** Each cycle's peak is cycleDecay times the previous one's. */
  cycleDecay?: number;
  /** Cycles before the lr stays at lrMin. */
  cycleLimit?: number;
  kDecay?: number;
}

/** timm's CosineLRScheduler (warmup, restarts with cycle length/peak multipliers, k-decay). */
export function cosineLr(o: CosineOptions): LrFn {
  const warmupT = o.warmupT ?? 0;
  const warmupLrInit = o.warmupLrInit ?? 0;
  const lrMin = o.lrMin ?? 0;
  const cycleMul = o.cycleMul ?? 1;
  const cycleDecay = o.cycleDecay ?? 1;
  const cycleLimit = o.cycleLimit ?? 1;
  const k = o.kDecay ?? 1;
  if (!(o.tInitial > 0)) throw new RangeError(`cosineLr: tInitial must be > 0, got ${o.tInitial}`);
  return (t, baseLr) => {
    if (t < warmupT) return warmupLr(t, baseLr, { warmupT, warmupLrInit });
    if (o.warmupPrefix) t -= warmupT;
    let i: number;
    let tI: number;
    let tCurr: number;
    if (cycleMul !== 1) {
      i = Math.floor(Math.log(1 - (t / o.tInitial) * (1 - cycleMul)) / Math.log(cycleMul));
      tI = cycleMul ** i * o.tInitial;
      tCurr = t - ((1 - cycleMul ** i) / (1 - cycleMul)) * o.tInitial;
    } else {
      i = Math.floor(t / o.tInitial);
      tI = o.tInitial;
      tCurr = t - o.tInitial * i;
    }
    if (i >= cycleLimit) return lrMin;
    const lrMax = baseLr * cycleDecay ** i;
    return lrMin + 0.5 * (lrMax - lrMin) * (1 + Math.cos((Math.PI * tCurr ** k) / tI ** k));
  };
}

export interface StepOptions extends WarmupOptions {
  /** Decay period (may be fractional, e.g. 2.4 epochs). */
  decayT: number;
  decayRate?: number;
}

/** timm's StepLRScheduler: base * rate^floor(t / decayT). Warmup prefix defaults to true, as in timm's class. */
export function stepLr(o: StepOptions): LrFn {
  const warmupT = o.warmupT ?? 0;
  const warmupLrInit = o.warmupLrInit ?? 0;
  const rate = o.decayRate ?? 1;
  const prefix = o.warmupPrefix ?? true;
  return (t, baseLr) => {
    if (t < warmupT) return warmupLr(t, baseLr, { warmupT, warmupLrInit });
    if (prefix) t -= warmupT;
    return baseLr * rate ** Math.floor(t / o.decayT);
  };
}

export interface EfficientNetExpOptions {
  /** Updates per epoch; 1 gives the per-epoch form (t counts epochs). */
  stepsPerEpoch: number;
  /** Default 2.4 (4.8 for the 700-epoch runs, train_ratio 2). */
  decayEpochs?: number;
  decayFactor?: number;
  /** Default 5; linear warmup from 0 over int(warmupEpochs * stepsPerEpoch) steps. */
  warmupEpochs?: number;
}

/**
 * The EfficientNet / Noisy Student TF schedule (utils.build_learning_rate, 'exponential'):
 * base * 0.97^floor(step / (stepsPerEpoch * 2.4)) with a linear warmup from 0 over the first 5
 * epochs. The decay counts from step 0 (the warmup overlays it; no prefix). Computed in double
 * precision where TF used float32, which can only matter exactly at a staircase boundary.
 */
export function efficientNetExpLr(o: EfficientNetExpOptions): LrFn {
  const decaySteps = o.stepsPerEpoch * (o.decayEpochs ?? 2.4);
  const factor = o.decayFactor ?? 0.97;
  const warmupEpochs = o.warmupEpochs ?? 5;
  const warmupSteps = Math.trunc(warmupEpochs * o.stepsPerEpoch);
  return (t, baseLr) => {
    if (warmupEpochs && t < warmupSteps) return (baseLr * t) / warmupSteps;
    return baseLr * factor ** Math.floor(t / decaySteps);
  };
}

/** A constant lr (with optional warmup), for fine-tuning runs without decay. */
export function constantLr(o: WarmupOptions = {}): LrFn {
  const warmupT = o.warmupT ?? 0;
  const warmupLrInit = o.warmupLrInit ?? 0;
  return (t, baseLr) => (t < warmupT ? warmupLr(t, baseLr, { warmupT, warmupLrInit }) : baseLr);
}

export type ScheduleName = 'cosine' | 'step' | 'exp' | 'constant';

/**
 * Schedule settings in epochs, as on timm's command line (create_scheduler_v2). With
 * `onUpdates` the epoch counts are multiplied by updatesPerEpoch and the schedule runs per update.
 */
export interface ScheduleConfig {
  sched: ScheduleName;
  epochs: number;
  /** step: decay period in epochs (timm --decay-epochs). exp: default 2.4. */
  decayEpochs?: number;
  /** step: timm --decay-rate (default 0.1). exp: default 0.97. */
  decayRate?: number;
  warmupEpochs?: number;
  /** timm --warmup-lr (default 1e-5). The exp schedule always warms up from 0, as TF did. */
  warmupLr?: number;
  warmupPrefix?: boolean;
  minLr?: number;
  cycleMul?: number;
  cycleDecay?: number;
  cycleLimit?: number;
  /** Per-update schedule (timm --sched-on-updates); requires updatesPerEpoch. */
  onUpdates?: boolean;
  updatesPerEpoch?: number;
}

/** Build the lr function and its time unit from epoch-denominated settings (timm's factory rules). */
export function createSchedule(c: ScheduleConfig): { fn: LrFn; tInEpochs: boolean } {
  const onUpdates = c.onUpdates ?? false;
  const u = onUpdates ? (c.updatesPerEpoch ?? 0) : 1;
  if (onUpdates && !(u > 0)) throw new RangeError('createSchedule: onUpdates needs updatesPerEpoch > 0');
  const warmup = { warmupT: (c.warmupEpochs ?? 0) * u, warmupLrInit: c.warmupLr ?? 1e-5, warmupPrefix: c.warmupPrefix ?? false };
  let fn: LrFn;
  switch (c.sched) {
    case 'cosine':
      fn = cosineLr({
        ...warmup,
        tInitial: c.epochs * u,
        lrMin: c.minLr ?? 0,
        cycleMul: c.cycleMul ?? 1,
        cycleDecay: c.cycleDecay ?? 0.1,
        cycleLimit: c.cycleLimit ?? 1,
      });
      break;
    case 'step':
      fn = stepLr({ ...warmup, decayT: (c.decayEpochs ?? 30) * u, decayRate: c.decayRate ?? 0.1 });
      break;
    case 'exp':
      fn = efficientNetExpLr({
        stepsPerEpoch: u,
        decayEpochs: c.decayEpochs ?? 2.4,
        decayFactor: c.decayRate ?? 0.97,
        warmupEpochs: c.warmupEpochs ?? 5,
      });
      break;
    case 'constant':
      fn = constantLr(warmup);
      break;
    default:
      throw new RangeError(`createSchedule: unknown schedule "${String(c.sched)}"`);
  }
  return { fn, tInEpochs: !onUpdates };
}

export interface SchedulerState {
  baseValues: number[];
  tInEpochs: boolean;
  /** The last t applied (epoch or update count), or null before the first call. */
  lastT: number | null;
}

/**
 * Applies an LrFn to an optimizer's groups, timm-style. On construction every group's base lr is its
 * initialLr (set from its current lr if absent) and, as timm's schedulers do, the lr for t = 0 is
 * applied at once (so warmup starts at warmupLrInit before the first update).
 */
export class Scheduler {
  readonly baseValues: number[];
  private lastT: number | null = null;

  constructor(
    readonly optimizer: Optimizer<BaseHyper>,
    readonly fn: LrFn,
    readonly tInEpochs = true,
  ) {
    for (const g of optimizer.paramGroups) g.initialLr ??= g.lr;
    this.baseValues = optimizer.paramGroups.map((g) => g.initialLr!);
    this.apply(0);
    this.lastT = null;
  }

  /** The lr of each group at time t (no side effects). */
  valuesAt(t: number): number[] {
    return this.baseValues.map((b) => this.fn(t, b));
  }

  /** Call at the end of each epoch with the NEXT epoch's index (timm: lr_scheduler.step(epoch + 1)). */
  step(epoch: number): void {
    if (this.tInEpochs) this.apply(epoch);
  }

  /** Call after each optimizer update with the number of updates done so far. */
  stepUpdate(numUpdates: number): void {
    if (!this.tInEpochs) this.apply(numUpdates);
  }

  private apply(t: number): void {
    const values = this.valuesAt(t);
    this.optimizer.paramGroups.forEach((g, i) => {
      g.lr = values[i]! * (g.lrScale ?? 1);
    });
    this.lastT = t;
  }

  stateDict(): SchedulerState {
    return { baseValues: [...this.baseValues], tInEpochs: this.tInEpochs, lastT: this.lastT };
  }

  /** Restore base values and re-apply the last t, so group lrs are exactly what they were. */
  loadStateDict(s: SchedulerState): void {
    if (s.baseValues.length !== this.baseValues.length)
      throw new Error(`Scheduler.loadStateDict: ${s.baseValues.length} groups saved, ${this.baseValues.length} here`);
    if (s.tInEpochs !== this.tInEpochs) throw new Error('Scheduler.loadStateDict: saved schedule runs on a different time unit');
    s.baseValues.forEach((v, i) => {
      this.baseValues[i] = v;
      this.optimizer.paramGroups[i]!.initialLr = v;
    });
    this.apply(s.lastT ?? 0);
    this.lastT = s.lastT;
  }
}
