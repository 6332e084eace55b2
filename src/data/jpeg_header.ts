// A JPEG's size and component count read from its frame header (SOFn) in JavaScript. The decoder
// needs them before decoding (the decompression-bomb check and the colour handling); asking sharp
// for them is a whole libvips call (~0.2 ms of CPU per photo, more in a cold worker thread). Only
// the plain cases are answered here, 8-bit samples with 1 (grey) or 3 (YCbCr/RGB) components: anything
// else (CMYK/YCCK, 12-bit, a height given later in a DNL segment, a malformed stream) gives null
// and the caller asks sharp, which is also the decoder that reports broken files.

export interface JpegFrame {
  readonly width: number;
  readonly height: number;
  /** 1 or 3. */
  readonly components: 1 | 3;
}

/** Markers without a length field: TEM, RST0-7 (SOI and EOI cannot come before the frame). */
const standalone = (m: number): boolean => m === 0x01 || (m >= 0xd0 && m <= 0xd7);

/** SOF0-3, 5-7, 9-11, 13-15 (0xc4 DHT, 0xc8 JPG and 0xcc DAC share the range but are not frames). */
const isFrame = (m: number): boolean => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

export function jpegFrame(b: Uint8Array): JpegFrame | null {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return null;
    const m = b[p + 1]!;
    if (m === 0xff) {
      p++; // fill byte
      continue;
    }
    if (standalone(m)) {
      p += 2;
      continue;
    }
    const len = (b[p + 2]! << 8) | b[p + 3]!;
    if (len < 2) return null;
    if (isFrame(m)) {
      if (p + 10 > b.length || len < 8) return null;
      const precision = b[p + 4]!;
      const height = (b[p + 5]! << 8) | b[p + 6]!;
      const width = (b[p + 7]! << 8) | b[p + 8]!;
      const components = b[p + 9]!;
      if (precision !== 8 || height === 0 || width === 0 || (components !== 1 && components !== 3)) return null;
      return { width, height, components };
    }
    if (m === 0xda || m === 0xd9) return null; // scan data or the end before any frame header
    p += 2 + len;
  }
  return null;
}
