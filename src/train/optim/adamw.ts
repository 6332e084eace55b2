// torch.optim.AdamW (1.13, single-tensor, non-capturable path): decoupled decay p *= 1 - lr*wd, then
// Adam with bias corrections computed in double precision from the per-parameter step, exactly in
// torch's op order; amsgrad keeps the running max of the second moment.
import { Optimizer, type BaseHyper, type Group, type ParamState, type ParamsInput } from './optimizer.js';
import { zerosLike, type Tensor } from '../../torch/index.js';

export interface AdamWOptions extends BaseHyper {
  betas: readonly [number, number];
  eps: number;
  amsgrad: boolean;
}

export class AdamW extends Optimizer<AdamWOptions> {
  readonly type = 'AdamW';

  constructor(params: ParamsInput<AdamWOptions>, opts: Partial<AdamWOptions> = {}) {
    super(params, {
      lr: opts.lr ?? 1e-3,
      betas: opts.betas ?? [0.9, 0.999],
      eps: opts.eps ?? 1e-8,
      weightDecay: opts.weightDecay ?? 1e-2,
      amsgrad: opts.amsgrad ?? false,
    });
  }

  protected updateParam(p: Tensor, grad: Tensor, st: ParamState, g: Group<AdamWOptions>): void {
    const [beta1, beta2] = g.betas;
    const expAvg = st.tensors.get('exp_avg') ?? this.newState(st, 'exp_avg', zerosLike(p));
    const expAvgSq = st.tensors.get('exp_avg_sq') ?? this.newState(st, 'exp_avg_sq', zerosLike(p));
    st.step += 1;
    p.mul_(1 - g.lr * g.weightDecay);
    expAvg.mul_(beta1).add_(grad, 1 - beta1);
    expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    const biasCorrection1 = 1 - beta1 ** st.step;
    const biasCorrection2 = 1 - beta2 ** st.step;
    const stepSize = g.lr / biasCorrection1;
    const bc2Sqrt = Math.sqrt(biasCorrection2);
    let second = expAvgSq;
    if (g.amsgrad) {
      const maxSq = st.tensors.get('max_exp_avg_sq') ?? this.newState(st, 'max_exp_avg_sq', zerosLike(p));
      maxSq.copy_(maxSq.maximum(expAvgSq));
      second = maxSq;
    }
    const denom = second.sqrt().div(bc2Sqrt).add_(g.eps);
    p.addcdiv_(expAvg, denom, -stepSize);
  }
}
