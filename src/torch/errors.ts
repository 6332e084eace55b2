// Typed errors of the tensor layer. libtorch's own failures arrive as TorchError carrying libtorch's
// message (the addon constructs this class directly, so no try/catch sits on the hot path).
export class TorchError extends Error {
  readonly code: string = 'E_TORCH';
  constructor(message: string) {
    super(message);
    this.name = 'TorchError';
  }
}

/** An argument with the wrong shape, caught before it reaches libtorch. */
export class ShapeError extends TorchError {
  override readonly code = 'E_SHAPE';
  constructor(message: string) {
    super(message);
    this.name = 'ShapeError';
  }
}

/** An argument with the wrong dtype, caught before it reaches libtorch. */
export class DTypeError extends TorchError {
  override readonly code = 'E_DTYPE';
  constructor(message: string) {
    super(message);
    this.name = 'DTypeError';
  }
}

/** Use of a tensor after dispose(). */
export class DisposedError extends TorchError {
  override readonly code = 'E_DISPOSED';
  constructor(message = 'tensor was disposed') {
    super(message);
    this.name = 'DisposedError';
  }
}

export function check(cond: boolean, message: () => string, Err: new (m: string) => TorchError = ShapeError): asserts cond {
  if (!cond) throw new Err(message());
}
