// Minimal PNG and TIFF writers for tests: they produce files with exactly known samples (16-bit,
// alpha, CMYK) so decode results can be checked against PIL's documented conversions.
import { crc32, deflateSync } from 'node:zlib';

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td) >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** PNG from samples (row-major, interleaved). colorType: 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA. */
export function encodePng(width: number, height: number, colorType: 0 | 2 | 4 | 6, bitDepth: 8 | 16, samples: ArrayLike<number>): Buffer {
  const bands = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType];
  const bps = bitDepth / 8;
  const rowBytes = width * bands * bps;
  const raw = Buffer.alloc((rowBytes + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (rowBytes + 1)] = 0;
    for (let i = 0; i < width * bands; i++) {
      const v = samples[y * width * bands + i]!;
      const o = y * (rowBytes + 1) + 1 + i * bps;
      if (bps === 2) raw.writeUInt16BE(v, o);
      else raw[o] = v;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = bitDepth;
  ihdr[9] = colorType;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * An 8-bit RGB PNG whose header claims width x height but whose data is a few bytes: a decompression
 * bomb's header without its gigabytes, for the limits checked before any pixel is decoded.
 */
export function pngClaiming(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(64))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Uncompressed little-endian CMYK TIFF (PhotometricInterpretation 5), 8 bits per sample. */
export function encodeCmykTiff(width: number, height: number, samples: ArrayLike<number>): Buffer {
  const data = Buffer.from(Array.from(samples));
  const entries: [number, number, number, number][] = [
    // tag, type (3 SHORT, 4 LONG), count, value
    [256, 4, 1, width],
    [257, 4, 1, height],
    [258, 3, 4, 0], // BitsPerSample: offset patched below
    [259, 3, 1, 1], // no compression
    [262, 3, 1, 5], // separated (CMYK)
    [273, 4, 1, 0], // StripOffsets: patched
    [277, 3, 1, 4], // SamplesPerPixel
    [278, 4, 1, height],
    [279, 4, 1, data.length],
    [284, 3, 1, 1], // chunky
  ];
  const ifdOffset = 8;
  const ifdSize = 2 + entries.length * 12 + 4;
  const bpsOffset = ifdOffset + ifdSize;
  const dataOffset = bpsOffset + 8;
  const buf = Buffer.alloc(dataOffset + data.length);
  buf.write('II', 0, 'ascii');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(ifdOffset, 4);
  buf.writeUInt16LE(entries.length, ifdOffset);
  entries.forEach(([tag, type, count, value], i) => {
    const o = ifdOffset + 2 + i * 12;
    buf.writeUInt16LE(tag, o);
    buf.writeUInt16LE(type, o + 2);
    buf.writeUInt32LE(count, o + 4);
    if (tag === 258) buf.writeUInt32LE(bpsOffset, o + 8);
    else if (tag === 273) buf.writeUInt32LE(dataOffset, o + 8);
    else if (type === 3) buf.writeUInt16LE(value, o + 8);
    else buf.writeUInt32LE(value, o + 8);
  });
  for (let i = 0; i < 4; i++) buf.writeUInt16LE(8, bpsOffset + i * 2);
  data.copy(buf, dataOffset);
  return buf;
}
