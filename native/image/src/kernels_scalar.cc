// The portable path (no -m flags): what every CPU runs when no SIMD build applies.
#define NSIMG_NS scalar
#define NSIMG_SIMD 0
#define NSIMG_TABLE kScalarKernels
#include "kernels.inc"
