// The safetensors container format, parsed defensively: 8-byte little-endian header length, a JSON
// header, then raw little-endian C-order data. Pure TypeScript with no tensor engine, so the data
// layer and tools can read files without libtorch. Every size, offset and dtype is checked against
// the file before any allocation that depends on it: a hostile file gets a SafetensorsError.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export interface SafetensorsEntry {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Byte range inside the data section, [begin, end). */
  readonly dataOffsets: readonly [number, number];
}

export interface SafetensorsHeader {
  readonly entries: ReadonlyMap<string, SafetensorsEntry>;
  readonly metadata: Readonly<Record<string, string>>;
  /** Absolute byte offset of the data section in the file. */
  readonly dataStart: number;
}

export class SafetensorsError extends Error {
  readonly code = 'E_SAFETENSORS';
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`Invalid safetensors file ${file}: ${detail}`);
    this.name = 'SafetensorsError';
  }
}

/** The reference implementation refuses headers over 100 MB; so do we (a header is JSON metadata). */
export const MAX_HEADER_BYTES = 100_000_000;
const MAX_RANK = 32;

/**
 * Validate a parsed header against the size of the data section. Checks: known dtypes, integer
 * non-negative dims, offsets in bounds, size = numel x itemsize, no two tensors overlapping, and no
 * unclaimed gap (the reference writer packs tensors back to back; a gap means a corrupt file).
 */
export function parseHeaderJson(file: string, json: string, dataBytes: number, dataStart: number): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (e) {
    throw new SafetensorsError(file, `header is not valid JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SafetensorsError(file, 'header must be a JSON object');
  }
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(file, value);
      continue;
    }
    entries.set(name, parseEntry(file, name, value, dataBytes));
  }
  const sorted = [...entries.entries()].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0]);
  let cursor = 0;
  for (const [name, e] of sorted) {
    const [begin, end] = e.dataOffsets;
    if (begin < cursor) throw new SafetensorsError(file, `tensor "${name}" overlaps the previous tensor (offset ${begin} < ${cursor})`);
    if (begin > cursor) throw new SafetensorsError(file, `gap of ${begin - cursor} bytes before tensor "${name}" in the data section`);
    cursor = end;
  }
  if (cursor !== dataBytes) {
    throw new SafetensorsError(file, `data section has ${dataBytes} bytes but the tensors describe ${cursor}`);
  }
  return { entries, metadata, dataStart };
}

function parseMetadata(file: string, value: unknown): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SafetensorsError(file, '__metadata__ must be an object of strings');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new SafetensorsError(file, `__metadata__["${k}"] must be a string`);
    out[k] = v;
  }
  return out;
}

function parseEntry(file: string, name: string, value: unknown, dataBytes: number): SafetensorsEntry {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new SafetensorsError(file, `entry "${name}" must be an object`);
  }
  const v = value as Record<string, unknown>;
  const dtype = v['dtype'];
  if (typeof dtype !== 'string' || !(dtype in SAFETENSORS_DTYPE_BYTES)) {
    throw new SafetensorsError(file, `tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
  }
  const shape = v['shape'];
  if (!Array.isArray(shape) || shape.length > MAX_RANK) {
    throw new SafetensorsError(file, `tensor "${name}" shape must be an array of at most ${MAX_RANK} dims`);
  }
  let numel = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new SafetensorsError(file, `tensor "${name}" has an invalid dim ${JSON.stringify(d)}`);
    }
    numel *= d;
    if (numel > dataBytes) numel = dataBytes + 1; // stays finite; the size check below reports it
  }
  const offs = v['data_offsets'];
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)) {
    throw new SafetensorsError(file, `tensor "${name}" data_offsets must be two non-negative integers`);
  }
  const [begin, end] = offs as [number, number];
  if (end < begin) throw new SafetensorsError(file, `tensor "${name}" has data_offsets end < begin`);
  if (end > dataBytes) {
    throw new SafetensorsError(
      file,
      `tensor "${name}" data_offsets [${begin}, ${end}] run past the end of the data section (${dataBytes} bytes)`,
    );
  }
  const expected = numel * SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDType];
  if (expected !== end - begin) {
    throw new SafetensorsError(
      file,
      `tensor "${name}" (${dtype}, shape [${shape.join(', ')}]) needs ${expected} bytes but data_offsets give ${end - begin}`,
    );
  }
  return { dtype: dtype as SafetensorsDType, shape: shape as number[], dataOffsets: [begin, end] };
}

/** Read and validate only the header of a file (no tensor data is read). */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  const fd = openSync(file, 'r');
  try {
    return readHeaderFromFd(file, fd);
  } finally {
    closeSync(fd);
  }
}

function readHeaderFromFd(file: string, fd: number): SafetensorsHeader {
  const size = fstatSync(fd).size;
  if (size < 8) throw new SafetensorsError(file, `file is ${size} bytes, shorter than the 8-byte header length`);
  const lenBuf = Buffer.alloc(8);
  readExactly(file, fd, lenBuf, 0);
  const headerLen = lenBuf.readBigUInt64LE(0);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(file, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const n = Number(headerLen);
  if (8 + n > size) throw new SafetensorsError(file, `header length ${n} runs past the end of the file (${size} bytes)`);
  const headerBuf = Buffer.alloc(n);
  readExactly(file, fd, headerBuf, 8);
  return parseHeaderJson(file, headerBuf.toString('utf8'), size - 8 - n, 8 + n);
}

function readExactly(file: string, fd: number, buf: Uint8Array, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const got = readSync(fd, buf, done, buf.length - done, position + done);
    if (got === 0) throw new SafetensorsError(file, `unexpected end of file at byte ${position + done}`);
    done += got;
  }
}

export interface RawTensor {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** The tensor's bytes, little-endian C order, in their own aligned buffer. */
  readonly bytes: Uint8Array;
}

/**
 * Read tensors as raw bytes. `names` limits what is read (unknown names are an error). Each tensor
 * gets its own 8-byte aligned buffer so typed-array views over it are always valid.
 */
export function readSafetensorsRaw(
  file: string,
  names?: readonly string[],
): { tensors: Map<string, RawTensor>; metadata: Readonly<Record<string, string>> } {
  const fd = openSync(file, 'r');
  try {
    const header = readHeaderFromFd(file, fd);
    const wanted = names ?? [...header.entries.keys()];
    const tensors = new Map<string, RawTensor>();
    for (const name of wanted) {
      const e = header.entries.get(name);
      if (!e) throw new SafetensorsError(file, `no tensor named "${name}"`);
      const [begin, end] = e.dataOffsets;
      const bytes = new Uint8Array(new ArrayBuffer(end - begin));
      readExactly(file, fd, bytes, header.dataStart + begin);
      tensors.set(name, { dtype: e.dtype, shape: e.shape, bytes });
    }
    return { tensors, metadata: header.metadata };
  } finally {
    closeSync(fd);
  }
}

/** Typed view of raw bytes for the dtypes JS has arrays for (F16/BF16 come back as Uint16Array). */
export function rawToTypedArray(
  t: RawTensor,
): Float64Array | Float32Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array {
  const { buffer, byteOffset, byteLength } = t.bytes;
  const n = byteLength / SAFETENSORS_DTYPE_BYTES[t.dtype];
  switch (t.dtype) {
    case 'F64':
      return new Float64Array(buffer, byteOffset, n);
    case 'F32':
      return new Float32Array(buffer, byteOffset, n);
    case 'I64':
      return new BigInt64Array(buffer, byteOffset, n);
    case 'I32':
      return new Int32Array(buffer, byteOffset, n);
    case 'I16':
      return new Int16Array(buffer, byteOffset, n);
    case 'I8':
      return new Int8Array(buffer, byteOffset, n);
    case 'F16':
    case 'BF16':
      return new Uint16Array(buffer, byteOffset, n);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(buffer, byteOffset, n);
  }
}

/**
 * Serialize raw tensors into one buffer in the reference layout: the header padded with spaces to a
 * multiple of 8, tensors sorted by dtype alignment (descending) then name, back to back.
 */
export function encodeSafetensors(tensors: ReadonlyMap<string, RawTensor>, metadata?: Readonly<Record<string, string>>): Buffer[] {
  const names = [...tensors.keys()].sort((a, b) => {
    const da = SAFETENSORS_DTYPE_BYTES[tensors.get(a)!.dtype];
    const db = SAFETENSORS_DTYPE_BYTES[tensors.get(b)!.dtype];
    return db - da || (a < b ? -1 : a > b ? 1 : 0);
  });
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const numel = t.shape.reduce((a, b) => a * b, 1);
    if (numel * SAFETENSORS_DTYPE_BYTES[t.dtype] !== t.bytes.byteLength) {
      throw new Error(
        `saveSafetensors: tensor "${name}" has ${t.bytes.byteLength} bytes, expected ${numel * SAFETENSORS_DTYPE_BYTES[t.dtype]}`,
      );
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.byteLength] };
    offset += t.bytes.byteLength;
  }
  let json = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += ' '.repeat(pad);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  return [
    len,
    Buffer.from(json, 'utf8'),
    ...names.map((n) => Buffer.from(tensors.get(n)!.bytes.buffer, tensors.get(n)!.bytes.byteOffset, tensors.get(n)!.bytes.byteLength)),
  ];
}
