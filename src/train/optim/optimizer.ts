// The optimizer base: parameter groups of *named* parameters (so state can be saved by name, the way
// timm's keys name the model, and restored into a fresh process), per-parameter state tensors owned
// by the optimizer (kept out of every scope, freed by dispose()), and a step() that runs under noGrad
// inside its own scope so the temporaries of an update never outlive it.
import { keep, noGrad, scope, type Tensor } from '../../torch/index.js';
import type { NamedParam, ParamGroup } from '../param_groups.js';

/** The hyperparameters every optimizer has; subclasses add their own. */
export interface BaseHyper {
  lr: number;
  weightDecay: number;
}

/** A resolved group: the optimizer's defaults overridden by the group's own fields. */
export type Group<H extends BaseHyper> = H & {
  params: NamedParam[];
  /** Multiplies the scheduler's value for this group (timm's lr_scale). */
  lrScale?: number;
  /** The lr a scheduler scales from; set by the scheduler on first use (timm's initial_lr). */
  initialLr?: number;
};

/** What a caller passes: a flat list of named params, or groups that may override any hyperparameter. */
export type ParamsInput<H extends BaseHyper> = Iterable<NamedParam> | readonly (ParamGroup & Partial<H>)[];

/** Per-parameter state: an update count and named tensors (momentum buffers, moments, ...). */
export interface ParamState {
  step: number;
  tensors: Map<string, Tensor>;
}

/** JSON-able part of an optimizer's state (the tensors travel separately, in safetensors). */
export interface OptimizerScalars {
  type: string;
  groups: Record<string, unknown>[];
  steps: Record<string, number>;
}

export interface OptimizerStateDict {
  /** Keyed `<stateKey>.<paramName>` (state keys have no dots; parameter names do). */
  tensors: Map<string, Tensor>;
  scalars: OptimizerScalars;
}

function isGroupList<H extends BaseHyper>(p: ParamsInput<H>): p is readonly (ParamGroup & Partial<H>)[] {
  if (!Array.isArray(p) || p.length === 0) return false;
  const first: unknown = p[0];
  return typeof first === 'object' && first !== null && !Array.isArray(first) && 'params' in first;
}

export abstract class Optimizer<H extends BaseHyper = BaseHyper> implements Disposable {
  readonly paramGroups: Group<H>[];
  readonly defaults: Readonly<H>;
  protected readonly state = new Map<string, ParamState>();
  /** Name used in saved state, checked on load so SGD state is never fed to AdamW. */
  abstract readonly type: string;

  constructor(params: ParamsInput<H>, defaults: H) {
    this.defaults = Object.freeze({ ...defaults });
    const groups = isGroupList(params) ? params : [{ params: [...(params as Iterable<NamedParam>)] } as ParamGroup & Partial<H>];
    const seen = new Set<string>();
    this.paramGroups = groups.map((g) => {
      const resolved = { ...defaults } as Group<H>;
      for (const [k, v] of Object.entries(g)) if (v !== undefined) (resolved as unknown as Record<string, unknown>)[k] = v;
      resolved.params = [...g.params];
      for (const [name] of resolved.params) {
        // State is keyed by name, so a name may appear only once across groups.
        if (seen.has(name)) throw new Error(`${this.constructor.name}: parameter "${name}" appears twice`);
        seen.add(name);
      }
      return resolved;
    });
  }

  /** Apply one update to every parameter that has a gradient (params with grad null are skipped). */
  step(): void {
    noGrad(() =>
      scope(() => {
        for (const group of this.paramGroups) {
          for (const [name, p] of group.params) {
            const grad = p.grad;
            if (grad === null) continue;
            let st = this.state.get(name);
            if (st === undefined) {
              st = { step: 0, tensors: new Map() };
              this.state.set(name, st);
            }
            this.updateParam(p, grad, st, group);
          }
        }
      }),
    );
  }

  /**
   * Update one parameter in place. Runs under noGrad inside step()'s scope: temporaries are freed
   * when step() returns; new state tensors must go through newState() to survive.
   */
  protected abstract updateParam(p: Tensor, grad: Tensor, state: ParamState, group: Group<H>): void;

  /** Register a state tensor: kept out of scopes, owned (and disposed) by the optimizer. */
  protected newState(st: ParamState, key: string, t: Tensor): Tensor {
    if (key.includes('.')) throw new Error(`state key "${key}" must not contain a dot`);
    st.tensors.set(key, keep(t));
    return t;
  }

  /** Drop gradients (set to null, like torch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const [, p] of g.params) p.grad = null;
  }

  /** Every (name, param) in group order. */
  *namedParams(): IterableIterator<NamedParam> {
    for (const g of this.paramGroups) yield* g.params;
  }

  /** Set every group's lr (for a scheduler, prefer its update methods). */
  setLr(lr: number): void {
    for (const g of this.paramGroups) g.lr = lr;
  }

  /**
   * State for a checkpoint. The tensors are the optimizer's own (not copies): save them before the
   * next step() and do not dispose them.
   */
  stateDict(): OptimizerStateDict {
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    for (const [name, st] of this.state) {
      steps[name] = st.step;
      for (const [key, t] of st.tensors) tensors.set(`${key}.${name}`, t);
    }
    const groups = this.paramGroups.map((g) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(g)) if (k !== 'params') out[k] = v;
      out.params = g.params.map(([n]) => n);
      return out;
    });
    return { tensors, scalars: { type: this.type, groups, steps } };
  }

  /**
   * Restore state saved by stateDict(): group hyperparameters (lr included) and per-parameter state.
   * The tensors are copied (clone), so the caller still owns and may dispose what it passed in.
   * Parameter names and groups must match the ones this optimizer was built with.
   */
  loadStateDict(sd: OptimizerStateDict): void {
    const { scalars } = sd;
    if (scalars.type !== this.type) throw new Error(`loadStateDict: state is for ${scalars.type}, this optimizer is ${this.type}`);
    if (scalars.groups.length !== this.paramGroups.length) {
      throw new Error(`loadStateDict: ${scalars.groups.length} saved groups, optimizer has ${this.paramGroups.length}`);
    }
    scalars.groups.forEach((saved, i) => {
      const g = this.paramGroups[i]!;
      const names = saved.params as string[];
      const mine = g.params.map(([n]) => n);
      if (names.length !== mine.length || names.some((n, j) => n !== mine[j])) {
        throw new Error(`loadStateDict: group ${i} parameters differ from the saved ones`);
      }
    });
    const known = new Set(this.paramGroups.flatMap((g) => g.params.map(([n]) => n)));
    const next = new Map<string, ParamState>();
    for (const [name, step] of Object.entries(scalars.steps)) {
      if (!known.has(name)) throw new Error(`loadStateDict: state for unknown parameter "${name}"`);
      next.set(name, { step, tensors: new Map() });
    }
    for (const [k, t] of sd.tensors) {
      const dot = k.indexOf('.');
      const key = k.slice(0, dot);
      const name = k.slice(dot + 1);
      const st = next.get(name);
      if (dot <= 0 || st === undefined) throw new Error(`loadStateDict: tensor "${k}" belongs to no saved parameter state`);
      st.tensors.set(key, keep(noGrad(() => t.clone())));
    }
    // Only now, with everything validated, replace hyperparameters and state.
    scalars.groups.forEach((saved, i) => {
      const g = this.paramGroups[i]! as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(saved)) if (k !== 'params') g[k] = v;
    });
    this.disposeState();
    for (const [name, st] of next) this.state.set(name, st);
  }

  private disposeState(): void {
    for (const st of this.state.values()) for (const t of st.tensors.values()) t.dispose();
    this.state.clear();
  }

  /** Free the state tensors. */
  dispose(): void {
    this.disposeState();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}
