// Built with -mavx2 (binding.gyp); only called when the CPU reports AVX2.
#define NSIMG_NS avx2
#define NSIMG_SIMD 2
#define NSIMG_TABLE kAvx2Kernels
#include "kernels.inc"
