// The only importer of the compiled addon. Everything the addon exports is described here.
import { createRequire } from 'node:module';
import { findPackageFile } from '../util/package_file.js';
import { DisposedError, TorchError } from './errors.js';

export type Handle = number;
export type OpId = number;

/** One step of a fused inference program (src/models/fused_plan.ts builds them; tensors as handles). */
export type NativeFusedStep =
  | {
      op: 'conv';
      kind: string;
      weight: Handle;
      bias: Handle;
      stride: number;
      dilation: number;
      groups: number;
      /** Static symmetric padding, or -1: TF SAME computed from the input size. */
      padding: number;
      act: string | null;
    }
  | { op: 'se'; kind: string; reduceWeight: Handle; reduceBias: Handle; expandWeight: Handle; expandBias: Handle; act: string }
  | { op: 'save' | 'add' | 'tap'; kind: string }
  | { op: 'pool'; kind: string; pool: string }
  | { op: 'linear'; kind: string; weight: Handle; bias: Handle };

export interface NativeFusedOptions {
  inChans: number;
  precision?: 'fp32' | 'bf16';
  /** The addon's own depthwise kernel instead of oneDNN's for 3x3 kernels (default true; fp32 only). */
  ownDepthwise?: boolean;
  /** The same for kernels over 3x3 (default false: oneDNN's measured faster for 5x5). */
  ownDepthwiseLarge?: boolean;
  /** 1x1 convs as one GEMM with a fused bias + activation pass instead of oneDNN (default false: oneDNN measured faster; fp32 only). */
  gemmPointwise?: boolean;
  /** oneDNN convs through ATen prepacked per input shape (mkldnn_prepacked; default true). */
  prepack?: boolean;
  /**
   * oneDNN called directly for the dense and large-kernel convs, the activation as a post-op (default
   * true when the addon was built against oneDNN's headers: Debian's libtorch + libdnnl-dev; else ignored).
   */
  dnnl?: boolean;
}

/** A whole forward replayed natively (native/src/fused.cc); it holds its own references to the weights. */
export interface NativeFusedProgram {
  /** Runs steps [0, stop) on the compute thread: the taps' outputs, then the last value (unless the last step is a tap). */
  run(
    data: Float32Array,
    shape: readonly number[],
    stop: number,
    profile: boolean,
  ): Promise<{ outputs: { data: Float32Array; shape: number[] }[]; stepMs: number[] | null }>;
  /** Drops the weights now; false when already released. */
  release(): boolean;
  describe(): { kind: string; impl: string }[];
}

export interface NativeBinding {
  FusedProgram: new (steps: readonly NativeFusedStep[], opts: NativeFusedOptions) => NativeFusedProgram;
  setErrorClass(ctor: new (message: string) => Error, disposed?: new (message: string) => Error): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  manualSeed(seed: number | bigint): void;
  newGenerator(seed: number | bigint): number;
  releaseGenerator(id: number): void;
  generatorGetState(id: number): Handle;
  generatorSetState(id: number, state: Handle): void;
  generatorSeed(id: number): bigint;
  buildInfo(): {
    torchVersion: string;
    torchVersionMajor: number;
    torchVersionMinor: number;
    config: string;
    parallelInfo: string;
    mkldnn: boolean;
    openmp: boolean;
  };
  cudaAvailable(): boolean;
  cudaDeviceCount(): number;
  /** libtorch's device-string parser: index -1 when the string names none. Throws TorchError on junk. */
  parseDevice(s: string): { type: string; index: number };

  fromBuffer(data: ArrayBufferView | ArrayBuffer, shape: readonly number[], dtype: number, copy?: boolean): Handle;
  toBuffer(h: Handle): ArrayBuffer;
  toExternal(h: Handle): ArrayBuffer;
  release(h: Handle): boolean;
  liveCount(): number;
  /** Bytes of CPU tensor storage live handles hold, as reported to V8 (napi_adjust_external_memory). */
  externalBytes(): number;
  /** V8's own external-memory total (napi_adjust_external_memory(0)): what the GC heuristics see. */
  v8ExternalMemory(): number;
  shape(h: Handle): number[];
  strides(h: Handle): number[];
  dtype(h: Handle): number;
  device(h: Handle): string;
  item(h: Handle): number | boolean;
  requiresGrad(h: Handle): boolean;
  setRequiresGrad(h: Handle, v: boolean): void;
  isLeaf(h: Handle): boolean;
  grad(h: Handle): Handle | null;
  setGrad(h: Handle, g: Handle | null): void;
  retainGrad(h: Handle): void;
  gradFn(h: Handle): { name: string; next: (string | null)[] } | null;
  sameTensor(a: Handle, b: Handle): boolean;
  storageBytes(h: Handle): number;

  op(name: string, overload: string): OpId;
  opSchema(id: OpId): string;
  call(id: OpId, ...args: unknown[]): unknown;
  callAsync(id: OpId, ...args: unknown[]): Promise<unknown>;
  listOps(): string[];

  backward(
    tensors: Handle[],
    grads: (Handle | null)[] | null,
    retainGraph: boolean | null,
    createGraph: boolean,
    inputs: Handle[] | null,
  ): void;
  backwardAsync(
    tensors: Handle[],
    grads: (Handle | null)[] | null,
    retainGraph: boolean | null,
    createGraph: boolean,
    inputs: Handle[] | null,
  ): Promise<void>;
  autogradGrad(
    outputs: Handle[],
    inputs: Handle[],
    gradOutputs: (Handle | null)[] | null,
    retainGraph: boolean | null,
    createGraph: boolean,
    allowUnused: boolean,
  ): (Handle | null)[];
  setGradEnabled(v: boolean): boolean;
  isGradEnabled(): boolean;
  enterInferenceMode(enabled: boolean): void;
  exitInferenceMode(): void;
  isInferenceMode(): boolean;
}

function findAddon(): string {
  const path = findPackageFile('build/Release/noisy_student_torch.node');
  if (path) return path;
  throw new Error(
    'noisy-student: the libtorch addon is not built (build/Release/noisy_student_torch.node). ' +
      'Run `bash scripts/setup` (installs libtorch-dev and friends) then `npm run build:native`.',
  );
}

const require = createRequire(import.meta.url);
export const native = require(findAddon()) as NativeBinding;
native.setErrorClass(TorchError, DisposedError);
