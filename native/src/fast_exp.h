// e^x in float32 without libm, so the loops calling it vectorise (Cody-Waite reduction, a degree-6
// polynomial, 2^n built in the exponent bits; max relative error ~1.5e-7). Shared by the fused
// inference kernels and the training BatchNorm + activation: one formula, so both round alike.
#pragma once

#include <cstdint>
#include <cstring>

namespace ns {

inline __attribute__((always_inline)) float FastExp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float t = x * 1.44269504088896341f;
  const float n = (t + 12582912.0f) - 12582912.0f;  // round to nearest (2^23 + 2^22 trick)
  const float f = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;
  float p = 1.9875691500e-4f;
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  p = p * f * f + f + 1.0f;
  const int32_t e = (static_cast<int32_t>(n) + 127) << 23;
  float s;
  std::memcpy(&s, &e, sizeof(s));
  return p * s;
}

}  // namespace ns
