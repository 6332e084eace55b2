// libtorch's automatic mixed precision (torch.autocast): inside withAutocast, the ops autocast
// lists (convolutions, linear, matmul) run in the lower dtype while the weights stay float32 (a
// cast copy of each weight is cached for the scope and dropped when the outermost scope ends).
// Backward runs outside the scope, as in PyTorch: autograd records the casts, so the gradients
// reach the float32 weights in float32.
//
// The state is thread-local in libtorch, and ops run synchronously on the JS thread, so the scope
// is synchronous (like noGrad): a function returning a Promise is refused.
import { native, type NativeBinding } from './native.js';
import { DTYPE_CODE, dtypeFromCode, type FloatDType } from './dtype.js';
import { parseDevice } from './device.js';

/** The dtypes autocast can lower to. */
export type AutocastLowDType = 'bfloat16' | 'float16';

interface AutocastBinding {
  autocastEnter(device: string, dtype: number): [boolean, number];
  autocastExit(device: string, prevEnabled: boolean, prevDtype: number): void;
  autocastState(device: string): { enabled: boolean; dtype: number };
  autocastConfigureCompute(device: string, dtype: number): Promise<void>;
}

// The addon's own surface (src/torch/native.ts) predates the binding: read it as optional, so a
// stale build without it reports "unsupported" instead of crashing.
const binding = native as NativeBinding & Partial<AutocastBinding>;

/** Whether this build of the addon binds libtorch's autocast. */
export function autocastAvailable(): boolean {
  return typeof binding.autocastEnter === 'function';
}

function bound(): AutocastBinding {
  if (!autocastAvailable()) throw new Error('autocast: the libtorch addon has no autocast binding (rebuild it: npm run build:native)');
  return binding as AutocastBinding;
}

/** 'cpu' | 'cuda': autocast state is per device type. */
function deviceType(device: string): 'cpu' | 'cuda' {
  const d = parseDevice(device);
  const type = d.split(':')[0];
  if (type !== 'cpu' && type !== 'cuda') throw new Error(`autocast: no autocast mode for device ${device} (cpu and cuda have one)`);
  return type;
}

/** Refuse a dtype the device's autocast cannot run (libtorch 1.13's CPU autocast is bfloat16 only). */
export function checkAutocastDType(dtype: string, device = 'cpu'): asserts dtype is AutocastLowDType {
  if (dtype !== 'bfloat16' && dtype !== 'float16')
    throw new Error(`autocast: the dtype must be 'bfloat16' or 'float16', got ${JSON.stringify(dtype)}`);
  if (deviceType(device) === 'cpu' && dtype !== 'bfloat16')
    throw new Error(`autocast: CPU autocast runs in bfloat16 only (got '${dtype}'); use 'bfloat16' on ${device}`);
}

// The compute thread's dtype, set once per change (the JS thread's is set by each scope).
const computeConfigured = new Map<string, AutocastLowDType>();

/**
 * Run `fn` with autocast on for `device` (default 'cpu') in `dtype`. Nests; the previous state
 * (enabled, dtype) comes back when fn returns or throws. Synchronous only.
 */
export function withAutocast<T>(dtype: AutocastLowDType, fn: () => T, opts: { device?: string } = {}): T {
  const device = opts.device ?? 'cpu';
  checkAutocastDType(dtype, device);
  const type = deviceType(device);
  const b = bound();
  if (computeConfigured.get(type) !== dtype) {
    // Queued before anything fn may submit, so an async op inside the scope casts to the same dtype
    // (and never reuses a cached cast of a weight the optimizer has since updated).
    b.autocastConfigureCompute(type, DTYPE_CODE[dtype]).catch(() => undefined);
    computeConfigured.set(type, dtype);
  }
  const [prevEnabled, prevDtype] = b.autocastEnter(type, DTYPE_CODE[dtype]);
  try {
    const r = fn();
    if (r instanceof Promise)
      throw new Error('withAutocast takes a synchronous function (autocast is thread-local state; it cannot follow an await)');
    return r;
  } finally {
    b.autocastExit(type, prevEnabled, prevDtype);
  }
}

/** Whether autocast is on for the device type on the JS thread (false when the addon lacks the binding). */
export function isAutocastEnabled(device = 'cpu'): boolean {
  if (!autocastAvailable()) return false;
  return bound().autocastState(deviceType(device)).enabled;
}

/** The dtype autocast lowers to for the device type (libtorch's default: bfloat16 on CPU, float16 on CUDA). */
export function autocastDType(device = 'cpu'): FloatDType {
  const d = dtypeFromCode(bound().autocastState(deviceType(device)).dtype);
  return d as FloatDType;
}
