// The only importer of the c10d addon (native/distributed, scripts/build-dist-addon.mjs). It is
// loaded lazily: a single-process run never needs it, and a machine without Gloo's headers has none.
import { createRequire } from 'node:module';
import { native as torchNative, type Handle } from '../torch/native.js';
import { findPackageFile } from '../util/package_file.js';

export type ReduceOpName = 'sum' | 'max' | 'min' | 'product';

/** A c10d TCPStore client (rank 0's also serves). get blocks until the key exists. */
export interface NativeStore {
  set(key: string, value: string): void;
  get(key: string): string;
  add(key: string, delta: number): number;
  check(keys: string[]): boolean;
  deleteKey(key: string): boolean;
  waitKeys(keys: string[], timeoutMs: number): Promise<void>;
}

/** A c10d process group. With `sync` a collective blocks the JS thread and returns undefined. */
export interface NativeGroup {
  readonly rank: number;
  readonly worldSize: number;
  readonly backend: 'gloo' | 'nccl';
  allreduce(tensors: Handle[], op: ReduceOpName, sync?: false): Promise<void>;
  allreduce(tensors: Handle[], op: ReduceOpName, sync: true): void;
  broadcast(tensors: Handle[], root: number, sync?: false): Promise<void>;
  broadcast(tensors: Handle[], root: number, sync: true): void;
  allgather(outputs: Handle[], input: Handle, sync?: false): Promise<void>;
  allgather(outputs: Handle[], input: Handle, sync: true): void;
  barrier(sync?: false): Promise<void>;
  barrier(sync: true): void;
  close(): void;
}

export interface NativeDistributed {
  init(tensorApi: unknown): void;
  connectStore(host: string, port: number, isServer: boolean, worldSize: number, timeoutMs: number): Promise<NativeStore>;
  newGroup(
    store: NativeStore,
    rank: number,
    worldSize: number,
    opts: { backend: 'gloo' | 'nccl'; timeoutMs: number; prefix: string },
  ): Promise<NativeGroup>;
  syncBatchNorm(
    group: NativeGroup,
    x: Handle,
    weight: Handle,
    bias: Handle,
    runningMean: Handle,
    runningVar: Handle,
    momentum: number,
    eps: number,
  ): Handle;
  buildInfo(): { backends: string[] };
}

const ADDON = 'native/distributed/build/Release/noisy_student_distributed.node';

const findAddon = (): string | null => findPackageFile(ADDON);

let loaded: NativeDistributed | null = null;

/** The c10d addon, initialised with the libtorch addon's tensor table; throws when it is not built. */
export function distributedNative(): NativeDistributed {
  if (loaded) return loaded;
  const path = findAddon();
  if (!path) {
    throw new Error(
      `noisy-student: the c10d addon is not built (${ADDON}); it needs Gloo's headers: ` +
        '`apt-get install libgloo-dev` (or `bash scripts/setup`), then `node scripts/build-dist-addon.mjs`',
    );
  }
  const mod = createRequire(import.meta.url)(path) as NativeDistributed;
  // The table of C functions through which it reaches our tensors (native/src/tensor_api.h).
  mod.init((torchNative as unknown as { tensorApi(): unknown }).tensorApi());
  loaded = mod;
  return mod;
}

/** Whether the c10d addon is built (multi-process training possible). */
export function distributedAvailable(): boolean {
  return findAddon() !== null;
}
