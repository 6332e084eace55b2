// Mirror images (PIL `transpose(FLIP_LEFT_RIGHT)` / `FLIP_TOP_BOTTOM`).
import type { ImageU8 } from '../image.js';

export function hflip(img: ImageU8): ImageU8 {
  const { width, height, channels: ch } = img;
  const out = new Uint8Array(img.data.length);
  const sd = img.data;
  for (let y = 0; y < height; y++) {
    const row = y * width * ch;
    for (let x = 0, xr = width - 1; x < width; x++, xr--) {
      const s = row + x * ch;
      const d = row + xr * ch;
      for (let c = 0; c < ch; c++) out[d + c] = sd[s + c]!;
    }
  }
  return { width, height, channels: ch, data: out };
}

export function vflip(img: ImageU8): ImageU8 {
  const { width, height, channels: ch } = img;
  const out = new Uint8Array(img.data.length);
  const rowBytes = width * ch;
  for (let y = 0; y < height; y++) {
    out.set(img.data.subarray(y * rowBytes, (y + 1) * rowBytes), (height - 1 - y) * rowBytes);
  }
  return { width, height, channels: ch, data: out };
}
