// timm's RMSpropTF (`--opt rmsproptf`): RMSprop as TensorFlow does it, the EfficientNet / Noisy
// Student optimizer. Differences from torch.optim.RMSprop, each needed to match TF hyperparameters:
// the mean square starts at ONES (TF's default), eps is added INSIDE the sqrt, the mean square is
// updated as ms += (1-alpha)(g^2 - ms) (TF's op order), and the lr is folded into the momentum
// buffer (so an lr change does not rescale momentum already accumulated).
import { Optimizer, type BaseHyper, type Group, type ParamState, type ParamsInput } from './optimizer.js';
import { onesLike, zerosLike, type Tensor } from '../../torch/index.js';

export interface RMSpropTFOptions extends BaseHyper {
  /** Decay of the mean square (TF's `decay`). */
  alpha: number;
  eps: number;
  momentum: number;
  /** Weight decay as p *= 1 - lr*wd (AdamW-style) instead of adding wd*p to the gradient. */
  decoupledDecay: boolean;
  /** TF behaviour (default): momentum accumulates lr*g/rms. False: torch behaviour, p -= lr*buf. */
  lrInMomentum: boolean;
}

export class RMSpropTF extends Optimizer<RMSpropTFOptions> {
  readonly type = 'RMSpropTF';

  constructor(params: ParamsInput<RMSpropTFOptions>, opts: Partial<RMSpropTFOptions> & { lr: number }) {
    super(params, {
      lr: opts.lr,
      alpha: opts.alpha ?? 0.9,
      eps: opts.eps ?? 1e-3,
      momentum: opts.momentum ?? 0.9,
      weightDecay: opts.weightDecay ?? 0,
      decoupledDecay: opts.decoupledDecay ?? false,
      lrInMomentum: opts.lrInMomentum ?? true,
    });
  }

  protected updateParam(p: Tensor, grad: Tensor, st: ParamState, g: Group<RMSpropTFOptions>): void {
    const squareAvg = st.tensors.get('square_avg') ?? this.newState(st, 'square_avg', onesLike(p));
    let buf = st.tensors.get('momentum_buffer');
    if (buf === undefined && g.momentum > 0) buf = this.newState(st, 'momentum_buffer', zerosLike(p));
    st.step += 1;
    let d = grad;
    if (g.weightDecay !== 0) {
      if (g.decoupledDecay) p.mul_(1 - g.lr * g.weightDecay);
      else d = d.add(p, g.weightDecay);
    }
    squareAvg.add_(d.pow(2).sub(squareAvg), 1 - g.alpha);
    const avg = squareAvg.add(g.eps).sqrt_();
    if (g.momentum > 0 && buf !== undefined) {
      buf.mul_(g.momentum);
      if (g.lrInMomentum) {
        buf.addcdiv_(d, avg, g.lr);
        p.sub_(buf); // == p.add_(-buf): negation is exact
      } else {
        buf.addcdiv_(d, avg);
        p.add_(buf, -g.lr);
      }
    } else {
      p.addcdiv_(d, avg, -g.lr);
    }
  }
}
