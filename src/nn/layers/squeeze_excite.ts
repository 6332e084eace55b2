// Squeeze-and-excitation as in timm's EfficientNet blocks: global mean, 1x1 reduce (bias), act,
// 1x1 expand (bias), sigmoid gate.
import type { Generator, Tensor } from '../../torch/index.js';
import { Module } from '../module.js';
import { Conv2d } from './conv2d.js';
import { activationInplace, type ActFn, type ActName } from './activations.js';

export class SqueezeExcite extends Module {
  private readonly convReduce: Conv2d;
  private readonly convExpand: Conv2d;
  private readonly act: ActFn;

  constructor(chs: number, rdChs: number, o: { act?: ActName; generator?: Generator } = {}) {
    super();
    this.convReduce = this.registerModule(
      'conv_reduce',
      new Conv2d({ inChs: chs, outChs: rdChs, kernel: 1, bias: true, generator: o.generator }),
    );
    this.convExpand = this.registerModule(
      'conv_expand',
      new Conv2d({ inChs: rdChs, outChs: chs, kernel: 1, bias: true, generator: o.generator }),
    );
    this.act = activationInplace(o.act ?? 'relu');
  }

  forward(x: Tensor): Tensor {
    const s = x.mean([2, 3], { keepdim: true });
    return x.mul(this.convExpand.forward(this.act(this.convReduce.forward(s))).sigmoid());
  }
}
