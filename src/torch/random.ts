// Random number generators. Library code that draws random numbers takes an explicit Generator;
// the global seed (manualSeed) only drives calls that pass none, as in PyTorch.
import { native } from './native.js';
import { Tensor, wrap } from './tensor.js';

export class Generator implements Disposable {
  /** Addon generator id; 0 is libtorch's default CPU generator. */
  readonly id: number;

  constructor(seed: number | bigint) {
    this.id = native.newGenerator(seed);
  }

  /** The seed this generator was last seeded with. */
  seed(): bigint {
    return native.generatorSeed(this.id);
  }
  /** The full RNG state as a uint8 tensor (libtorch's serialisation), for resumable checkpoints. */
  getState(): Tensor {
    return wrap(native.generatorGetState(this.id));
  }
  setState(state: Tensor): void {
    native.generatorSetState(this.id, state.h);
  }
  dispose(): void {
    native.releaseGenerator(this.id);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Seed libtorch's default CPU generator (torch.manual_seed). */
export function manualSeed(seed: number | bigint): void {
  native.manualSeed(seed);
}
