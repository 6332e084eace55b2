// The fused inference program: a whole EfficientNet forward (BatchNorm already folded into the
// convs by src/models/fused_plan.ts) replayed natively, one call per batch, on the compute thread.
#pragma once

#include "addon.h"

namespace ns {

void InitFused(Napi::Env env, Napi::Object exports);

}  // namespace ns
