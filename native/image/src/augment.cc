// RandAugment's pixel loops (src/data/augment_ops.ts) in C++: PIL's affine transform (rotate, shear,
// translate) with nearest, bilinear and bicubic sampling, ImageFilter.SMOOTH (Sharpness), the float
// blend of ImageEnhance (Color, Sharpness) and 256-entry table lookups (the LUT ops and the constant
// blends of Contrast/Brightness).
//
// augment_ops.ts stays the reference and the fallback: every loop here is a line-by-line port of its
// JavaScript, operation for operation, so both give the same bytes (test/data/augment_native.test.ts
// compares them on random images and parameters). What keeps them equal:
//   - doubles where JavaScript computes in doubles, float where it rounds with Math.fround: on x86-64
//     float and double arithmetic is IEEE without excess precision, and binding.gyp compiles with
//     -ffp-contract=off so no multiply-add is fused (JavaScript never fuses);
//   - JavaScript's integer semantics spelled out: `| 0` wraps modulo 2^32 (done in uint32_t), `>>`
//     is an arithmetic shift, a Uint8Array store truncates toward zero then wraps modulo 256;
//   - the output buffer comes from JavaScript already filled with the fill colour, and only pixels
//     whose source lies inside the image are written, as in PIL and the JavaScript.
// The tables (LUTs, the matrix) are computed in JavaScript; this file only runs the loops.
#include "args.h"
#include "augment.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace nsimg {
namespace {

// An image argument: width x height x channels bytes at least.
struct Img {
  const uint8_t* d;
  int32_t w, h, ch;
};

Img ReadImg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  auto a = Array<Napi::Uint8Array>(info, i, name, napi_uint8_array);
  Img m{a.Data(), Int(info, i + 1, "width", 1, 1 << 28), Int(info, i + 2, "height", 1, 1 << 28), Int(info, i + 3, "channels", 1, 4)};
  if (static_cast<int64_t>(a.ElementLength()) < static_cast<int64_t>(m.w) * m.h * m.ch) {
    Fail(info.Env(), std::string(name) + " is smaller than width x height x channels");
  }
  return m;
}

uint8_t* ReadOut(const Napi::CallbackInfo& info, size_t i, int64_t bytes) {
  auto a = Array<Napi::Uint8Array>(info, i, "out", napi_uint8_array);
  if (static_cast<int64_t>(a.ElementLength()) != bytes) Fail(info.Env(), "out has the wrong size");
  return a.Data();
}

// A Uint8Array store of a double that is known to lie in (-1, 256): truncation toward zero.
inline uint8_t StoreU8(double v) { return static_cast<uint8_t>(static_cast<int32_t>(v) & 0xff); }

inline int32_t ClampIdx(int32_t v, int32_t size) { return v < 0 ? 0 : v < size ? v : size - 1; }

// Geometry.c's BICUBIC macro, in augment_ops.ts's operation order.
inline double Cubic(double v1, double v2, double v3, double v4, double d) {
  const double p1 = v2;
  const double p2 = -v1 + v3;
  const double p3 = 2 * (v1 - v2) + v3 - v4;
  const double p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

inline double CubicRow(const uint8_t* sd, int64_t base, int64_t x0, int64_t x1, int64_t x2, int64_t x3, double d) {
  return Cubic(sd[base + x0], sd[base + x1], sd[base + x2], sd[base + x3], d);
}

// affineGeneric: bilinear (bicubic = false) or bicubic sampling at output pixel centres.
void AffineGeneric(const Img& in, const double* m, bool bicubic, int32_t W, int32_t H, uint8_t* od) {
  const int32_t ch = in.ch, iw = in.w, ih = in.h;
  const uint8_t* sd = in.d;
  const int64_t stride = static_cast<int64_t>(iw) * ch;
  for (int32_t y = 0; y < H; y++) {
    const double yc = y + 0.5;
    for (int32_t x = 0; x < W; x++) {
      const double xc = x + 0.5;
      double xin = m[0] * xc + m[1] * yc + m[2];
      double yin = m[3] * xc + m[4] * yc + m[5];
      if (!(xin >= 0.0 && xin < iw && yin >= 0.0 && yin < ih)) continue;  // NaN included, as in JS
      xin -= 0.5;
      yin -= 0.5;
      const double fx = std::floor(xin);
      const double fy = std::floor(yin);
      const int32_t xi = static_cast<int32_t>(fx);  // in [-1, iw): the test above bounds it
      const int32_t yi = static_cast<int32_t>(fy);
      const double dx = xin - fx;
      const double dy = yin - fy;
      uint8_t* o = od + (static_cast<int64_t>(y) * W + x) * ch;
      if (!bicubic && ch == 3) {
        // As below, with row clamp(yi + 1) for "no row below: repeat the row" (the same values).
        const uint8_t* p0 = sd + ClampIdx(yi, ih) * stride;
        const uint8_t* p1 = sd + ClampIdx(yi + 1, ih) * stride;
        const int64_t x0 = static_cast<int64_t>(ClampIdx(xi, iw)) * 3;
        const int64_t x1 = static_cast<int64_t>(ClampIdx(xi + 1, iw)) * 3;
        for (int32_t c = 0; c < 3; c++) {
          const double a0 = p0[x0 + c], b0 = p1[x0 + c];
          const double v1 = a0 + (p0[x1 + c] - a0) * dx;
          const double v2 = b0 + (p1[x1 + c] - b0) * dx;
          o[c] = StoreU8(v1 + (v2 - v1) * dy);
        }
      } else if (!bicubic) {
        const int64_t x0 = static_cast<int64_t>(ClampIdx(xi, iw)) * ch;
        const int64_t x1 = static_cast<int64_t>(ClampIdx(xi + 1, iw)) * ch;
        const int64_t r0 = ClampIdx(yi, ih) * stride;
        const bool has_r1 = yi + 1 >= 0 && yi + 1 < ih;
        const int64_t r1 = (yi + 1) * stride;
        for (int32_t c = 0; c < ch; c++) {
          double v1 = sd[r0 + x0 + c] + (static_cast<double>(sd[r0 + x1 + c]) - sd[r0 + x0 + c]) * dx;
          const double v2 = has_r1 ? sd[r1 + x0 + c] + (static_cast<double>(sd[r1 + x1 + c]) - sd[r1 + x0 + c]) * dx : v1;
          v1 = v1 + (v2 - v1) * dy;
          o[c] = StoreU8(v1);
        }
      } else if (ch == 3) {
        // The JavaScript's "row k out of the image: repeat row k - 1" is row clamp(yb + k) (the
        // source's yb >= -2, and past the bottom the last row repeats): the same values, computed
        // here with the channel loop unrolled (three independent chains) and no branch per row.
        const int32_t xb = xi - 1, yb = yi - 1;
        int64_t px[4];
        for (int32_t k = 0; k < 4; k++) px[k] = static_cast<int64_t>(ClampIdx(xb + k, iw)) * 3;
        double rows[4][3];
        for (int32_t k = 0; k < 4; k++) {
          const uint8_t* r = sd + ClampIdx(yb + k, ih) * stride;
          for (int32_t c = 0; c < 3; c++) rows[k][c] = Cubic(r[px[0] + c], r[px[1] + c], r[px[2] + c], r[px[3] + c], dx);
        }
        for (int32_t c = 0; c < 3; c++) {
          const double v = Cubic(rows[0][c], rows[1][c], rows[2][c], rows[3][c], dy);
          o[c] = v <= 0.0 ? 0 : v >= 255.0 ? 255 : StoreU8(v);
        }
      } else {
        const int32_t xb = xi - 1, yb = yi - 1;
        const int64_t x0 = static_cast<int64_t>(ClampIdx(xb, iw)) * ch;
        const int64_t x1 = static_cast<int64_t>(ClampIdx(xb + 1, iw)) * ch;
        const int64_t x2 = static_cast<int64_t>(ClampIdx(xb + 2, iw)) * ch;
        const int64_t x3 = static_cast<int64_t>(ClampIdx(xb + 3, iw)) * ch;
        const int64_t row0 = ClampIdx(yb, ih) * stride;
        const bool ok1 = yb + 1 >= 0 && yb + 1 < ih;
        const bool ok2 = yb + 2 >= 0 && yb + 2 < ih;
        const bool ok3 = yb + 3 >= 0 && yb + 3 < ih;
        for (int32_t c = 0; c < ch; c++) {
          const double v1 = CubicRow(sd, row0 + c, x0, x1, x2, x3, dx);
          const double v2 = ok1 ? CubicRow(sd, (yb + 1) * stride + c, x0, x1, x2, x3, dx) : v1;
          const double v3 = ok2 ? CubicRow(sd, (yb + 2) * stride + c, x0, x1, x2, x3, dx) : v2;
          const double v4 = ok3 ? CubicRow(sd, (yb + 3) * stride + c, x0, x1, x2, x3, dx) : v3;
          const double v = Cubic(v1, v2, v3, v4, dy);
          o[c] = v <= 0.0 ? 0 : v >= 255.0 ? 255 : StoreU8(v);
        }
      }
    }
  }
}

// COORD(): floor for the non-negative, -1 for negatives; huge values only need to stay out of range.
inline int64_t Coord(double v) { return v < 0.0 ? -1 : v < 2147483647.0 ? static_cast<int64_t>(v) : INT64_MAX; }

// JavaScript's Math.floor(v * 65536.0 + 0.5) | 0 (the checks before keep |v| < 32768 * |coords|).
inline int32_t Fix(double v) {
  const double f = std::floor(v * 65536.0 + 0.5);
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(std::fmod(f, 4294967296.0))));
}

inline int32_t AddWrap(int32_t a, int32_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a) + static_cast<uint32_t>(b)); }

// affineNearest: ImagingScaleAffine, the 16.16 fixed-point path, or the float path.
void AffineNearest(const Img& in, const double* a, int32_t W, int32_t H, uint8_t* od) {
  const int32_t ch = in.ch, iw = in.w, ih = in.h;
  const uint8_t* sd = in.d;
  auto copy = [&](int32_t x, int32_t y, int64_t xin, int64_t yin) {
    const uint8_t* s = sd + (yin * iw + xin) * ch;
    uint8_t* o = od + (static_cast<int64_t>(y) * W + x) * ch;
    for (int32_t c = 0; c < ch; c++) o[c] = s[c];
  };
  if (a[1] == 0 && a[3] == 0) {
    std::vector<int64_t> xintab(static_cast<size_t>(W));
    double xo = a[2] + a[0] * 0.5;
    int32_t xmin = W, xmax = 0;
    for (int32_t x = 0; x < W; x++) {
      const int64_t xin = Coord(xo);
      if (xin >= 0 && xin < iw) {
        xmax = x + 1;
        if (x < xmin) xmin = x;
        xintab[x] = xin;
      }
      xo += a[0];
    }
    double yo = a[5] + a[4] * 0.5;
    for (int32_t y = 0; y < H; y++) {
      const int64_t yi = Coord(yo);
      if (yi >= 0 && yi < ih)
        for (int32_t x = xmin; x < xmax; x++) copy(x, y, xintab[x], yi);
      yo += a[4];
    }
    return;
  }
  auto check_fixed = [&](double x, double y) {
    return std::fabs(x * a[0] + y * a[1] + a[2]) < 32768.0 && std::fabs(x * a[3] + y * a[4] + a[5]) < 32768.0;
  };
  if (check_fixed(0, 0) && check_fixed(W, H) && check_fixed(0, H) && check_fixed(W, 0)) {
    const int32_t f0 = Fix(a[0]), f1 = Fix(a[1]), f3 = Fix(a[3]), f4 = Fix(a[4]);
    int32_t f2 = Fix(a[2] + a[0] * 0.5 + a[1] * 0.5);
    int32_t f5 = Fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
    for (int32_t y = 0; y < H; y++) {
      int32_t xx = f2, yy = f5;
      for (int32_t x = 0; x < W; x++) {
        const int32_t xin = xx >> 16;
        if (xin >= 0 && xin < iw) {
          const int32_t yin = yy >> 16;
          if (yin >= 0 && yin < ih) copy(x, y, xin, yin);
        }
        xx = AddWrap(xx, f0);
        yy = AddWrap(yy, f3);
      }
      f2 = AddWrap(f2, f1);
      f5 = AddWrap(f5, f4);
    }
    return;
  }
  double xo = a[2] + a[1] * 0.5 + a[0] * 0.5;
  double yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (int32_t y = 0; y < H; y++) {
    double xx = xo, yy = yo;
    for (int32_t x = 0; x < W; x++) {
      const int64_t xin = Coord(xx);
      if (xin >= 0 && xin < iw) {
        const int64_t yin = Coord(yy);
        if (yin >= 0 && yin < ih) copy(x, y, xin, yin);
      }
      xx += a[0];
      yy += a[3];
    }
    xo += a[1];
    yo += a[4];
  }
}

}  // namespace

// affine(src, width, height, channels, matrix: Float64Array(6), resample: 0 nearest | 1 bilinear |
// 2 bicubic, out, outWidth, outHeight, fill): `out` is first filled with `fill` (one byte per
// channel), then every pixel whose source lies in the image is written.
Napi::Value Affine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Img in = ReadImg(info, 0, "src");
  auto m = Array<Napi::Float64Array>(info, 4, "matrix", napi_float64_array);
  if (m.ElementLength() != 6) Fail(env, "matrix needs 6 values");
  const int32_t mode = Int(info, 5, "resample", 0, 2);
  const int32_t ow = Int(info, 7, "outWidth", 1, 1 << 28);
  const int32_t oh = Int(info, 8, "outHeight", 1, 1 << 28);
  uint8_t* out = ReadOut(info, 6, static_cast<int64_t>(ow) * oh * in.ch);
  auto fill = Array<Napi::Uint8Array>(info, 9, "fill", napi_uint8_array);
  if (fill.ElementLength() != static_cast<size_t>(in.ch)) Fail(env, "fill needs one byte per channel");
  const int64_t px = static_cast<int64_t>(ow) * oh;
  const uint8_t* f = fill.Data();
  if (std::count(f, f + in.ch, f[0]) == in.ch) {
    std::memset(out, f[0], static_cast<size_t>(px * in.ch));
  } else {
    for (int64_t i = 0; i < px; i++) std::memcpy(out + i * in.ch, f, static_cast<size_t>(in.ch));
  }
  double a[6];
  std::memcpy(a, m.Data(), sizeof a);
  if (mode == 0) AffineNearest(in, a, ow, oh, out);
  else AffineGeneric(in, a, mode == 2, ow, oh, out);
  return env.Undefined();
}

// smooth(src, width, height, channels, out): ImageFilter.SMOOTH through ImagingFilter3x3 (float32
// kernel and sums in its order, +0.5 then truncation), the one-pixel border copied.
Napi::Value Smooth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Img in = ReadImg(info, 0, "src");
  const int64_t bytes = static_cast<int64_t>(in.w) * in.h * in.ch;
  uint8_t* out = ReadOut(info, 4, bytes);
  std::memcpy(out, in.d, static_cast<size_t>(bytes));
  if (in.w < 3 || in.h < 3) return env.Undefined();
  const float k1 = 1.0f / 13.0f;  // Math.fround(1 / 13): the double quotient rounded once, as here
  const float k5 = 5.0f / 13.0f;
  const int32_t ch = in.ch;
  const int64_t stride = static_cast<int64_t>(in.w) * ch;
  const uint8_t* sd = in.d;
  for (int32_t y = 1; y < in.h - 1; y++) {
    const uint8_t* r1 = sd + (y + 1) * stride;
    const uint8_t* r0 = sd + y * stride;
    const uint8_t* rm = sd + (y - 1) * stride;
    uint8_t* o = out + y * stride;
    for (int64_t p = ch; p < stride - ch; p++) {
      float ss = 0.5f;
      ss = ss + ((static_cast<float>(r1[p - ch]) * k1 + static_cast<float>(r1[p]) * k1) + static_cast<float>(r1[p + ch]) * k1);
      ss = ss + ((static_cast<float>(r0[p - ch]) * k1 + static_cast<float>(r0[p]) * k5) + static_cast<float>(r0[p + ch]) * k1);
      ss = ss + ((static_cast<float>(rm[p - ch]) * k1 + static_cast<float>(rm[p]) * k1) + static_cast<float>(rm[p + ch]) * k1);
      o[p] = ss <= 0 ? 0 : ss >= 255 ? 255 : static_cast<uint8_t>(ss);
    }
  }
  return env.Undefined();
}

// blend(a, b, alpha, out): Image.blend's float arithmetic, out = a + alpha * (b - a) in float32,
// clipped only when alpha is outside [0, 1] (as ImagingBlend).
Napi::Value Blend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto a = Array<Napi::Uint8Array>(info, 0, "a", napi_uint8_array);
  auto b = Array<Napi::Uint8Array>(info, 1, "b", napi_uint8_array);
  if (!info[2].IsNumber()) Fail(env, "alpha must be a number");
  const float alpha = static_cast<float>(info[2].As<Napi::Number>().DoubleValue());
  const size_t n = a.ElementLength();
  if (b.ElementLength() != n) Fail(env, "blend: the images differ in size");
  uint8_t* out = ReadOut(info, 3, static_cast<int64_t>(n));
  const uint8_t* d1 = a.Data();
  const uint8_t* d2 = b.Data();
  if (alpha >= 0 && alpha <= 1) {
    for (size_t i = 0; i < n; i++) {
      const float v1 = d1[i];
      out[i] = static_cast<uint8_t>(static_cast<int32_t>(v1 + alpha * static_cast<float>(static_cast<int32_t>(d2[i]) - d1[i])) & 0xff);
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      const float v1 = d1[i];
      const float t = v1 + alpha * static_cast<float>(static_cast<int32_t>(d2[i]) - d1[i]);
      out[i] = t <= 0 ? 0 : t >= 255 ? 255 : static_cast<uint8_t>(t);
    }
  }
  return env.Undefined();
}

// lut(src, channels, lut, out): out[i] = lut[256 * band + src[i]] (a 256-entry table for all bands,
// or one per band).
Napi::Value Lut(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto src = Array<Napi::Uint8Array>(info, 0, "src", napi_uint8_array);
  const int32_t ch = Int(info, 1, "channels", 1, 4);
  auto lut = Array<Napi::Uint8Array>(info, 2, "lut", napi_uint8_array);
  const size_t n = src.ElementLength();
  if (n % ch != 0) Fail(env, "lut: src is not a whole number of pixels");
  if (lut.ElementLength() != 256 && lut.ElementLength() != 256u * ch) Fail(env, "lut needs 256 entries, or 256 per channel");
  uint8_t* out = ReadOut(info, 3, static_cast<int64_t>(n));
  const uint8_t* s = src.Data();
  const uint8_t* l = lut.Data();
  if (lut.ElementLength() == 256 || ch == 1) {
    for (size_t i = 0; i < n; i++) out[i] = l[s[i]];
  } else if (ch == 3) {
    for (size_t i = 0; i < n; i += 3) {
      out[i] = l[s[i]];
      out[i + 1] = l[256 + s[i + 1]];
      out[i + 2] = l[512 + s[i + 2]];
    }
  } else {
    for (size_t i = 0; i < n; i += ch)
      for (int32_t c = 0; c < ch; c++) out[i + c] = l[256 * c + s[i + c]];
  }
  return env.Undefined();
}

}  // namespace nsimg
