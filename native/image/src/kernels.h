// The resampler's hot loops, compiled once per instruction set (kernels_scalar.cc, kernels_avx2.cc,
// kernels_avx512.cc include kernels.inc with their own -m flags) and picked at run time.
//
// The arithmetic is Pillow's ImagingResample for 8-bit images, exactly as src/data/transforms/
// resize.ts does it in JavaScript: the coefficient tables (bounds and 22-bit fixed-point weights)
// come from JavaScript, so both paths use the same tables and only the integer sums run here.
// Sums are taken modulo 2^32 (as JavaScript's `| 0` does), which makes them independent of the
// order of accumulation: the SIMD paths may group the products as they like and stay bit-exact.
#pragma once

#include <cstdint>

namespace nsimg {

// Only plain C types cross between the translation units: each one is compiled with different -m
// flags, and an inline function from a shared header instantiated in two of them could be linked
// as the AVX-512 copy and called on a CPU without it.
struct Coeffs {
  const int32_t* bounds;  // per output index: first input index, number of taps
  const int32_t* kk;      // ksize fixed-point weights per output index
  int32_t ksize;
};

struct Kernels {
  // Horizontal pass over `rows` rows of `src` (row stride `in_stride` bytes, `in_w` pixels of `ch`
  // bytes), `out_w` output pixels per row, written densely to `out`. `src_end` is one past the
  // last readable byte (the SIMD paths load 4 bytes per RGB pixel and must not read past it).
  void (*horizontal)(const uint8_t* src, const uint8_t* src_end, int32_t in_stride, int32_t in_w, int32_t ch,
                     int32_t rows, int32_t out_w, Coeffs c, uint8_t* out);
  // Vertical pass: output row yy sums rows bounds[2yy] - y_shift ... of `src` (`stride` bytes each).
  void (*vertical)(const uint8_t* src, int32_t stride, int32_t out_h, Coeffs c, int32_t y_shift, uint8_t* out);
};

extern const Kernels kScalarKernels;
#if defined(NSIMG_X86)
extern const Kernels kAvx2Kernels;
extern const Kernels kAvx512Kernels;
#endif

}  // namespace nsimg
