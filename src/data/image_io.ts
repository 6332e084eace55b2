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
// bit on the fixture image (same ISLOW IDCT and fancy upsampling).
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { type ImageU8, rgbToGray } from './image.js';

export type HighBitDepthMode = 'pil' | 'shift';

export interface LoadImageOptions {
  /** How 16-bit images become 8-bit (see above). Default 'pil'. */
  readonly highBitDepth?: HighBitDepthMode;
  /** Output channels: 3 (PIL convert("RGB"), default) or 1 (convert("L") with PIL's luma formula). */
  readonly channels?: 1 | 3;
  /** Refuse images with more pixels than this (decompression bombs). Default 2^28 like sharp. */
  readonly maxPixels?: number;
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

/** Decode a file path or encoded bytes into an 8-bit RGB (or L) image, PIL-style. */
export async function loadImage(source: string | Uint8Array, opts: LoadImageOptions = {}): Promise<ImageU8> {
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
  return decodeImage(bytes, file, opts);
}

/** As loadImage, for bytes already in memory; `file` names the source in errors. */
export async function decodeImage(bytes: Uint8Array, file = '<buffer>', opts: LoadImageOptions = {}): Promise<ImageU8> {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const make = () =>
    sharp(bytes, { failOn: 'truncated', ignoreIcc: true, page: 0, pages: 1, limitInputPixels: maxPixels, sequentialRead: true });
  let meta: sharp.Metadata;
  try {
    meta = await make().metadata();
  } catch (e) {
    throw new ImageDecodeError('E_IMAGE_DECODE', file, (e as Error).message);
  }
  const w = meta.width ?? 0;
  const h = meta.height ?? 0;
  if (w * h > maxPixels) throw new ImageDecodeError('E_IMAGE_TOO_LARGE', file, `${w}x${h} exceeds the ${maxPixels}-pixel limit`);
  const space = meta.space ?? 'srgb';
  const sixteen = meta.depth === 'ushort';
  // Keep the decoded colour space (no conversion by libvips); we convert below like PIL.
  const keep = space === 'cmyk' || space === 'b-w' || space === 'grey16' || space === 'rgb16' || space === 'srgb' ? space : 'srgb';
  let raw: { data: Buffer; info: sharp.OutputInfo };
  const depth16 = sixteen && (keep === 'grey16' || keep === 'rgb16');
  try {
    // For CMYK the pipeline itself must stay CMYK, or libvips round-trips through sRGB with a profile.
    const pipeline = keep === 'cmyk' ? make().pipelineColourspace('cmyk') : make();
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

/** 1 (L), 2 (LA), 3 (RGB), 4 (RGBA) bands of 8 bits -> RGB, alpha dropped. */
function expand8(src: Uint8Array, bands: number, out: Uint8Array): void {
  const n = out.length / 3;
  if (bands === 3) {
    out.set(src.subarray(0, n * 3));
    return;
  }
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
