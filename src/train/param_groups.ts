// Parameter groups from named parameters, with timm's default weight-decay rule
// (timm.optim.param_groups_weight_decay): biases, norm weights and every other parameter with at
// most one dimension get no decay, nor do names listed as no-decay. Model-agnostic: the input is
// any iterable of [name, tensor] pairs (a Module's namedParameters(), a state dict, ...).
import type { Tensor } from '../torch/index.js';

export type NamedParam = readonly [name: string, param: Tensor];

/** One group of parameters sharing hyperparameters. Unset fields take the optimizer's defaults. */
export interface ParamGroup {
  params: NamedParam[];
  lr?: number;
  weightDecay?: number;
  /** Multiplies the scheduler's lr for this group (timm's lr_scale, used by layer decay). */
  lrScale?: number;
}

export interface WeightDecayGroupOptions {
  weightDecay?: number;
  /** Exclude 1-D (and 0-D) params and names ending in `.bias` (timm's weight_decay_exclude_1d). */
  excludeOneDim?: boolean;
  /** Names (fnmatch-style wildcards `*`, `?`) that never get decay, e.g. a model's no_weight_decay(). */
  noWeightDecay?: Iterable<string>;
  /** Skip params with requiresGrad false (frozen layers), as timm does. Default true. */
  skipFrozen?: boolean;
}

/** fnmatch's `*` and `?` (timm matches no-decay patterns with fnmatch). */
function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (const ch of pattern) {
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 's');
}

/**
 * timm's param_groups_weight_decay: `[{ no-decay params, weightDecay: 0 }, { decay params, weightDecay }]`
 * (same order as timm, empty groups omitted). With weightDecay 0 every param lands in the first group.
 */
export function paramGroupsWeightDecay(named: Iterable<NamedParam>, opts: WeightDecayGroupOptions = {}): ParamGroup[] {
  const weightDecay = opts.weightDecay ?? 1e-5;
  const excludeOneDim = opts.excludeOneDim ?? true;
  const patterns = [...(opts.noWeightDecay ?? [])].map(globToRegExp);
  const skipFrozen = opts.skipFrozen ?? true;
  const decay: NamedParam[] = [];
  const noDecay: NamedParam[] = [];
  for (const [name, p] of named) {
    if (skipFrozen && !p.requiresGrad) continue;
    const excluded = !weightDecay || (excludeOneDim && (p.ndim <= 1 || name.endsWith('.bias'))) || patterns.some((r) => r.test(name));
    (excluded ? noDecay : decay).push([name, p]);
  }
  const groups: ParamGroup[] = [];
  if (noDecay.length > 0) groups.push({ params: noDecay, weightDecay: 0 });
  if (decay.length > 0) groups.push({ params: decay, weightDecay });
  return groups;
}
