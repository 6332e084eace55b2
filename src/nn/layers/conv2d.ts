// Conv2d with timm's padding semantics: a static symmetric pad, or TF SAME computed from the input
// size at run time ('dynamic', timm's Conv2dSame) for convs where a static pad cannot match TF.
import { F, empty, zeros, type Generator, type Tensor } from '../../torch/index.js';
import { Module } from '../module.js';
import { tfSamePad } from '../padding.js';
import { initConvGoog } from '../init.js';

export interface Conv2dOptions {
  inChs: number;
  outChs: number;
  kernel: number;
  stride?: number;
  dilation?: number;
  groups?: number;
  bias?: boolean;
  /** Static symmetric padding, or 'dynamic' TF SAME. */
  padding?: number | 'dynamic';
  generator?: Generator;
}

export class Conv2d extends Module {
  readonly inChs: number;
  readonly outChs: number;
  readonly kernel: number;
  readonly stride: number;
  readonly dilation: number;
  readonly groups: number;
  readonly padding: number | 'dynamic';

  constructor(o: Conv2dOptions) {
    super();
    this.inChs = o.inChs;
    this.outChs = o.outChs;
    this.kernel = o.kernel;
    this.stride = o.stride ?? 1;
    this.dilation = o.dilation ?? 1;
    this.groups = o.groups ?? 1;
    this.padding = o.padding ?? 0;
    if (o.inChs % this.groups !== 0 || o.outChs % this.groups !== 0) {
      throw new Error(`Conv2d: channels ${o.inChs} -> ${o.outChs} are not divisible by groups=${this.groups}`);
    }
    const w = this.registerParameter('weight', empty([o.outChs, o.inChs / this.groups, o.kernel, o.kernel]));
    initConvGoog(w, this.groups, o.generator);
    if (o.bias) this.registerParameter('bias', zeros([o.outChs]));
  }

  get weight(): Tensor {
    return this.param('weight');
  }
  get bias(): Tensor | null {
    return this.paramOrNull('bias');
  }

  forward(x: Tensor): Tensor {
    const opts = { bias: this.bias, stride: this.stride, dilation: this.dilation, groups: this.groups };
    if (this.padding === 'dynamic') {
      const [, , h, w] = x.shape as [number, number, number, number];
      const [pt, pb] = tfSamePad(h, this.kernel, this.stride, this.dilation);
      const [pl, pr] = tfSamePad(w, this.kernel, this.stride, this.dilation);
      if (pt || pb || pl || pr) x = F.pad(x, [pl, pr, pt, pb]);
      return F.conv2d(x, this.weight, { ...opts, padding: 0 });
    }
    return F.conv2d(x, this.weight, { ...opts, padding: this.padding });
  }
}
