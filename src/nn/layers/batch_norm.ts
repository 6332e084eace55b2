// BatchNorm2d, and timm's BatchNormAct2d (BN followed by an activation in one module: the keys stay
// those of a plain BatchNorm2d).
import { F, batchNormActTraining, ones, tensor, zeros, noGrad, type Tensor } from '../../torch/index.js';
import { Module } from '../module.js';
import { activationInplace, type ActFn, type ActName } from './activations.js';

export interface BatchNormOptions {
  eps?: number;
  /** PyTorch momentum (weight of the new batch statistic), 0.1 by default. */
  momentum?: number;
  act?: ActName | null;
}

export class BatchNorm2d extends Module {
  readonly numFeatures: number;
  eps: number;
  momentum: number;
  readonly actName: ActName | null;
  private readonly act: ActFn | null;

  constructor(numFeatures: number, o: BatchNormOptions = {}) {
    super();
    this.numFeatures = numFeatures;
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum ?? 0.1;
    this.actName = o.act ?? null;
    this.act = this.actName ? activationInplace(this.actName) : null;
    this.registerParameter('weight', ones([numFeatures]));
    this.registerParameter('bias', zeros([numFeatures]));
    this.registerBuffer('running_mean', zeros([numFeatures]));
    this.registerBuffer('running_var', ones([numFeatures]));
    this.registerBuffer('num_batches_tracked', tensor(0n));
  }

  /** Batch statistics (and running-stat updates) in training mode, running statistics in eval. */
  forward(x: Tensor): Tensor {
    const training = this.training;
    if (training) noGrad(() => this.buffer('num_batches_tracked').add_(1));
    // Training: BN + activation as one native autograd function where it takes the input (float32
    // CPU; src/torch/fused_train.ts), else aten's batch_norm and the activation below. channels_last
    // inputs only: that is where it measured faster (b0 step 1.09x, bench/train_ab.ts); NCHW is
    // not measured yet on a quiet machine.
    const fused =
      training && x.isContiguous('channelsLast')
        ? batchNormActTraining(x, {
            weight: this.param('weight'),
            bias: this.param('bias'),
            runningMean: this.buffer('running_mean'),
            runningVar: this.buffer('running_var'),
            momentum: this.momentum,
            eps: this.eps,
            act: this.actName ?? 'none',
          })
        : null;
    if (fused) return fused;
    const y = F.batchNorm(x, {
      weight: this.param('weight'),
      bias: this.param('bias'),
      runningMean: this.buffer('running_mean'),
      runningVar: this.buffer('running_var'),
      training,
      momentum: this.momentum,
      eps: this.eps,
    });
    return this.act ? this.act(y) : y;
  }
}
