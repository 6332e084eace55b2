// RandAugment's pixel loops (augment.cc): PIL's affine transform, SMOOTH, blend and table lookups.
#pragma once

#include <napi.h>

namespace nsimg {

Napi::Value Affine(const Napi::CallbackInfo& info);
Napi::Value Smooth(const Napi::CallbackInfo& info);
Napi::Value Blend(const Napi::CallbackInfo& info);
Napi::Value Lut(const Napi::CallbackInfo& info);

}  // namespace nsimg
