// Classification losses of timm and of the Noisy Student recipe, written with the same ops as timm's
// (log_softmax, gather, mean) so values and gradients match PyTorch's to the last bit or so.
import { cat, type Tensor } from '../torch/index.js';

function check(cond: boolean, message: () => string): asserts cond {
  if (!cond) throw new RangeError(message());
}

/**
 * Per-sample label-smoothing cross entropy (timm LabelSmoothingCrossEntropy before its mean):
 * (1 - s) * NLL(target) + s * mean_c(-log p_c). Equals cross entropy against the target
 * one_hot * (1 - s) + s / C, which is TF's label_smoothing (the Noisy Student code's).
 */
export function labelSmoothingCrossEntropyPerSample(logits: Tensor, targets: Tensor, smoothing = 0.1): Tensor {
  check(smoothing >= 0 && smoothing < 1, () => `labelSmoothingCrossEntropy: smoothing must be in [0, 1), got ${smoothing}`);
  check(
    logits.ndim === 2 && targets.ndim === 1 && targets.shape[0] === logits.shape[0],
    () => `labelSmoothingCrossEntropy: logits [N, C] and int64 targets [N] expected, got [${logits.shape}] and [${targets.shape}]`,
  );
  const logprobs = logits.logSoftmax(-1);
  const nll = logprobs.gather(-1, targets.unsqueeze(1)).squeeze(1).neg();
  const smooth = logprobs.mean(-1).neg();
  return nll.mul(1 - smoothing).add(smooth.mul(smoothing));
}

/** timm's LabelSmoothingCrossEntropy: the batch mean of the per-sample loss. */
export function labelSmoothingCrossEntropy(logits: Tensor, targets: Tensor, smoothing = 0.1): Tensor {
  return labelSmoothingCrossEntropyPerSample(logits, targets, smoothing).mean();
}

/** Per-sample soft-target cross entropy: sum_c -q_c log p_c. */
export function softTargetCrossEntropyPerSample(logits: Tensor, probs: Tensor): Tensor {
  check(
    logits.ndim === 2 && probs.ndim === 2 && logits.shape[0] === probs.shape[0] && logits.shape[1] === probs.shape[1],
    () => `softTargetCrossEntropy: logits and probabilities must both be [N, C], got [${logits.shape}] and [${probs.shape}]`,
  );
  return probs.neg().mul(logits.logSoftmax(-1)).sum(-1);
}

/** timm's SoftTargetCrossEntropy: the batch mean of sum_c -q_c log p_c. */
export function softTargetCrossEntropy(logits: Tensor, probs: Tensor): Tensor {
  return softTargetCrossEntropyPerSample(logits, probs).mean();
}

/**
 * Temperature on probability targets: p^(1/T) renormalised per row. T < 1 sharpens, T > 1 flattens,
 * T = 1 returns the input unchanged (same tensor).
 */
export function applyTemperature(probs: Tensor, temperature: number): Tensor {
  check(temperature > 0, () => `applyTemperature: temperature must be > 0, got ${temperature}`);
  if (temperature === 1) return probs;
  const q = probs.pow(1 / temperature);
  return q.div(q.sum(-1, { keepdim: true }));
}

export interface MixedBatchTargets {
  /** Hard labels of the first B_lab rows of the logits (int64 [B_lab]). */
  labeled: Tensor;
  /**
   * Pseudo-labels of the remaining B_unl rows: int64 [B_unl] (hard pseudo-labels, smoothed like
   * labels) or float [B_unl, C] probabilities (soft pseudo-labels, never smoothed). May be absent.
   */
  unlabeled?: Tensor | null;
}

export interface MixedBatchLossOptions {
  /** Label smoothing for hard targets (labels and hard pseudo-labels). Noisy Student: 0.1. */
  smoothing?: number;
  /** Temperature applied to soft pseudo-labels (p^(1/T), renormalised). Default 1. */
  temperature?: number;
  /**
   * 'noisy-student' (default): (lab_mean * B_lab + unl_mean * B_unl) / B_lab, as the original
   * main.py: each image weighs 1/B_lab, so the loss grows with the unlabeled ratio.
   * 'mean': the plain per-sample mean over all B_lab + B_unl rows.
   */
  reduction?: 'noisy-student' | 'mean';
}

export interface MixedBatchLoss {
  loss: Tensor;
  /** Mean loss of the labeled rows (for logging). */
  labeledLoss: Tensor;
  /** Mean loss of the pseudo-labeled rows, or null when there were none. */
  unlabeledLoss: Tensor | null;
}

/**
 * The Noisy Student batch loss over logits [B_lab + B_unl, C] whose first B_lab rows are labeled
 * images and whose remaining rows are pseudo-labeled ones (the original concatenates both sets in
 * one batch, data_input.py, and combines the two means in main.py).
 */
export function mixedBatchLoss(logits: Tensor, targets: MixedBatchTargets, opts: MixedBatchLossOptions = {}): MixedBatchLoss {
  const smoothing = opts.smoothing ?? 0;
  const reduction = opts.reduction ?? 'noisy-student';
  const nLab = targets.labeled.shape[0]!;
  const unl = targets.unlabeled ?? null;
  const nUnl = unl === null ? 0 : unl.shape[0]!;
  check(
    nLab > 0 || reduction === 'mean',
    () => 'mixedBatchLoss: the noisy-student reduction divides by the labeled batch size, which is 0',
  );
  check(
    logits.shape[0] === nLab + nUnl,
    () => `mixedBatchLoss: logits have ${logits.shape[0]} rows, targets ${nLab} labeled + ${nUnl} unlabeled`,
  );
  const labPer = nLab > 0 ? labelSmoothingCrossEntropyPerSample(logits.narrow(0, 0, nLab), targets.labeled, smoothing) : null;
  let unlPer: Tensor | null = null;
  if (unl !== null && nUnl > 0) {
    const x = logits.narrow(0, nLab, nUnl);
    unlPer =
      unl.ndim === 1
        ? labelSmoothingCrossEntropyPerSample(x, unl, smoothing)
        : softTargetCrossEntropyPerSample(x, applyTemperature(unl, opts.temperature ?? 1));
  }
  const labeledLoss = labPer === null ? logits.sum().mul(0) : labPer.mean();
  const unlabeledLoss = unlPer === null ? null : unlPer.mean();
  let loss: Tensor;
  if (reduction === 'noisy-student') {
    // (lab_loss * B_lab + unl_loss * B_unl) / B_lab with the per-group means, in main.py's order.
    loss = unlabeledLoss === null ? labeledLoss : labeledLoss.mul(nLab).add(unlabeledLoss.mul(nUnl)).div(nLab);
  } else {
    const parts = [labPer, unlPer].filter((t): t is Tensor => t !== null);
    loss = (parts.length === 1 ? parts[0]! : cat(parts)).mean();
  }
  return { loss, labeledLoss, unlabeledLoss };
}
