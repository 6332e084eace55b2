// Image decoding on sharp (libvips), converted to RGB the way PIL's `Image.open(f).convert("RGB")`
// does it, because that is how timm loads every image:
// - no EXIF orientation is applied (timm does not call ImageOps.exif_transpose) and no ICC profile
//   is applied (PIL ignores it; sharp would convert to sRGB, so we pass ignoreIcc);
// - alpha is dropped, not composited (PIL's RGBA -> RGB conversion just discards A);
// - greyscale is replicated to three channels;
// - CMYK uses PIL's naive formula (cmyk2rgb in Convert.c): R = clip(nk - nk * C / 255) with
//   nk = 255 - K, in PIL's MULDIV255 integer rounding (libvips would use a colour profile);
// - 16-bit: PIL keeps the high byte of 16-bit RGB(A) and grey+alpha, but opens 16-bit greyscale as an
//   integer image whose conversion to RGB CLIPS at 255 (mostly white). `highBitDepth: 'pil'` (the
//   default) reproduces that; 'shift' takes the high byte everywhere (a sane 16 -> 8 bit conversion);
// - multi-frame files (GIF, TIFF, WebP): the first frame. GIF transparency is an exception: PIL
//   returns the palette colour of the transparent index while libvips returns RGBA with its own
//   colour under alpha 0; the RGB of fully transparent GIF pixels can differ from PIL.
// JPEG decoding with sharp's libjpeg-turbo-derived decoder matched Pillow 9.4 (libjpeg-turbo) bit for
// bit on the fixture image (same ISLOW IDCT and fancy upsampling). Plain JPEGs (8-bit, grey or
// colour) go to libjpeg itself through the image addon when it was built with it (jpeg.cc).
//
// Decompression bombs: a small file can promise gigabytes of pixels (a constant 16000x16000 16-bit
// RGBA PNG is 22 MB and decodes to 1.9 GiB). The header is read first and the image refused when its
// pixel count (maxPixels) or its decoded size (maxDecodedBytes: width x height x channels x bytes
// per sample; only the first page of a multi-page file is ever decoded) is over the limit, before
// anything is allocated. A DecodeBudget, when given, is reserved for the whole decode so concurrent
// decodes share a byte limit.
import { readFile } from 'node:fs/promises';
import type sharp from 'sharp';
import { type ImageU8, rgbToGray } from './image.js';
import type { DecodeBudget } from './decode_budget.js';
import { type JpegFrame, jpegFrame } from './jpeg_header.js';
import { type NativeImage, nativeImage } from './native_image.js';

export type HighBitDepthMode = 'pil' | 'shift';

export interface LoadImageOptions {
  /** How 16-bit images become 8-bit (see above). Default 'pil'. */
  readonly highBitDepth?: HighBitDepthMode;
  /** Output channels: 3 (PIL convert("RGB"), default) or 1 (convert("L") with PIL's luma formula). */
  readonly channels?: 1 | 3;
  /** Refuse images with more pixels than this (decompression bombs). Default 2^28 like sharp. */
  readonly maxPixels?: number;
  /**
   * Refuse images whose decoded pixels (width x height x channels x bytes per sample, from the
   * header) are larger than this many bytes. Default 512 MiB.
   */
  readonly maxDecodedBytes?: number;
}

export const DEFAULT_MAX_DECODED_BYTES = 512 * 1024 * 1024;

/** What an image's header says about its decode, read without decoding it. */
export interface ImageHeader {
  readonly width: number;
  readonly height: number;
  /** Bands in the file (alpha included). */
  readonly channels: number;
  readonly bitsPerSample: number;
  /** width x height x channels x bytes per sample: libvips' decoded buffer (first page). */
  readonly decodedBytes: number;
  /** Everything one decode holds at its peak: the decoded buffer plus our 8-bit copy(ies). */
  readonly peakBytes: number;
  /** The returned ImageU8's bytes. */
  readonly outputBytes: number;
}

export type ImageDecodeErrorCode = 'E_IMAGE_NOT_FOUND' | 'E_IMAGE_DECODE' | 'E_IMAGE_TOO_LARGE';

export class ImageDecodeError extends Error {
  constructor(
    readonly code: ImageDecodeErrorCode,
    /** The file path, or "<buffer>" for in-memory input. */
    readonly file: string,
    detail: string,
  ) {
    super(`cannot decode image ${file}: ${detail}`);
    this.name = 'ImageDecodeError';
  }
}

const DEFAULT_MAX_PIXELS = 0x3fff * 0x3fff;

/**
 * Decode a file path or encoded bytes into an 8-bit RGB (or L) image, PIL-style. With `budget`, the
 * decode's peak bytes (from the header) are reserved there first and released when it is done.
 */
export async function loadImage(source: string | Uint8Array, opts: LoadImageOptions = {}, budget?: DecodeBudget): Promise<ImageU8> {
  const file = typeof source === 'string' ? source : '<buffer>';
  let bytes: Uint8Array;
  if (typeof source === 'string') {
    try {
      bytes = await readFile(source);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new ImageDecodeError(err.code === 'ENOENT' ? 'E_IMAGE_NOT_FOUND' : 'E_IMAGE_DECODE', file, err.message);
    }
  } else {
    bytes = source;
  }
  return decodeImage(bytes, file, opts, budget);
}

// sharp is loaded on first use: a loader worker that only meets plain JPEGs (decoded by the image
// addon) never pays for compiling sharp's JavaScript (~40-50 ms of CPU per worker thread, measured).
let sharpModule: Promise<typeof sharp> | undefined;
const loadSharp = (): Promise<typeof sharp> => (sharpModule ??= import('sharp').then((m) => m.default));

// `maxPixels: false` for a header read: metadata() decodes no pixel, and with sharp's own limit a bomb
// would fail as an unreadable file (E_IMAGE_DECODE) before checkHeader can call it too large.
const sharpInput = async (input: string | Uint8Array, maxPixels: number | false): Promise<sharp.Sharp> =>
  (await loadSharp())(input, {
    failOn: 'truncated',
    ignoreIcc: true,
    page: 0,
    pages: 1,
    limitInputPixels: maxPixels,
    sequentialRead: true,
  });

/**
 * Read only the header of a file (or bytes) and check it against the limits: throws
 * ImageDecodeError (E_IMAGE_TOO_LARGE for a bomb) without decoding any pixel.
 */
export async function readImageHeader(source: string | Uint8Array, opts: LoadImageOptions = {}): Promise<ImageHeader> {
  const file = typeof source === 'string' ? source : '<buffer>';
  let meta: sharp.Metadata;
  try {
    meta = await (await sharpInput(source, false)).metadata();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    // sharp reports a missing file as a plain error; keep our not-found code for it.
    const missing = typeof source === 'string' && /Input file is missing/.test(err.message);
    throw new ImageDecodeError(missing ? 'E_IMAGE_NOT_FOUND' : 'E_IMAGE_DECODE', file, err.message);
  }
  return checkHeader(meta, file, opts);
}

const BYTES_PER_SAMPLE: Readonly<Record<string, number>> = {
  uchar: 1,
  char: 1,
  ushort: 2,
  short: 2,
  uint: 4,
  int: 4,
  float: 4,
  complex: 8,
  double: 8,
  dpcomplex: 16,
};

function formatBytes(n: number): string {
  const [v, unit] = n >= 1024 ** 3 ? [n / 1024 ** 3, 'GiB'] : [n / 1024 ** 2, 'MiB'];
  return `${v.toFixed(1).replace(/\.0$/, '')} ${unit}`;
}

/** What the decode needs from a header (sharp's metadata, or jpeg_header.ts for plain JPEGs). */
type HeaderFacts = Pick<sharp.Metadata, 'width' | 'height' | 'channels' | 'depth' | 'space'>;

function checkHeader(meta: HeaderFacts, file: string, opts: LoadImageOptions): ImageHeader {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const maxBytes = opts.maxDecodedBytes ?? DEFAULT_MAX_DECODED_BYTES;
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (width * height > maxPixels)
    throw new ImageDecodeError('E_IMAGE_TOO_LARGE', file, `${width}x${height} exceeds the ${maxPixels}-pixel limit`);
  const channels = meta.channels ?? 3;
  const bps = BYTES_PER_SAMPLE[meta.depth ?? 'uchar'] ?? 1;
  const decodedBytes = width * height * channels * bps;
  if (decodedBytes > maxBytes)
    throw new ImageDecodeError(
      'E_IMAGE_TOO_LARGE',
      file,
      `${width}x${height}, ${channels} channels of ${bps * 8} bits decode to ${formatBytes(decodedBytes)}, over the ` +
        `${formatBytes(maxBytes)} per-image limit (a decompression bomb?); downscale the file, or raise LoadImageOptions.maxDecodedBytes`,
    );
  const outputBytes = width * height * (opts.channels ?? 3);
  // The RGB copy always exists; an L output is made from it.
  const peakBytes = decodedBytes + width * height * 3 + (opts.channels === 1 ? outputBytes : 0);
  return { width, height, channels, bitsPerSample: bps * 8, decodedBytes, peakBytes, outputBytes };
}

/** As loadImage, for bytes already in memory; `file` names the source in errors. */
export async function decodeImage(
  bytes: Uint8Array,
  file = '<buffer>',
  opts: LoadImageOptions = {},
  budget?: DecodeBudget,
): Promise<ImageU8> {
  const make = () => sharpInput(bytes, opts.maxPixels ?? DEFAULT_MAX_PIXELS);
  // A plain JPEG's header is read here; sharp's metadata() (what libvips reports for it: 'srgb' or
  // 'b-w', 8-bit) is asked for everything else.
  const frame = jpegFrame(bytes);
  let meta: HeaderFacts;
  if (frame) {
    meta = {
      width: frame.width,
      height: frame.height,
      channels: frame.components,
      depth: 'uchar',
      space: frame.components === 3 ? 'srgb' : 'b-w',
    };
  } else {
    try {
      meta = await (await sharpInput(bytes, false)).metadata();
    } catch (e) {
      throw new ImageDecodeError('E_IMAGE_DECODE', file, (e as Error).message);
    }
  }
  const header = checkHeader(meta, file, opts);
  const release = budget ? await budget.reserve(header.peakBytes) : null;
  try {
    const native = frame ? nativeImage() : null;
    if (frame && native?.decodeJpeg) return await decodeJpegNative(native.decodeJpeg, bytes, frame, file, opts);
    return await decodeChecked(make, meta, file, opts);
  } finally {
    release?.();
  }
}

/**
 * A plain JPEG through the image addon's libjpeg decoder (native/image/src/jpeg.cc: PIL's library
 * and settings, so PIL's pixels; ~2-3x faster than the same decoder inside sharp's pipeline).
 */
async function decodeJpegNative(
  decodeJpeg: NonNullable<NativeImage['decodeJpeg']>,
  bytes: Uint8Array,
  frame: JpegFrame,
  file: string,
  opts: LoadImageOptions,
): Promise<ImageU8> {
  const data = new Uint8Array(frame.width * frame.height * 3);
  try {
    await decodeJpeg(bytes, frame.width, frame.height, data);
  } catch (e) {
    throw new ImageDecodeError('E_IMAGE_DECODE', file, (e as Error).message);
  }
  const img: ImageU8 = { width: frame.width, height: frame.height, channels: 3, data };
  return opts.channels === 1 ? rgbToGray(img) : img;
}

async function decodeChecked(make: () => Promise<sharp.Sharp>, meta: HeaderFacts, file: string, opts: LoadImageOptions): Promise<ImageU8> {
  const space = meta.space ?? 'srgb';
  const sixteen = meta.depth === 'ushort';
  // Keep the decoded colour space (no conversion by libvips); we convert below like PIL.
  const keep = space === 'cmyk' || space === 'b-w' || space === 'grey16' || space === 'rgb16' || space === 'srgb' ? space : 'srgb';
  let raw: { data: Buffer; info: sharp.OutputInfo };
  const depth16 = sixteen && (keep === 'grey16' || keep === 'rgb16');
  try {
    // For CMYK the pipeline itself must stay CMYK, or libvips round-trips through sRGB with a profile.
    const input = await make();
    const pipeline = keep === 'cmyk' ? input.pipelineColourspace('cmyk') : input;
    raw = await pipeline
      .toColourspace(keep)
      .raw({ depth: depth16 ? 'ushort' : 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new ImageDecodeError('E_IMAGE_DECODE', file, (e as Error).message);
  }
  const { info } = raw;
  const n = info.width * info.height;
  const bands = info.channels;
  if (keep !== 'cmyk' && !depth16 && bands === 3) {
    // Already 8-bit RGB: libvips' buffer is the image (a copy would cost ~0.2 ms of page faults per photo).
    const img: ImageU8 = {
      width: info.width,
      height: info.height,
      channels: 3,
      data: new Uint8Array(raw.data.buffer, raw.data.byteOffset, n * 3),
    };
    return opts.channels === 1 ? rgbToGray(img) : img;
  }
  const rgb = new Uint8Array(n * 3);
  if (keep === 'cmyk') {
    if (bands < 4) throw new ImageDecodeError('E_IMAGE_DECODE', file, `CMYK image decoded with ${bands} bands`);
    cmykToRgb(raw.data, bands, rgb);
  } else if (depth16) {
    const v = new Uint16Array(raw.data.buffer, raw.data.byteOffset, raw.data.length >> 1);
    // PIL: grey16 without alpha is an "I" image (RGB conversion clips); with alpha, "LA;16B" (high byte).
    const clipGrey = (opts.highBitDepth ?? 'pil') === 'pil' && bands === 1;
    expand16(v, bands, rgb, clipGrey);
  } else {
    expand8(raw.data, bands, rgb);
  }
  const img: ImageU8 = { width: info.width, height: info.height, channels: 3, data: rgb };
  return opts.channels === 1 ? rgbToGray(img) : img;
}

/** 1 (L), 2 (LA), 4 (RGBA) bands of 8 bits -> RGB, alpha dropped (3 bands need no conversion). */
function expand8(src: Uint8Array, bands: number, out: Uint8Array): void {
  const n = out.length / 3;
  const grey = bands <= 2;
  for (let i = 0, p = 0, o = 0; i < n; i++, p += bands, o += 3) {
    if (grey) {
      const v = src[p]!;
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    } else {
      out[o] = src[p]!;
      out[o + 1] = src[p + 1]!;
      out[o + 2] = src[p + 2]!;
    }
  }
}

function expand16(src: Uint16Array, bands: number, out: Uint8Array, clipGrey: boolean): void {
  const n = out.length / 3;
  const grey = bands <= 2;
  for (let i = 0, p = 0, o = 0; i < n; i++, p += bands, o += 3) {
    if (grey) {
      const s = src[p]!;
      const v = clipGrey ? (s > 255 ? 255 : s) : s >>> 8;
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    } else {
      out[o] = src[p]! >>> 8;
      out[o + 1] = src[p + 1]! >>> 8;
      out[o + 2] = src[p + 2]! >>> 8;
    }
  }
}

/** PIL cmyk2rgb: nk = 255 - K; X = clip8(nk - MULDIV255(C, nk)). */
function cmykToRgb(src: Uint8Array, bands: number, out: Uint8Array): void {
  const n = out.length / 3;
  const muldiv255 = (a: number, b: number): number => {
    const t = a * b + 128;
    return ((t >>> 8) + t) >>> 8;
  };
  for (let i = 0, p = 0, o = 0; i < n; i++, p += bands, o += 3) {
    const nk = 255 - src[p + 3]!;
    for (let c = 0; c < 3; c++) {
      const v = nk - muldiv255(src[p + c]!, nk);
      out[o + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
}
