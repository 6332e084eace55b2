// Exponential moving average of a model's state dict (parameters and buffers), timm ModelEmaV3
// style: floating tensors are interpolated in place (ema.lerp_(model, 1 - decay)), integer buffers
// (BatchNorm's num_batches_tracked) copied. Works on a Map<string, Tensor> so it needs no Module:
// pass model.stateDict() (or any name -> tensor map) to update(). Evaluate with the EMA weights by
// loading ema.stateDict() into a model copy, as the Noisy Student code restores its EMA variables.
import { isFloating, keep, noGrad, scope, type Tensor } from '../torch/index.js';

/**
 * How the per-update decay is chosen:
 * - 'constant': always `decay` (timm ModelEmaV2, ModelEmaV3 without a step).
 * - 'tf': min(decay, (1 + n) / (10 + n)) with n the update count (TF ExponentialMovingAverage with
 *   num_updates = global_step, as the Noisy Student / EfficientNet code runs it).
 * - 'timm': ModelEmaV3.get_decay(step): copy for the first update(s), then the warmup curve
 *   1 - (1 + s/gamma)^-power capped at `decay` (or plain `decay` with useWarmup false).
 */
export type EmaDecayMode = 'constant' | 'tf' | 'timm';

export interface EmaOptions {
  decay?: number;
  mode?: EmaDecayMode;
  /** 'timm' mode: ModelEmaV3's min_decay, update_after_step, use_warmup, warmup_gamma, warmup_power. */
  minDecay?: number;
  updateAfterStep?: number;
  useWarmup?: boolean;
  warmupGamma?: number;
  warmupPower?: number;
  /**
   * Names to copy instead of average (timm's exclude_buffers, e.g. BatchNorm running stats). By
   * default every floating tensor is averaged, as ModelEmaV3 does.
   */
  copyNames?: Iterable<string>;
}

/** TF ExponentialMovingAverage's decay with num_updates: min(decay, (1 + n) / (10 + n)). */
export function tfEmaDecay(decay: number, numUpdates: number): number {
  return Math.min(decay, (1 + numUpdates) / (10 + numUpdates));
}

/** timm ModelEmaV3.get_decay(step). */
export function timmEmaDecay(
  o: Pick<EmaOptions, 'minDecay' | 'updateAfterStep' | 'useWarmup' | 'warmupGamma' | 'warmupPower'> & { decay: number },
  step: number,
): number {
  const s = Math.max(0, step - (o.updateAfterStep ?? 0) - 1);
  if (s <= 0) return 0;
  if (!o.useWarmup) return o.decay;
  const d = 1 - (1 + s / (o.warmupGamma ?? 1)) ** -(o.warmupPower ?? 2 / 3);
  return Math.max(Math.min(d, o.decay), o.minDecay ?? 0);
}

export interface EmaState {
  /** Updates applied so far. */
  numUpdates: number;
  decay: number;
  mode: EmaDecayMode;
}

export class ModelEma implements Disposable {
  private readonly shadow = new Map<string, Tensor>();
  private readonly copyNames: Set<string>;
  readonly decay: number;
  readonly mode: EmaDecayMode;
  numUpdates = 0;

  /** Starts as a copy of `source` (the model's state dict at the time). */
  constructor(
    source: ReadonlyMap<string, Tensor>,
    readonly opts: EmaOptions = {},
  ) {
    this.decay = opts.decay ?? 0.9999;
    this.mode = opts.mode ?? 'constant';
    this.copyNames = new Set(opts.copyNames ?? []);
    // Under noGrad a clone records no graph, so no detach() (whose result would outlive any scope).
    noGrad(() => {
      for (const [name, t] of source) this.shadow.set(name, keep(t.clone()));
    });
  }

  /** The decay the next update will use (numUpdates before that update). */
  decayFor(numUpdates: number): number {
    if (this.mode === 'tf') return tfEmaDecay(this.decay, numUpdates);
    if (this.mode === 'timm') return timmEmaDecay({ ...this.opts, decay: this.decay }, numUpdates);
    return this.decay;
  }

  /**
   * Move the average towards `source`. `step` overrides the update count used for the decay (timm
   * passes its own num_updates); by default the EMA's own count is used, then incremented.
   */
  update(source: ReadonlyMap<string, Tensor>, step?: number): number {
    const decay = this.decayFor(step ?? this.numUpdates);
    noGrad(() =>
      scope(() => {
        for (const [name, e] of this.shadow) {
          const m = source.get(name);
          if (m === undefined) throw new Error(`ModelEma.update: source has no "${name}"`);
          if (isFloating(e.dtype) && !this.copyNames.has(name)) e.lerp_(m, 1 - decay);
          else e.copy_(m);
        }
      }),
    );
    this.numUpdates += 1;
    return decay;
  }

  /** Overwrite the average with `source` (timm's set()). */
  set(source: ReadonlyMap<string, Tensor>): void {
    noGrad(() => {
      for (const [name, e] of this.shadow) e.copy_(source.get(name) ?? e);
    });
  }

  /** The averaged tensors (the EMA's own; copy before changing them). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.shadow);
  }

  state(): EmaState {
    return { numUpdates: this.numUpdates, decay: this.decay, mode: this.mode };
  }

  /** Restore tensors (copied in) and the update count saved by stateDict()/state(). */
  loadStateDict(tensors: ReadonlyMap<string, Tensor>, state?: EmaState): void {
    for (const name of this.shadow.keys()) if (!tensors.has(name)) throw new Error(`ModelEma.loadStateDict: missing "${name}"`);
    for (const name of tensors.keys()) if (!this.shadow.has(name)) throw new Error(`ModelEma.loadStateDict: unexpected "${name}"`);
    noGrad(() => {
      for (const [name, e] of this.shadow) e.copy_(tensors.get(name)!);
    });
    if (state) this.numUpdates = state.numUpdates;
  }

  dispose(): void {
    for (const t of this.shadow.values()) t.dispose();
    this.shadow.clear();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
