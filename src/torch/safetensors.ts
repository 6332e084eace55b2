// safetensors <-> Tensors. The container parsing (and its defensive checks) is in
// safetensors_format.ts; this file only maps dtypes and moves bytes in and out of libtorch.
import { native } from './native.js';
import { Tensor, wrap } from './tensor.js';
import { DTYPE_CODE, type DType } from './dtype.js';
import { atomicWriteFile } from '../util/atomic_write.js';
import { encodeSafetensors, readSafetensorsRaw, SafetensorsError, type RawTensor, type SafetensorsDType } from './safetensors_format.js';

const TO_DTYPE: Readonly<Record<SafetensorsDType, DType | undefined>> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};
const FROM_DTYPE: Readonly<Record<DType, SafetensorsDType>> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

export interface LoadedSafetensors {
  tensors: Map<string, Tensor>;
  metadata: Readonly<Record<string, string>>;
}

/**
 * Load every tensor (or only `names`) of a .safetensors file, validating the file first. All or
 * nothing: a tensor refused part-way (BOOL bytes other than 0/1, a failed copy into libtorch)
 * frees the ones already made before the error reaches the caller.
 */
export function loadSafetensors(path: string, opts: { names?: readonly string[] } = {}): LoadedSafetensors {
  const { tensors: raw, metadata } = readSafetensorsRaw(path, opts.names);
  // Every check that needs only the bytes runs before the first tensor exists.
  const dtypes = new Map<string, DType>();
  for (const [name, r] of raw) {
    const dtype = TO_DTYPE[r.dtype];
    if (dtype === undefined)
      throw new SafetensorsError(path, `tensor "${name}" has dtype ${r.dtype}, which has no libtorch equivalent here`);
    if (dtype === 'bool' && r.bytes.some((b) => b > 1))
      throw new SafetensorsError(path, `tensor "${name}" is BOOL but holds bytes other than 0/1`);
    dtypes.set(name, dtype);
  }
  const tensors = new Map<string, Tensor>();
  try {
    for (const [name, r] of raw) tensors.set(name, wrap(native.fromBuffer(r.bytes, r.shape, DTYPE_CODE[dtypes.get(name)!], true)));
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  }
  return { tensors, metadata };
}

/** Write tensors (Map or record) atomically in the reference layout; metadata values must be strings. */
export function saveSafetensors(
  path: string,
  tensors: ReadonlyMap<string, Tensor> | Readonly<Record<string, Tensor>>,
  metadata?: Readonly<Record<string, string>>,
): void {
  const entries: [string, Tensor][] =
    tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Readonly<Record<string, Tensor>>);
  const raw = new Map<string, RawTensor>();
  for (const [name, t] of entries) {
    raw.set(name, { dtype: FROM_DTYPE[t.dtype], shape: [...t.shape], bytes: new Uint8Array(native.toBuffer(t.h)) });
  }
  atomicWriteFile(path, encodeSafetensors(raw, metadata));
}
