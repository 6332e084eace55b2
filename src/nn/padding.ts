// TensorFlow "SAME" padding, as timm reproduces it. TF pads the odd pixel at the bottom/right, which
// symmetric PyTorch padding cannot express when the stride does not divide the input: such convs pad
// at run time from the actual input size (timm's Conv2dSame); the others use a static symmetric pad.

/** [before, after] padding for one spatial dim. */
export function tfSamePad(inputSize: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const total = Math.max((Math.ceil(inputSize / stride) - 1) * stride + (kernel - 1) * dilation + 1 - inputSize, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** PyTorch-style symmetric padding for a conv ((k-1)*d/2). */
export function symmetricPadding(kernel: number, stride = 1, dilation = 1): number {
  return Math.floor((stride - 1 + dilation * (kernel - 1)) / 2);
}

/** True when a static symmetric pad equals TF SAME for every input size. */
export function isStaticSame(kernel: number, stride = 1, dilation = 1): boolean {
  return stride === 1 && (dilation * (kernel - 1)) % 2 === 0;
}
