// Built with -mavx512f -mavx512bw -mavx512vl (binding.gyp); only called when the CPU (and OS)
// report AVX-512 BW.
#define NSIMG_NS avx512
#define NSIMG_SIMD 3
#define NSIMG_TABLE kAvx512Kernels
#include "kernels.inc"
