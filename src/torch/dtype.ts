// dtypes as PyTorch names them, and their c10::ScalarType codes (the enum's integer values).
export type FloatDType = 'float32' | 'float64' | 'float16' | 'bfloat16';
export type IntDType = 'int64' | 'int32' | 'int16' | 'int8' | 'uint8';
export type DType = FloatDType | IntDType | 'bool';

export const DTYPE_CODE: Readonly<Record<DType, number>> = {
  uint8: 0,
  int8: 1,
  int16: 2,
  int32: 3,
  int64: 4,
  float16: 5,
  float32: 6,
  float64: 7,
  bool: 11,
  bfloat16: 15,
};

/** True for the dtype names (so a string can be told from a device string). */
export function isDType(s: string): s is DType {
  return Object.prototype.hasOwnProperty.call(DTYPE_CODE, s);
}

const BY_CODE: ReadonlyMap<number, DType> = new Map(Object.entries(DTYPE_CODE).map(([k, v]) => [v, k as DType]));

export function dtypeFromCode(code: number): DType {
  const d = BY_CODE.get(code);
  if (d === undefined) throw new Error(`unsupported libtorch dtype code ${code}`);
  return d;
}

export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  uint8: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  float16: 2,
  float32: 4,
  float64: 8,
  bool: 1,
  bfloat16: 2,
};

export function isFloating(d: DType): d is FloatDType {
  return d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
}

/** Integral or bool: a JS integer scalar combined with such a tensor is an int Scalar. */
export function isIntegral(d: DType): boolean {
  return !isFloating(d);
}

/** The JS typed array for each dtype; float16/bfloat16 come back as their raw bits (Uint16Array). */
export type TypedArrayFor<D extends DType> = D extends 'float32'
  ? Float32Array
  : D extends 'float64'
    ? Float64Array
    : D extends 'int64'
      ? BigInt64Array
      : D extends 'int32'
        ? Int32Array
        : D extends 'int16'
          ? Int16Array
          : D extends 'int8'
            ? Int8Array
            : D extends 'uint8' | 'bool'
              ? Uint8Array
              : Uint16Array;

export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array;

export function typedArrayFor<D extends DType>(d: D, buffer: ArrayBuffer, byteOffset = 0, length?: number): TypedArrayFor<D> {
  const n = length ?? (buffer.byteLength - byteOffset) / DTYPE_BYTES[d];
  switch (d) {
    case 'float32':
      return new Float32Array(buffer, byteOffset, n) as TypedArrayFor<D>;
    case 'float64':
      return new Float64Array(buffer, byteOffset, n) as TypedArrayFor<D>;
    case 'int64':
      return new BigInt64Array(buffer, byteOffset, n) as TypedArrayFor<D>;
    case 'int32':
      return new Int32Array(buffer, byteOffset, n) as TypedArrayFor<D>;
    case 'int16':
      return new Int16Array(buffer, byteOffset, n) as TypedArrayFor<D>;
    case 'int8':
      return new Int8Array(buffer, byteOffset, n) as TypedArrayFor<D>;
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer, byteOffset, n) as TypedArrayFor<D>;
    default:
      return new Uint16Array(buffer, byteOffset, n) as TypedArrayFor<D>;
  }
}

/** The dtype a typed array holds by default (Uint8Array -> uint8, Float32Array -> float32, ...). */
export function dtypeOfTypedArray(a: AnyTypedArray): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  throw new Error('a Uint16Array is ambiguous (float16 or bfloat16 bits): pass the dtype explicitly');
}

/** c10::MemoryFormat codes. */
export const MEMORY_FORMAT = { contiguous: 0, preserve: 1, channelsLast: 2, channelsLast3d: 3 } as const;
export type MemoryFormat = keyof typeof MEMORY_FORMAT;
