// The image operations behind timm's RandAugment/AutoAugment, reproducing Pillow 9.4 bit for bit on
// 8-bit "RGB" and "L" images. Every function returns a new image and never mutates its input.
//
// Where the Pillow arithmetic lives (and why the code below looks the way it does):
// - LUT ops (ImageOps.autocontrast/equalize/invert/posterize/solarize, timm's solarize_add): Python
//   integer/float formulas building a 256-entry table per band, then `Image.point`.
// - ImageEnhance.*: `Image.blend(degenerate, image, factor)`, i.e. ImagingBlend in Blend.c, which
//   computes in C *float* (factor is cast to float): out = in1 + factor * (in2 - in1), truncated, and
//   clipped only when extrapolating (factor outside [0, 1]). Math.fround reproduces the float32 steps.
// - Color: degenerate = convert("L") with the 16.16 fixed-point luma (rgb2l in Convert.c).
// - Contrast: degenerate = constant int(mean(L) + 0.5).
// - Sharpness: degenerate = ImageFilter.SMOOTH (3x3 [1 1 1; 1 5 1; 1 1 1] / 13) through
//   ImagingFilter3x3 in Filter.c: float32 kernel, float32 sums in a fixed order, +0.5 then truncation,
//   and the one-pixel border copied unchanged.
// - Geometry (rotate/shear/translate): `Image.transform(size, AFFINE, data, resample, fillcolor=...)`,
//   an inverse map sampling input (a*x + b*y + c, d*x + e*y + f) at output pixel centres (x + 0.5,
//   y + 0.5). Bilinear and bicubic go through ImagingGenericTransform with Geometry.c's own filters:
//   the bicubic there is the a = -1 cubic convolution on a 4x4 neighbourhood with edge clamping (NOT
//   the antialiased a = -0.5 resize kernel), evaluated in double and truncated to uint8. Nearest goes
//   through the ImagingScaleAffine / 16.16 fixed-point fast paths. Output pixels whose source falls
//   outside the image keep the fill colour (fillcolor given => fill=0 in ImagingTransform).
// - rotate: Image.rotate builds the matrix from cos/sin rounded to 15 decimals and special-cases
//   0/90/180/270 degrees as exact transposes.
//
// The hot loops (the affine transform, SMOOTH, blend, table lookups) run in the image addon when it
// is built (native/image/src/augment.cc, a port of the loops below that gives the same bytes); with
// NOISY_STUDENT_IMAGE_NATIVE=0 or no addon the JavaScript here runs, and stays the reference.
import { type ImageU8, createImage, fillBytes, rgbToGray } from './image.js';
import { type NativeImage, nativeImage } from './native_image.js';
import { roundDigits } from './py_math.js';

export type AffineResample = 'nearest' | 'bilinear' | 'bicubic';
export type Fill = number | readonly number[];

/** The addon when it is built, enabled and has the augment loops (an older build lacks them). */
function native(): NativeImage | null {
  const n = nativeImage();
  return n && typeof n.affine === 'function' ? n : null;
}

// ---------------------------------------------------------------------------------------------
// LUT ops

/** Per-band 256-entry table applied to every pixel (PIL `Image.point` with a 256*bands list). */
export function applyLut(img: ImageU8, lut: Uint8Array): ImageU8 {
  const ch = img.channels;
  if (lut.length !== 256 && lut.length !== 256 * ch) throw new RangeError(`LUT must have 256 or ${256 * ch} entries`);
  const perBand = lut.length !== 256;
  const sd = img.data;
  const out = new Uint8Array(sd.length);
  const n = native();
  if (n) {
    n.lut(sd, ch, lut, out);
    return { width: img.width, height: img.height, channels: ch, data: out };
  }
  if (!perBand || ch === 1) {
    for (let i = 0; i < sd.length; i++) out[i] = lut[sd[i]!]!;
  } else {
    for (let i = 0; i < sd.length; i += ch) {
      for (let c = 0; c < ch; c++) out[i + c] = lut[c * 256 + sd[i + c]!]!;
    }
  }
  return { width: img.width, height: img.height, channels: ch, data: out };
}

/** Per-band histograms, 256 bins each, band-major (PIL `Image.histogram()`). */
export function histogram(img: ImageU8): Float64Array {
  const ch = img.channels;
  const h = new Float64Array(256 * ch);
  const sd = img.data;
  for (let i = 0; i < sd.length; i += ch) {
    for (let c = 0; c < ch; c++) h[c * 256 + sd[i + c]!]!++;
  }
  return h;
}

/** ImageOps.autocontrast(img) with cutoff 0: stretch each band's [lo, hi] to [0, 255]. */
export function autoContrast(img: ImageU8): ImageU8 {
  const h = histogram(img);
  const lut = new Uint8Array(256 * img.channels);
  for (let b = 0; b < img.channels; b++) {
    const o = b * 256;
    let lo = 0;
    for (; lo < 255; lo++) if (h[o + lo]) break;
    let hi = 255;
    for (; hi > 0; hi--) if (h[o + hi]) break;
    if (hi <= lo) {
      for (let i = 0; i < 256; i++) lut[o + i] = i;
    } else {
      const scale = 255.0 / (hi - lo);
      const offset = -lo * scale;
      for (let i = 0; i < 256; i++) {
        const v = Math.trunc(i * scale + offset);
        lut[o + i] = v < 0 ? 0 : v > 255 ? 255 : v;
      }
    }
  }
  return applyLut(img, lut);
}

/** ImageOps.equalize(img): integer cumulative-histogram equalisation per band. */
export function equalize(img: ImageU8): ImageU8 {
  const h = histogram(img);
  const lut = new Uint8Array(256 * img.channels);
  for (let b = 0; b < img.channels; b++) {
    const o = b * 256;
    let nonZero = 0;
    let total = 0;
    let last = 0;
    for (let i = 0; i < 256; i++) {
      const v = h[o + i]!;
      if (v) {
        nonZero++;
        total += v;
        last = v;
      }
    }
    const step = nonZero <= 1 ? 0 : Math.floor((total - last) / 255);
    if (!step) {
      for (let i = 0; i < 256; i++) lut[o + i] = i;
      continue;
    }
    let n = Math.floor(step / 2);
    for (let i = 0; i < 256; i++) {
      const v = Math.floor(n / step);
      lut[o + i] = v > 255 ? 255 : v; // cannot exceed 255 with PIL's step; kept as a guard
      n += h[o + i]!;
    }
  }
  return applyLut(img, lut);
}

export function invert(img: ImageU8): ImageU8 {
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) lut[i] = 255 - i;
  return applyLut(img, lut);
}

/** timm's posterize: keep `bits` most significant bits; 8 or more bits returns the image unchanged. */
export function posterize(img: ImageU8, bits: number): ImageU8 {
  const b = Math.trunc(bits);
  if (b >= 8) return img;
  // ImageOps.posterize: mask = ~(2 ** (8 - bits) - 1); bits <= 0 keeps nothing.
  const mask = b <= 0 ? 0 : ~(2 ** (8 - b) - 1) & 0xff;
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) lut[i] = i & mask;
  return applyLut(img, lut);
}

/** ImageOps.solarize(img, threshold): invert every value >= threshold. */
export function solarize(img: ImageU8, threshold: number): ImageU8 {
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) lut[i] = i < threshold ? i : 255 - i;
  return applyLut(img, lut);
}

/** timm's solarize_add: add `add` (capped at 255) to every value below `threshold`. */
export function solarizeAdd(img: ImageU8, add: number, threshold = 128): ImageU8 {
  const lut = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    const v = i < threshold ? Math.min(255, i + add) : i;
    lut[i] = v < 0 ? 0 : v;
  }
  return applyLut(img, lut);
}

// ---------------------------------------------------------------------------------------------
// ImageEnhance

/** Image.blend(im1, im2, alpha) = ImagingBlend, with alpha as C float. */
export function blend(im1: ImageU8, im2: ImageU8, alpha: number): ImageU8 {
  if (im1.width !== im2.width || im1.height !== im2.height || im1.channels !== im2.channels) {
    throw new RangeError('blend: images must have the same size and channels');
  }
  const a = Math.fround(alpha);
  if (a === 0) return { ...im1, data: im1.data.slice() };
  if (a === 1) return { ...im2, data: im2.data.slice() };
  const d1 = im1.data;
  const d2 = im2.data;
  const out = new Uint8Array(d1.length);
  const n = native();
  if (n && Number.isFinite(a)) {
    n.blend(d1, d2, a, out);
    return { width: im1.width, height: im1.height, channels: im1.channels, data: out };
  }
  if (a >= 0 && a <= 1) {
    for (let i = 0; i < d1.length; i++) {
      const v1 = d1[i]!;
      out[i] = Math.fround(v1 + Math.fround(a * (d2[i]! - v1)));
    }
  } else {
    // Each distinct (in1, in2) pair gives the same value: tabulate nothing, the float math is cheap.
    for (let i = 0; i < d1.length; i++) {
      const v1 = d1[i]!;
      const t = Math.fround(v1 + Math.fround(a * (d2[i]! - v1)));
      out[i] = t <= 0 ? 0 : t >= 255 ? 255 : t; // Uint8Array store truncates like (UINT8)
    }
  }
  return { width: im1.width, height: im1.height, channels: im1.channels, data: out };
}

/** Blend against a constant degenerate image without materialising it. */
function blendConst(img: ImageU8, degenerate: Uint8Array, alpha: number): ImageU8 {
  const a = Math.fround(alpha);
  const ch = img.channels;
  if (a === 1) return { ...img, data: img.data.slice() };
  const out = new Uint8Array(img.data.length);
  // Per channel, the result depends only on the input byte: build a 256-entry table per channel.
  const lut = new Uint8Array(256 * ch);
  const extrap = !(a >= 0 && a <= 1);
  for (let c = 0; c < ch; c++) {
    const v1 = degenerate[c]!;
    for (let v2 = 0; v2 < 256; v2++) {
      const t = a === 0 ? v1 : Math.fround(v1 + Math.fround(a * (v2 - v1)));
      lut[c * 256 + v2] = extrap ? (t <= 0 ? 0 : t >= 255 ? 255 : t) : t;
    }
  }
  const n = native();
  if (n) {
    n.lut(img.data, ch, lut, out);
  } else {
    const sd = img.data;
    for (let i = 0; i < sd.length; i += ch) for (let c = 0; c < ch; c++) out[i + c] = lut[c * 256 + sd[i + c]!]!;
  }
  return { width: img.width, height: img.height, channels: ch, data: out };
}

/** ImageEnhance.Color(img).enhance(factor): blend with the grey (L -> RGB) version. */
export function color(img: ImageU8, factor: number): ImageU8 {
  if (img.channels === 1) return blend(img, img, factor); // L -> L -> L is the identity
  const gray = rgbToGray(img);
  const deg = new Uint8Array(img.data.length);
  for (let i = 0, j = 0; i < gray.data.length; i++, j += 3) {
    const v = gray.data[i]!;
    deg[j] = v;
    deg[j + 1] = v;
    deg[j + 2] = v;
  }
  return blend({ ...img, data: deg }, img, factor);
}

/** ImageEnhance.Contrast(img).enhance(factor): blend with a flat image of the rounded mean luma. */
export function contrast(img: ImageU8, factor: number): ImageU8 {
  const gray = img.channels === 1 ? img : rgbToGray(img);
  const hist = new Float64Array(256);
  const gd = gray.data;
  for (let i = 0; i < gd.length; i++) hist[gd[i]!]!++;
  let sum = 0;
  for (let i = 0; i < 256; i++) sum += i * hist[i]!;
  const mean = Math.trunc(sum / gd.length + 0.5);
  return blendConst(img, fillBytes(img.channels, mean), factor);
}

/** ImageEnhance.Brightness(img).enhance(factor): blend with black. */
export function brightness(img: ImageU8, factor: number): ImageU8 {
  return blendConst(img, new Uint8Array(img.channels), factor);
}

const K1 = Math.fround(1 / 13);
const K5 = Math.fround(5 / 13);

/** ImageFilter.SMOOTH through ImagingFilter3x3 (border pixels copied). */
export function smooth(img: ImageU8): ImageU8 {
  const { width: w, height: h, channels: ch } = img;
  const sd = img.data;
  const n = native();
  if (n && sd.length > 0) {
    const o = new Uint8Array(sd.length);
    n.smooth(sd, w, h, ch, o);
    return { ...img, data: o };
  }
  const out = sd.slice();
  if (w < 3 || h < 3) return { ...img, data: out };
  const stride = w * ch;
  const f = Math.fround;
  for (let y = 1; y < h - 1; y++) {
    const r1 = (y + 1) * stride; // in1 meets kernel[0..2]
    const r0 = y * stride;
    const rm = (y - 1) * stride; // in_1 meets kernel[6..8]
    for (let x = 1; x < w - 1; x++) {
      for (let c = 0; c < ch; c++) {
        const p = x * ch + c;
        let ss = 0.5;
        ss = f(ss + f(f(f(sd[r1 + p - ch]! * K1) + f(sd[r1 + p]! * K1)) + f(sd[r1 + p + ch]! * K1)));
        ss = f(ss + f(f(f(sd[r0 + p - ch]! * K1) + f(sd[r0 + p]! * K5)) + f(sd[r0 + p + ch]! * K1)));
        ss = f(ss + f(f(f(sd[rm + p - ch]! * K1) + f(sd[rm + p]! * K1)) + f(sd[rm + p + ch]! * K1)));
        out[r0 + p] = ss <= 0 ? 0 : ss >= 255 ? 255 : ss;
      }
    }
  }
  return { ...img, data: out };
}

/** ImageEnhance.Sharpness(img).enhance(factor): blend with the SMOOTH-filtered image. */
export function sharpness(img: ImageU8, factor: number): ImageU8 {
  return blend(smooth(img), img, factor);
}

// ---------------------------------------------------------------------------------------------
// Geometry

/** The 6 coefficients of PIL's AFFINE transform: input = (a*x + b*y + c, d*x + e*y + f). */
export type AffineMatrix = readonly [number, number, number, number, number, number];

/**
 * `img.transform(img.size, Image.AFFINE, matrix, resample, fillcolor=fill)` (output size defaults to
 * the input size).
 */
export function affineTransform(
  img: ImageU8,
  matrix: AffineMatrix,
  resample: AffineResample = 'bicubic',
  fill: Fill = 0,
  outWidth = img.width,
  outHeight = img.height,
): ImageU8 {
  const n = native();
  // Non-finite or huge coefficients (a NaN angle) take the JavaScript path, whose NaN handling is
  // the reference; any real augmentation's matrix is small. The addon also does the fill.
  if (n && outWidth * outHeight > 0 && img.data.length > 0 && matrix.every((v) => Math.abs(v) < 1e15)) {
    const out: ImageU8 = {
      width: outWidth,
      height: outHeight,
      channels: img.channels,
      data: new Uint8Array(outWidth * outHeight * img.channels),
    };
    const mode = resample === 'nearest' ? 0 : resample === 'bilinear' ? 1 : 2;
    n.affine(
      img.data,
      img.width,
      img.height,
      img.channels,
      Float64Array.from(matrix),
      mode,
      out.data,
      outWidth,
      outHeight,
      fillBytes(img.channels, fill),
    );
    return out;
  }
  const out = createImage(outWidth, outHeight, img.channels, fill);
  if (out.data.length === 0 || img.data.length === 0) return out;
  if (resample === 'nearest') affineNearest(out, img, matrix);
  else affineGeneric(out, img, matrix, resample);
  return out;
}

function affineGeneric(out: ImageU8, img: ImageU8, m: AffineMatrix, resample: 'bilinear' | 'bicubic'): void {
  const [a0, a1, a2, a3, a4, a5] = m;
  const { width: W, height: H } = out;
  const ch = img.channels;
  const iw = img.width;
  const ih = img.height;
  const sd = img.data;
  const od = out.data;
  const stride = iw * ch;
  for (let y = 0; y < H; y++) {
    const yc = y + 0.5;
    for (let x = 0; x < W; x++) {
      const xc = x + 0.5;
      let xin = a0 * xc + a1 * yc + a2;
      let yin = a3 * xc + a4 * yc + a5;
      if (xin < 0.0 || xin >= iw || yin < 0.0 || yin >= ih) continue;
      xin -= 0.5;
      yin -= 0.5;
      const xi = Math.floor(xin);
      const yi = Math.floor(yin);
      const dx = xin - xi;
      const dy = yin - yi;
      const o = (y * W + x) * ch;
      if (resample === 'bilinear') {
        const x0 = clampIdx(xi, iw) * ch;
        const x1 = clampIdx(xi + 1, iw) * ch;
        const r0 = clampIdx(yi, ih) * stride;
        const hasR1 = yi + 1 >= 0 && yi + 1 < ih;
        const r1 = (yi + 1) * stride;
        for (let c = 0; c < ch; c++) {
          let v1 = sd[r0 + x0 + c]! + (sd[r0 + x1 + c]! - sd[r0 + x0 + c]!) * dx;
          const v2 = hasR1 ? sd[r1 + x0 + c]! + (sd[r1 + x1 + c]! - sd[r1 + x0 + c]!) * dx : v1;
          v1 = v1 + (v2 - v1) * dy;
          od[o + c] = v1; // Uint8Array store truncates; v1 is within [0, 255]
        }
      } else {
        const xb = xi - 1;
        const yb = yi - 1;
        const x0 = clampIdx(xb, iw) * ch;
        const x1 = clampIdx(xb + 1, iw) * ch;
        const x2 = clampIdx(xb + 2, iw) * ch;
        const x3 = clampIdx(xb + 3, iw) * ch;
        const row0 = clampIdx(yb, ih) * stride;
        const ok1 = yb + 1 >= 0 && yb + 1 < ih;
        const ok2 = yb + 2 >= 0 && yb + 2 < ih;
        const ok3 = yb + 3 >= 0 && yb + 3 < ih;
        for (let c = 0; c < ch; c++) {
          const v1 = cubicRow(sd, row0 + c, x0, x1, x2, x3, dx);
          const v2 = ok1 ? cubicRow(sd, (yb + 1) * stride + c, x0, x1, x2, x3, dx) : v1;
          const v3 = ok2 ? cubicRow(sd, (yb + 2) * stride + c, x0, x1, x2, x3, dx) : v2;
          const v4 = ok3 ? cubicRow(sd, (yb + 3) * stride + c, x0, x1, x2, x3, dx) : v3;
          const v = cubic(v1, v2, v3, v4, dy);
          od[o + c] = v <= 0.0 ? 0 : v >= 255.0 ? 255 : v;
        }
      }
    }
  }
}

function clampIdx(v: number, size: number): number {
  return v < 0 ? 0 : v < size ? v : size - 1;
}

/** Geometry.c's BICUBIC macro, operation order preserved. */
function cubic(v1: number, v2: number, v3: number, v4: number, d: number): number {
  const p1 = v2;
  const p2 = -v1 + v3;
  const p3 = 2 * (v1 - v2) + v3 - v4;
  const p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

function cubicRow(sd: Uint8Array, base: number, x0: number, x1: number, x2: number, x3: number, d: number): number {
  return cubic(sd[base + x0]!, sd[base + x1]!, sd[base + x2]!, sd[base + x3]!, d);
}

/** ImagingTransformAffine with NEAREST: the scale fast path, the 16.16 fixed-point path, or float. */
function affineNearest(out: ImageU8, img: ImageU8, a: AffineMatrix): void {
  const { width: W, height: H } = out;
  const ch = img.channels;
  const iw = img.width;
  const ih = img.height;
  const sd = img.data;
  const od = out.data;
  const copy = (o: number, xin: number, yin: number): void => {
    const s = (yin * iw + xin) * ch;
    for (let c = 0; c < ch; c++) od[o + c] = sd[s + c]!;
  };
  const coord = (v: number): number => (v < 0.0 ? -1 : Math.trunc(v));
  if (a[1] === 0 && a[3] === 0) {
    // ImagingScaleAffine: positions accumulate in double.
    const xintab = new Int32Array(W);
    let xo = a[2] + a[0] * 0.5;
    let xmin = W;
    let xmax = 0;
    for (let x = 0; x < W; x++) {
      const xin = coord(xo);
      if (xin >= 0 && xin < iw) {
        xmax = x + 1;
        if (x < xmin) xmin = x;
        xintab[x] = xin;
      }
      xo += a[0];
    }
    let yo = a[5] + a[4] * 0.5;
    for (let y = 0; y < H; y++) {
      const yi = coord(yo);
      if (yi >= 0 && yi < ih) for (let x = xmin; x < xmax; x++) copy((y * W + x) * ch, xintab[x]!, yi);
      yo += a[4];
    }
    return;
  }
  const checkFixed = (x: number, y: number): boolean =>
    Math.abs(x * a[0] + y * a[1] + a[2]) < 32768.0 && Math.abs(x * a[3] + y * a[4] + a[5]) < 32768.0;
  if (checkFixed(0, 0) && checkFixed(W, H) && checkFixed(0, H) && checkFixed(W, 0)) {
    const fix = (v: number): number => Math.floor(v * 65536.0 + 0.5) | 0;
    const f0 = fix(a[0]);
    const f1 = fix(a[1]);
    const f3 = fix(a[3]);
    const f4 = fix(a[4]);
    let f2 = fix(a[2] + a[0] * 0.5 + a[1] * 0.5);
    let f5 = fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
    for (let y = 0; y < H; y++) {
      let xx = f2;
      let yy = f5;
      for (let x = 0; x < W; x++) {
        const xin = xx >> 16;
        if (xin >= 0 && xin < iw) {
          const yin = yy >> 16;
          if (yin >= 0 && yin < ih) copy((y * W + x) * ch, xin, yin);
        }
        xx = (xx + f0) | 0;
        yy = (yy + f3) | 0;
      }
      f2 = (f2 + f1) | 0;
      f5 = (f5 + f4) | 0;
    }
    return;
  }
  let xo = a[2] + a[1] * 0.5 + a[0] * 0.5;
  let yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (let y = 0; y < H; y++) {
    let xx = xo;
    let yy = yo;
    for (let x = 0; x < W; x++) {
      const xin = coord(xx);
      if (xin >= 0 && xin < iw) {
        const yin = coord(yy);
        if (yin >= 0 && yin < ih) copy((y * W + x) * ch, xin, yin);
      }
      xx += a[0];
      yy += a[3];
    }
    xo += a[1];
    yo += a[4];
  }
}

/** Exact quarter turns (PIL transpose ROTATE_90 / ROTATE_180 / ROTATE_270, counter-clockwise). */
export function rotateQuarter(img: ImageU8, turns: 1 | 2 | 3): ImageU8 {
  const { width: w, height: h, channels: ch } = img;
  const sd = img.data;
  const ow = turns === 2 ? w : h;
  const oh = turns === 2 ? h : w;
  const od = new Uint8Array(sd.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let ox: number;
      let oy: number;
      if (turns === 1) {
        ox = y;
        oy = w - 1 - x;
      } else if (turns === 2) {
        ox = w - 1 - x;
        oy = h - 1 - y;
      } else {
        ox = h - 1 - y;
        oy = x;
      }
      const s = (y * w + x) * ch;
      const o = (oy * ow + ox) * ch;
      for (let c = 0; c < ch; c++) od[o + c] = sd[s + c]!;
    }
  }
  return { width: ow, height: oh, channels: ch, data: od };
}

/** `img.rotate(degrees, resample, fillcolor=fill)`: counter-clockwise about the centre, same size. */
export function rotate(img: ImageU8, degrees: number, resample: AffineResample = 'bicubic', fill: Fill = 0): ImageU8 {
  const angle = ((degrees % 360.0) + 360.0) % 360.0; // Python's float modulo (sign of the divisor)
  if (angle === 0) return { ...img, data: img.data.slice() };
  if (angle === 180) return rotateQuarter(img, 2);
  if ((angle === 90 || angle === 270) && img.width === img.height) return rotateQuarter(img, angle === 90 ? 1 : 3);
  const w = img.width;
  const h = img.height;
  const cx = w / 2.0;
  const cy = h / 2.0;
  const rad = -(angle * (Math.PI / 180.0));
  const a = roundDigits(Math.cos(rad), 15);
  const b = roundDigits(Math.sin(rad), 15);
  const d = roundDigits(-Math.sin(rad), 15);
  const e = roundDigits(Math.cos(rad), 15);
  let c = a * -cx + b * -cy + 0.0;
  let f = d * -cx + e * -cy + 0.0;
  c += cx;
  f += cy;
  return affineTransform(img, [a, b, c, d, e, f], resample, fill);
}

export function shearX(img: ImageU8, factor: number, resample: AffineResample = 'bicubic', fill: Fill = 0): ImageU8 {
  return affineTransform(img, [1, factor, 0, 0, 1, 0], resample, fill);
}

export function shearY(img: ImageU8, factor: number, resample: AffineResample = 'bicubic', fill: Fill = 0): ImageU8 {
  return affineTransform(img, [1, 0, 0, factor, 1, 0], resample, fill);
}

/** Translate by `pixels` (the content moves left for positive values, as in timm/PIL). */
export function translateX(img: ImageU8, pixels: number, resample: AffineResample = 'bicubic', fill: Fill = 0): ImageU8 {
  return affineTransform(img, [1, 0, pixels, 0, 1, 0], resample, fill);
}

export function translateY(img: ImageU8, pixels: number, resample: AffineResample = 'bicubic', fill: Fill = 0): ImageU8 {
  return affineTransform(img, [1, 0, 0, 0, 1, pixels], resample, fill);
}

/** timm's translate_x_rel: pixels = pct * width (a float, not rounded). */
export function translateXRel(img: ImageU8, pct: number, resample: AffineResample = 'bicubic', fill: Fill = 0): ImageU8 {
  return translateX(img, pct * img.width, resample, fill);
}

export function translateYRel(img: ImageU8, pct: number, resample: AffineResample = 'bicubic', fill: Fill = 0): ImageU8 {
  return translateY(img, pct * img.height, resample, fill);
}

/**
 * TF EfficientNet/Noisy Student `cutout(image, pad_size, replace)`: a square of side up to
 * 2 * padSize centred at (cy, cx), clipped to the image, set to `fill`.
 */
export function cutout(img: ImageU8, cy: number, cx: number, padSize: number, fill: Fill = 128): ImageU8 {
  const { width: w, height: h, channels: ch } = img;
  const out = img.data.slice();
  const y0 = Math.max(0, cy - padSize);
  const y1 = Math.min(h, cy + padSize);
  const x0 = Math.max(0, cx - padSize);
  const x1 = Math.min(w, cx + padSize);
  const f = fillBytes(ch, fill);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const o = (y * w + x) * ch;
      for (let c = 0; c < ch; c++) out[o + c] = f[c]!;
    }
  }
  return { width: w, height: h, channels: ch, data: out };
}
