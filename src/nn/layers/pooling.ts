// timm's SelectAdaptivePool2d: global pooling by name, optionally flattened to [N, C].
import { F, cat, type Tensor } from '../../torch/index.js';

export type GlobalPoolType = 'avg' | 'max' | 'avgmax' | 'catavgmax' | '';

/** Channel multiplier of a pool type (catavgmax doubles the features). */
export function poolFeatMult(type: GlobalPoolType): number {
  return type === 'catavgmax' ? 2 : 1;
}

export function globalPool(x: Tensor, type: GlobalPoolType, flatten = true): Tensor {
  let y: Tensor;
  switch (type) {
    case '':
      return x;
    case 'avg':
      y = x.mean([2, 3], { keepdim: true });
      break;
    case 'max':
      y = F.adaptiveMaxPool2d(x, 1);
      break;
    case 'avgmax':
      y = x.mean([2, 3], { keepdim: true }).add(F.adaptiveMaxPool2d(x, 1)).mul(0.5);
      break;
    case 'catavgmax':
      y = cat([x.mean([2, 3], { keepdim: true }), F.adaptiveMaxPool2d(x, 1)], 1);
      break;
    default:
      throw new Error(`unknown global pool type "${String(type)}"; known: avg, max, avgmax, catavgmax`);
  }
  return flatten ? y.flatten(1) : y;
}
