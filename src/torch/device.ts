// Devices, spelled like torch ('cpu', 'cuda', 'cuda:1'), checked against the libtorch the addon was
// built with: asking for CUDA from a CPU-only libtorch fails here, with what to do about it, instead
// of deep inside the first op.
import { native } from './native.js';
import { TorchError } from './errors.js';

/** A device string as torch spells it: 'cpu', 'cuda' (= 'cuda:0'), 'cuda:1', ... */
export type Device = string;

/** A device this libtorch does not have (or a string that names no device). */
export class DeviceError extends TorchError {
  override readonly code = 'E_DEVICE';
  constructor(message: string) {
    super(message);
    this.name = 'DeviceError';
  }
}

// The CUDA device set is fixed once libtorch has initialised (CUDA_VISIBLE_DEVICES is read then),
// so it is asked for once.
let cudaCount: number | undefined;

/** True when this libtorch has CUDA and sees at least one CUDA device. */
export function cudaAvailable(): boolean {
  return cudaDeviceCount() > 0;
}

/** The number of CUDA devices this libtorch sees (0 for a CPU-only libtorch). */
export function cudaDeviceCount(): number {
  if (cudaCount === undefined) cudaCount = native.cudaAvailable() ? native.cudaDeviceCount() : 0;
  return cudaCount;
}

function libtorchDescription(): string {
  const info = native.buildInfo();
  // USE_CUDA is libtorch_cpu's own build setting: it tells "no CUDA build" from "no GPU visible".
  const cudaBuild = /USE_CUDA=(ON|1)\b/.test(info.config);
  return `${info.torchVersion}, ${cudaBuild ? 'built with CUDA' : 'CPU only'}`;
}

const normalised = new Map<string, Device>();

/**
 * Check a device string against this libtorch and normalise it ('cuda' -> 'cuda:0', 'cpu:0' ->
 * 'cpu'). Throws DeviceError for a string that names no device, a device type noisy-student does
 * not run on (only cpu and cuda), a CPU-only libtorch asked for CUDA, or a CUDA index past the
 * devices there are.
 */
export function parseDevice(s: string): Device {
  const hit = normalised.get(s);
  if (hit !== undefined) return hit;
  if (typeof s !== 'string' || s.trim() === '') {
    throw new DeviceError(`device ${JSON.stringify(s)}: expected a device string such as 'cpu', 'cuda' or 'cuda:1'`);
  }
  let parsed: { type: string; index: number };
  try {
    parsed = native.parseDevice(s);
  } catch (e) {
    throw new DeviceError(`device '${s}' is not a device string (use 'cpu', 'cuda' or 'cuda:N'): ${(e as Error).message}`);
  }
  let out: Device;
  if (parsed.type === 'cpu') {
    if (parsed.index > 0) throw new DeviceError(`device ${s}: there is one CPU device ('cpu')`);
    out = 'cpu';
  } else if (parsed.type === 'cuda') {
    const n = cudaDeviceCount();
    const index = Math.max(parsed.index, 0);
    if (n === 0) {
      const what = libtorchDescription();
      throw new DeviceError(
        what.endsWith('CPU only')
          ? `device ${s}: this libtorch (${what}) has no CUDA; build the addon against a CUDA libtorch with LIBTORCH=/path/to/libtorch npm run build:native`
          : `device ${s}: this libtorch (${what}) sees no CUDA device (check the NVIDIA driver and CUDA_VISIBLE_DEVICES)`,
      );
    }
    if (index >= n) {
      throw new DeviceError(`device ${s}: only ${n} CUDA device${n === 1 ? '' : 's'} (${n === 1 ? 'cuda:0' : `cuda:0 to cuda:${n - 1}`})`);
    }
    out = `cuda:${index}`;
  } else {
    throw new DeviceError(`device ${s}: noisy-student runs on cpu and cuda devices, not ${parsed.type}`);
  }
  normalised.set(s, out);
  return out;
}
