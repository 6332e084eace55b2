import { F, empty, zeros, type Generator, type Tensor } from '../../torch/index.js';
import { Module } from '../module.js';
import { initLinearGoog } from '../init.js';

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(inFeatures: number, outFeatures: number, o: { bias?: boolean; generator?: Generator } = {}) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    initLinearGoog(this.registerParameter('weight', empty([outFeatures, inFeatures])), o.generator);
    if (o.bias ?? true) this.registerParameter('bias', zeros([outFeatures]));
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.param('weight'), this.paramOrNull('bias'));
  }
}
