// PIL's `Image.resize`, reimplemented bit for bit (Pillow 9.4 `src/libImaging/Resample.c` and the
// `_resize` entry point in `_imaging.c`).
//
// Why not sharp/libvips: timm's eval transform is torchvision `Resize` on a PIL image, i.e. PIL's
// antialiased convolution resampler. libvips' reduce kernels differ (different support scaling, a
// different cubic, float accumulation and a different rounding), which moves pixels by several
// levels and so shifts model inputs. To get timm's tensors to the pixel, this file reproduces:
//   - the filters (bicubic a = -0.5, bilinear triangle, box, hamming, lanczos-3) and their support
//     widened by the downscale factor (antialiasing);
//   - the coefficient windows: center = in0 + (x + 0.5) * scale, bounds rounded with (int)(v + 0.5)
//     truncation, weights normalised to sum 1, then converted to signed 22-bit fixed point
//     (PRECISION_BITS = 32 - 8 - 2) with round-half-away-from-zero;
//   - two separable passes, horizontal first over only the rows the vertical pass will read, each
//     accumulating integers from 1 << 21 (rounding) and clipping to 0..255 in between;
//   - NEAREST through PIL's affine "scale" path (accumulated float source positions, floor);
//   - the shortcuts: same size + full box = copy; integer box of the output size = crop.
import { type ImageU8, ImageShapeError } from '../image.js';
import { type Coeffs, type FilterDef, FILTERS, HALF, PRECISION_BITS, cachedCoeffs } from './resample_coeffs.js';
import { crop as cropImage } from './crop.js';
import { nativeImage, nativeImageError } from '../native_image.js';

export type ResampleFilter = 'nearest' | 'box' | 'bilinear' | 'hamming' | 'bicubic' | 'lanczos';

export const RESAMPLE_FILTERS: readonly ResampleFilter[] = ['nearest', 'box', 'bilinear', 'hamming', 'bicubic', 'lanczos'];

/** A source box (left, top, right, bottom) in input pixels, floats allowed, like PIL's `box=`. */
export type ResizeBox = readonly [number, number, number, number];

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal pass over input rows [y0, y0 + outH). */
function resampleHorizontal(src: ImageU8, y0: number, outH: number, outW: number, co: Coeffs): Uint8Array {
  const ch = src.channels;
  const inStride = src.width * ch;
  const sd = src.data;
  const out = new Uint8Array(outW * outH * ch);
  const { ksize, bounds, kk } = co;
  let o = 0;
  if (ch === 3) {
    for (let yy = 0; yy < outH; yy++) {
      const row = (yy + y0) * inStride;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2]!;
        const xmax = bounds[xx * 2 + 1]!;
        const kb = xx * ksize;
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        let p = row + xmin * 3;
        for (let x = 0; x < xmax; x++, p += 3) {
          const k = kk[kb + x]!;
          s0 = (s0 + Math.imul(sd[p]!, k)) | 0;
          s1 = (s1 + Math.imul(sd[p + 1]!, k)) | 0;
          s2 = (s2 + Math.imul(sd[p + 2]!, k)) | 0;
        }
        out[o++] = clip8(s0);
        out[o++] = clip8(s1);
        out[o++] = clip8(s2);
      }
    }
  } else {
    for (let yy = 0; yy < outH; yy++) {
      const row = (yy + y0) * inStride;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2]!;
        const xmax = bounds[xx * 2 + 1]!;
        const kb = xx * ksize;
        let s0 = HALF;
        let p = row + xmin;
        for (let x = 0; x < xmax; x++, p++) s0 = (s0 + Math.imul(sd[p]!, kk[kb + x]!)) | 0;
        out[o++] = clip8(s0);
      }
    }
  }
  return out;
}

/** Vertical pass; `bounds` are relative to the first row of `src`. */
function resampleVertical(sd: Uint8Array, width: number, ch: number, outH: number, co: Coeffs, yShift: number): Uint8Array {
  const stride = width * ch;
  const out = new Uint8Array(stride * outH);
  const { ksize, bounds, kk } = co;
  // Row-wise accumulation (same integer sums as Pillow's per-pixel loop, in sequential memory order).
  // Partial sums stay within int32: |sum| <= 255 * sum(|k|) < 2^31 for these filters.
  const acc = new Int32Array(stride);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2]! - yShift;
    const ymax = bounds[yy * 2 + 1]!;
    const kb = yy * ksize;
    acc.fill(HALF);
    for (let y = 0; y < ymax; y++) {
      const k = kk[kb + y]!;
      const row = (ymin + y) * stride;
      for (let i = 0; i < stride; i++) acc[i] = (acc[i]! + Math.imul(sd[row + i]!, k)) | 0;
    }
    const o = yy * stride;
    for (let i = 0; i < stride; i++) {
      const v = acc[i]! >> PRECISION_BITS;
      out[o + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

/** Which passes run: the JavaScript reference, the native addon, or native when it is built. */
export type ResizeBackend = 'js' | 'native' | 'auto';

/**
 * Output pixels [left, top, width, height] of a resize: what the crop after it keeps. Each output
 * pixel of the convolution resampler is computed from its own coefficient row alone, so resampling
 * only the window's rows and columns gives exactly those pixels of the full resize.
 */
export type OutputWindow = readonly [number, number, number, number];

/**
 * An integer crop box [left, top, width, height] of the source that the resize sees as its whole
 * input: PIL's `img.crop(...).resize(...)` (torchvision's resized_crop), without copying the crop.
 * The coefficient windows are the crop's (clamped to its edges, unlike resize's box=, which may
 * read past the box), then moved by the crop's offset into the full image.
 */
type SourceCrop = readonly [number, number, number, number];

/** A cached coefficient table with its windows moved by `offset` (a copy: the cache's are shared). */
function shifted(c: Coeffs, offset: number): Coeffs {
  if (offset === 0) return c;
  const bounds = c.bounds.slice();
  for (let i = 0; i < bounds.length; i += 2) bounds[i]! += offset;
  return { ksize: c.ksize, bounds, kk: c.kk };
}

/**
 * Pillow's ImagingResampleInner for 8-bit images, over the output window `win` (the whole output
 * when null). A window needs both passes; callers crop the full result otherwise. With `crop`,
 * the input is that crop of `img` (both passes needed there too).
 */
function resample(
  img: ImageU8,
  width: number,
  height: number,
  filter: FilterDef,
  box: ResizeBox,
  backend: ResizeBackend,
  win: OutputWindow | null,
  crop: SourceCrop | null = null,
): ImageU8 {
  const [bx0, by0, bx1, by1] = box;
  const [cx, cy, inW, inH] = crop ?? [0, 0, img.width, img.height];
  const needH = width !== inW || bx0 !== 0 || bx1 !== width;
  const needV = height !== inH || by0 !== 0 || by1 !== height;
  const [left, top, winW, winH] = win ?? [0, 0, width, height];
  const vert = shifted(cachedCoeffs(inH, by0, by1, height, filter, top, winH), cy);
  const horiz = needH ? shifted(cachedCoeffs(inW, bx0, bx1, width, filter, left, winW), cx) : null;
  const native = backend === 'js' ? null : nativeImage();
  if (backend === 'native' && !native) throw new Error(`resize: the native image addon is ${nativeImageError() ?? 'unavailable'}`);
  if (native) {
    const outW = needH ? winW : img.width;
    const outH = needV ? winH : img.height;
    const out = new Uint8Array(outW * outH * img.channels);
    native.resample(
      img.data,
      img.width,
      img.height,
      img.channels,
      horiz ? horiz.bounds : null,
      horiz ? horiz.kk : null,
      horiz ? horiz.ksize : 0,
      needV ? vert.bounds : null,
      needV ? vert.kk : null,
      vert.ksize,
      outW,
      outH,
      out,
    );
    return { width: outW, height: outH, channels: img.channels, data: out };
  }
  const yFirst = vert.bounds[0]!;
  const yLast = vert.bounds[winH * 2 - 2]! + vert.bounds[winH * 2 - 1]!;
  let data = img.data;
  let curW = img.width;
  let curH = img.height;
  let yShift = 0;
  if (horiz) {
    data = resampleHorizontal(img, yFirst, yLast - yFirst, winW, horiz);
    curW = winW;
    curH = yLast - yFirst;
    yShift = yFirst;
  }
  if (needV) {
    data = resampleVertical(data, curW, img.channels, winH, vert, yShift);
    curH = winH;
  } else if (!needH) {
    data = data.slice();
  }
  return { width: curW, height: curH, channels: img.channels, data };
}

/**
 * PIL's NEAREST resize: `ImagingTransform(AFFINE)` with a pure scale matrix, which goes through
 * ImagingScaleAffine: source positions accumulate in double (xo += a0), COORD() floors (negatives
 * become -1), outside pixels are 0.
 */
function resizeNearest(img: ImageU8, width: number, height: number, box: ResizeBox): ImageU8 {
  const [bx0, by0, bx1, by1] = box;
  const a0 = Math.fround(bx1 - bx0) / width;
  const a4 = Math.fround(by1 - by0) / height;
  const ch = img.channels;
  const out = new Uint8Array(width * height * ch);
  const xintab = new Int32Array(width);
  let xo = bx0 + a0 * 0.5;
  let xmin = width;
  let xmax = 0;
  for (let x = 0; x < width; x++) {
    const xin = xo < 0.0 ? -1 : Math.trunc(xo);
    if (xin >= 0 && xin < img.width) {
      xmax = x + 1;
      if (x < xmin) xmin = x;
      xintab[x] = xin;
    }
    xo += a0;
  }
  let yo = by0 + a4 * 0.5;
  const sd = img.data;
  for (let y = 0; y < height; y++) {
    const yi = yo < 0.0 ? -1 : Math.trunc(yo);
    if (yi >= 0 && yi < img.height) {
      const row = yi * img.width * ch;
      let o = (y * width + xmin) * ch;
      for (let x = xmin; x < xmax; x++) {
        const p = row + xintab[x]! * ch;
        for (let c = 0; c < ch; c++) out[o++] = sd[p + c]!;
      }
    }
    yo += a4;
  }
  return { width, height, channels: ch, data: out };
}

/**
 * `pil_image.resize((width, height), filter, box)` for an 8-bit "RGB" or "L" image, bit-exact with
 * Pillow 9.4 (no `reducing_gap`, which timm/torchvision never pass). The convolution filters run
 * natively when the image addon is built (`backend` 'auto'); 'js' and 'native' force one path
 * (tests compare them byte for byte). Nearest, copies and crops are JavaScript either way.
 */
export function resize(
  img: ImageU8,
  width: number,
  height: number,
  filter: ResampleFilter = 'bicubic',
  box?: ResizeBox,
  backend: ResizeBackend = 'auto',
): ImageU8 {
  return resizeImpl(img, width, height, filter, box, backend, null);
}

/**
 * `resize(img, width, height, filter, box)` followed by a crop of the output to `win` (which must
 * lie inside it), byte for byte, computing only the pixels the crop keeps (see OutputWindow).
 */
export function resizeWindow(
  img: ImageU8,
  width: number,
  height: number,
  win: OutputWindow,
  filter: ResampleFilter = 'bicubic',
  box?: ResizeBox,
  backend: ResizeBackend = 'auto',
): ImageU8 {
  const [l, t, w, h] = win;
  if (![l, t, w, h].every(Number.isInteger) || l < 0 || t < 0 || w < 1 || h < 1 || l + w > width || t + h > height) {
    throw new ImageShapeError(`resizeWindow: window ${w}x${h} at (${l}, ${t}) is not inside the ${width}x${height} output`);
  }
  return resizeImpl(img, width, height, filter, box, backend, win);
}

function resizeImpl(
  img: ImageU8,
  width: number,
  height: number,
  filter: ResampleFilter,
  box: ResizeBox | undefined,
  backend: ResizeBackend,
  win: OutputWindow | null,
): ImageU8 {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageShapeError(`resize: height and width must be integers > 0, got ${width}x${height}`);
  }
  const b: ResizeBox = box
    ? [Math.fround(box[0]), Math.fround(box[1]), Math.fround(box[2]), Math.fround(box[3])]
    : [0, 0, img.width, img.height];
  if (b[0] < 0 || b[1] < 0) throw new ImageShapeError("resize: box offset can't be negative");
  if (b[2] > img.width || b[3] > img.height) throw new ImageShapeError("resize: box can't exceed original image size");
  if (b[2] - b[0] < 0 || b[3] - b[1] < 0) throw new ImageShapeError("resize: box can't be empty");
  const [wl, wt, ww, wh] = win ?? [0, 0, width, height];
  if (img.width === width && img.height === height && b[0] === 0 && b[1] === 0 && b[2] === img.width && b[3] === img.height) {
    return win ? cropInside(img, wl, wt, ww, wh) : { width, height, channels: img.channels, data: img.data.slice() };
  }
  // An integer box of exactly the requested size is a plain crop in Pillow.
  if (Number.isInteger(b[0]) && Number.isInteger(b[1]) && b[2] - b[0] === width && b[3] - b[1] === height) {
    return cropInside(img, b[0] + wl, b[1] + wt, ww, wh);
  }
  const full = !win || (ww === width && wh === height);
  if (filter === 'nearest') {
    const out = resizeNearest(img, width, height, b);
    return full ? out : cropInside(out, wl, wt, ww, wh);
  }
  const f = FILTERS[filter];
  if (!f) throw new ImageShapeError(`resize: unknown filter "${String(filter)}"`);
  if (full) return resample(img, width, height, f, b, backend, null);
  // A skipped pass keeps its axis whole, so only a resize with both passes takes the window as is.
  const bothPasses = (width !== img.width || b[0] !== 0 || b[2] !== width) && (height !== img.height || b[1] !== 0 || b[3] !== height);
  if (bothPasses) return resample(img, width, height, f, b, backend, win);
  return cropInside(resample(img, width, height, f, b, backend, null), wl, wt, ww, wh);
}

/**
 * `img.crop((left, top, left + cropW, top + cropH)).resize((width, height), filter)` byte for byte
 * (torchvision's resized_crop on PIL, RandomResizedCrop's last step) for a crop inside the image:
 * when both passes run, they read the crop in place (no copy of it); otherwise (an axis keeps its
 * size, or nearest) the crop is taken and resized.
 */
export function resizeCrop(
  img: ImageU8,
  left: number,
  top: number,
  cropW: number,
  cropH: number,
  width: number,
  height: number,
  filter: ResampleFilter = 'bicubic',
  backend: ResizeBackend = 'auto',
): ImageU8 {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new ImageShapeError(`resize: height and width must be integers > 0, got ${width}x${height}`);
  }
  const inside =
    [left, top, cropW, cropH].every(Number.isInteger) &&
    left >= 0 &&
    top >= 0 &&
    cropW >= 1 &&
    cropH >= 1 &&
    left + cropW <= img.width &&
    top + cropH <= img.height;
  const f = filter === 'nearest' ? undefined : FILTERS[filter];
  if (!inside || !f || cropW === width || cropH === height) {
    return resize(cropImage(img, top, left, cropH, cropW), width, height, filter, undefined, backend);
  }
  return resample(img, width, height, f, [0, 0, cropW, cropH], backend, null, [left, top, cropW, cropH]);
}

function cropInside(img: ImageU8, left: number, top: number, w: number, h: number): ImageU8 {
  const ch = img.channels;
  const out = new Uint8Array(w * h * ch);
  const rowBytes = w * ch;
  for (let y = 0; y < h; y++) {
    const s = ((top + y) * img.width + left) * ch;
    out.set(img.data.subarray(s, s + rowBytes), y * rowBytes);
  }
  return { width: w, height: h, channels: ch, data: out };
}

/**
 * torchvision `Resize(size: int)` on a PIL image (0.14): the shorter side becomes `size`, the
 * longer `int(size * long / short)` (truncated), then PIL resize. Returns [width, height].
 */
export function shorterSideSize(width: number, height: number, size: number): [number, number] {
  const shortIsW = width <= height;
  const short = shortIsW ? width : height;
  const long = shortIsW ? height : width;
  const newLong = Math.trunc((size * long) / short);
  return shortIsW ? [size, newLong] : [newLong, size];
}

export function resizeShorterSide(img: ImageU8, size: number, filter: ResampleFilter = 'bilinear'): ImageU8 {
  const [w, h] = shorterSideSize(img.width, img.height, size);
  return resize(img, w, h, filter);
}
