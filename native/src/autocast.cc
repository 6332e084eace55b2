// libtorch's automatic mixed precision (torch.autocast) for the JS layer: enter / exit a scope on
// the calling thread, the way Python's autocast.__enter__/__exit__ do it (save the previous state,
// set the dtype and the enabled flag, count the nesting; on leaving the outermost scope clear the
// cache of casted weights, then restore). src/torch/autocast.ts pairs the calls (restored on throw).
//
// Autocast state is thread-local. Ops run synchronously on the JS thread, which is where these
// calls act. A task queued to the compute thread inside a scope carries the JS thread's dispatch
// keys (so autocast is on there too) but not its dtype, and the compute thread has its own cache
// of casted weights that no scope ever clears: configureCompute sets that thread's dtype and turns
// its cache off (a cached bf16 copy of a weight would go stale after the optimizer's update).
#include "addon.h"

#include <ATen/autocast_mode.h>

namespace ns {

namespace {

// The device-generic API arrived in 2.4 (the per-device functions are deprecated from then on).
bool IsEnabled(c10::DeviceType d) {
#if NS_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(d);
#else
  return d == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

void SetEnabled(c10::DeviceType d, bool on) {
#if NS_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_enabled(d, on);
#else
  if (d == c10::DeviceType::CPU) at::autocast::set_cpu_enabled(on);
  else at::autocast::set_enabled(on);
#endif
}

at::ScalarType GetDType(c10::DeviceType d) {
#if NS_TORCH_AT_LEAST(2, 4)
  return at::autocast::get_autocast_dtype(d);
#else
  return d == c10::DeviceType::CPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
#endif
}

void SetDType(c10::DeviceType d, at::ScalarType t) {
#if NS_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_dtype(d, t);
#else
  if (d == c10::DeviceType::CPU) at::autocast::set_autocast_cpu_dtype(t);
  else at::autocast::set_autocast_gpu_dtype(t);
#endif
}

// 'cpu' or 'cuda' (an index, 'cuda:1', is irrelevant: autocast state is per device type).
c10::DeviceType DeviceTypeOf(Napi::Env env, const Napi::Value& v) {
  if (!v.IsString()) GetAddon(env).Throw(env, "autocast: expected a device string");
  const c10::Device d(v.As<Napi::String>().Utf8Value());
  if (d.type() != c10::DeviceType::CPU && d.type() != c10::DeviceType::CUDA)
    GetAddon(env).Throw(env, "autocast: only cpu and cuda devices have an autocast mode in this addon");
  return d.type();
}

at::ScalarType LowerDType(Napi::Env env, const Napi::Value& v) {
  const auto t = static_cast<at::ScalarType>(ToInt64(env, v, "dtype"));
  if (t != at::kBFloat16 && t != at::kHalf) GetAddon(env).Throw(env, "autocast: the dtype must be bfloat16 or float16");
  return t;
}

// autocastEnter(device, dtype) -> [previous enabled, previous dtype code]
Napi::Value Enter(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    const c10::DeviceType d = DeviceTypeOf(env, info[0]);
    const at::ScalarType t = LowerDType(env, info[1]);
    const bool prev_on = IsEnabled(d);
    const at::ScalarType prev_t = GetDType(d);
    SetDType(d, t);
    SetEnabled(d, true);
    at::autocast::increment_nesting();
    Napi::Array prev = Napi::Array::New(env, 2);
    prev.Set(0u, Napi::Boolean::New(env, prev_on));
    prev.Set(1u, Napi::Number::New(env, static_cast<double>(static_cast<int>(prev_t))));
    return Napi::Value(prev);
  });
}

// autocastExit(device, previous enabled, previous dtype code): leaving the outermost scope clears
// the casted-weight cache (Python's __exit__ does the same), then the previous state comes back.
Napi::Value Exit(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    const c10::DeviceType d = DeviceTypeOf(env, info[0]);
    const bool prev_on = info[1].ToBoolean().Value();
    const auto prev_t = static_cast<at::ScalarType>(ToInt64(env, info[2], "dtype"));
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    SetEnabled(d, prev_on);
    SetDType(d, prev_t);
    return env.Undefined();
  });
}

// autocastState(device) -> { enabled, dtype } on the calling thread.
Napi::Value State(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    const c10::DeviceType d = DeviceTypeOf(env, info[0]);
    Napi::Object o = Napi::Object::New(env);
    o.Set("enabled", IsEnabled(d));
    o.Set("dtype", static_cast<double>(static_cast<int>(GetDType(d))));
    return Napi::Value(o);
  });
}

// autocastConfigureCompute(device, dtype) -> Promise: the compute thread's autocast dtype for the
// device set, and its weight cache turned off (queued in order before any task submitted later).
Napi::Value ConfigureCompute(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    const c10::DeviceType d = DeviceTypeOf(env, info[0]);
    const at::ScalarType t = LowerDType(env, info[1]);
    auto task = std::make_unique<Task>();
    task->work = [d, t] {
      at::autocast::set_autocast_cache_enabled(false);
      at::autocast::clear_cache();
      SetDType(d, t);
    };
    task->finish = [](Napi::Env e) { return e.Undefined(); };
    return GetAddon(env).compute.Submit(env, std::move(task));
  });
}

}  // namespace

void InitAutocast(Napi::Env env, Napi::Object exports) {
  exports.Set("autocastEnter", Napi::Function::New(env, Enter));
  exports.Set("autocastExit", Napi::Function::New(env, Exit));
  exports.Set("autocastState", Napi::Function::New(env, State));
  exports.Set("autocastConfigureCompute", Napi::Function::New(env, ConfigureCompute));
}

}  // namespace ns
