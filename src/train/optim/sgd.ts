// torch.optim.SGD (1.13, single-tensor path), update for update: L2 weight decay folded into the
// gradient, a momentum buffer that starts as a copy of the first gradient (no dampening on that
// step), optional dampening and Nesterov. Same op order as torch so float32 results match bit for bit.
import { Optimizer, type BaseHyper, type Group, type ParamState, type ParamsInput } from './optimizer.js';
import type { Tensor } from '../../torch/index.js';

export interface SGDOptions extends BaseHyper {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

export class SGD extends Optimizer<SGDOptions> {
  readonly type = 'SGD';

  constructor(params: ParamsInput<SGDOptions>, opts: Partial<SGDOptions> & { lr: number }) {
    const defaults: SGDOptions = {
      lr: opts.lr,
      momentum: opts.momentum ?? 0,
      dampening: opts.dampening ?? 0,
      nesterov: opts.nesterov ?? false,
      weightDecay: opts.weightDecay ?? 0,
    };
    if (defaults.nesterov && (defaults.momentum <= 0 || defaults.dampening !== 0))
      throw new Error('SGD: Nesterov momentum requires a momentum and zero dampening');
    super(params, defaults);
  }

  protected updateParam(p: Tensor, grad: Tensor, st: ParamState, g: Group<SGDOptions>): void {
    st.step += 1;
    let d = grad;
    if (g.weightDecay !== 0) d = d.add(p, g.weightDecay);
    if (g.momentum !== 0) {
      let buf = st.tensors.get('momentum_buffer');
      if (buf === undefined) buf = this.newState(st, 'momentum_buffer', d.clone());
      else buf.mul_(g.momentum).add_(d, 1 - g.dampening);
      d = g.nesterov ? d.add(buf, g.momentum) : buf;
    }
    p.add_(d, -g.lr);
  }
}
