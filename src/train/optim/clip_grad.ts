// torch.nn.utils.clip_grad_norm_ (1.13 semantics and op order): the total norm over every gradient,
// then every gradient scaled in place by min(1, maxNorm / (total + 1e-6)). The scale is applied even
// when it is 1 (as torch does: multiplying by exactly 1 changes nothing and keeps one code path).
import { noGrad, scope, stack, type Tensor } from '../../torch/index.js';
import type { NamedParam } from '../param_groups.js';

export interface ClipGradOptions {
  /** 2 by default; Infinity for the max-abs norm. */
  normType?: number;
  /** Throw when the total norm is NaN or infinite instead of scaling by it. */
  errorIfNonfinite?: boolean;
}

function allDims(t: Tensor): number[] {
  return Array.from({ length: t.ndim }, (_, i) => i);
}

/**
 * Clip the gradients of `params` (tensors or [name, tensor] pairs) to a total norm of `maxNorm`.
 * Returns the total norm before clipping, as a number (torch returns a 0-d tensor).
 */
export function clipGradNorm_(params: Iterable<Tensor | NamedParam>, maxNorm: number, opts: ClipGradOptions = {}): number {
  const normType = opts.normType ?? 2;
  return noGrad(() =>
    scope(() => {
      const grads: Tensor[] = [];
      for (const item of params) {
        const p = Array.isArray(item) ? (item as NamedParam)[1] : (item as Tensor);
        const g = p.grad;
        if (g !== null) grads.push(g);
      }
      if (grads.length === 0) return 0;
      let total: Tensor;
      if (normType === Infinity) {
        const norms = grads.map((g) => g.abs().max());
        total = norms.length === 1 ? norms[0]! : stack(norms).max();
      } else {
        // torch.norm(g, p) with no dim reduces over every dim explicitly; same for the stack.
        const norms = grads.map((g) => g.norm(normType, allDims(g)));
        total = stack(norms).norm(normType, [0]);
      }
      const totalNorm = total.item();
      if (opts.errorIfNonfinite && !Number.isFinite(totalNorm)) {
        throw new Error(`clipGradNorm_: the total norm of order ${normType} for gradients is non-finite, so it cannot be clipped`);
      }
      // Python's `max_norm / t` is t.reciprocal() * max_norm.
      const coef = total.add(1e-6).reciprocal().mul(maxNorm).clamp(null, 1.0);
      for (const g of grads) g.mul_(coef);
      return totalNorm;
    }),
  );
}
