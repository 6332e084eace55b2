// Checked reads of a call's JavaScript arguments, for every entry point of the image addon: a wrong
// type or an out-of-range number is a TypeError naming the argument, never a read past a buffer.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace nsimg {

[[noreturn]] inline void Fail(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, "noisy_student_image: " + msg); }

inline int32_t Int(const Napi::CallbackInfo& info, size_t i, const char* name, int32_t lo, int32_t hi) {
  if (!info[i].IsNumber()) Fail(info.Env(), std::string(name) + " must be a number");
  const double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= lo && d <= hi) || static_cast<double>(static_cast<int32_t>(d)) != d) {
    Fail(info.Env(), std::string(name) + " out of range: " + std::to_string(d));
  }
  return static_cast<int32_t>(d);
}

template <typename A>
A Array(const Napi::CallbackInfo& info, size_t i, const char* name, napi_typedarray_type type) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != type) {
    Fail(info.Env(), std::string(name) + " has the wrong array type");
  }
  return info[i].As<A>();
}

}  // namespace nsimg
