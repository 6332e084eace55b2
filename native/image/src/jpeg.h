// The JPEG decoder (jpeg.cc), compiled in when libjpeg's headers are found (NSIMG_JPEG).
#pragma once

#include <napi.h>

namespace nsimg {

Napi::Value DecodeJpeg(const Napi::CallbackInfo& info);

}  // namespace nsimg
