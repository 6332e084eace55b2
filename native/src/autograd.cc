// Autograd entry points and grad / inference modes.
#include "addon.h"

#include <torch/csrc/autograd/autograd.h>

namespace ns {

namespace {

std::vector<at::Tensor> TensorsOf(Napi::Env env, Addon& addon, const Napi::Value& v, bool allow_null) {
  std::vector<at::Tensor> out;
  if (v.IsNull() || v.IsUndefined()) return out;
  if (!v.IsArray()) addon.Throw(env, "expected an array of tensors");
  Napi::Array a = v.As<Napi::Array>();
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a.Get(i);
    if (allow_null && (e.IsNull() || e.IsUndefined())) out.emplace_back();
    else out.push_back(addon.Get(env, e));
  }
  return out;
}

Optional<bool> OptBool(const Napi::Value& v) {
  if (v.IsNull() || v.IsUndefined()) return kNullopt;
  return v.ToBoolean().Value();
}

struct BackwardArgs {
  std::vector<at::Tensor> tensors, grads, inputs;
  Optional<bool> retain;
  bool create = false;
};

BackwardArgs ParseBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Addon& addon = GetAddon(env);
  BackwardArgs a;
  a.tensors = TensorsOf(env, addon, info[0], false);
  a.grads = TensorsOf(env, addon, info[1], true);
  a.retain = OptBool(info[2]);
  a.create = info[3].ToBoolean().Value();
  a.inputs = TensorsOf(env, addon, info[4], false);
  if (!a.grads.empty() && a.grads.size() != a.tensors.size()) addon.Throw(env, "backward: grads must match tensors in length");
  return a;
}

// backward(tensors, grads|null, retainGraph|null, createGraph, inputs|null)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Addon& addon = GetAddon(info.Env());
    if (addon.compute.Busy()) addon.compute.WaitIdle();
    BackwardArgs a = ParseBackward(info);
    torch::autograd::backward(a.tensors, a.grads, a.retain, a.create, a.inputs);
    return info.Env().Undefined();
  });
}

Napi::Value BackwardAsync(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    auto a = std::make_shared<BackwardArgs>(ParseBackward(info));
    auto task = std::make_unique<Task>();
    task->work = [a] { torch::autograd::backward(a->tensors, a->grads, a->retain, a->create, a->inputs); };
    task->finish = [](Napi::Env e) { return e.Undefined(); };
    return GetAddon(env).compute.Submit(env, std::move(task));
  });
}

// grad(outputs, inputs, gradOutputs|null, retainGraph|null, createGraph, allowUnused) -> handles
// (null for unused inputs when allowUnused).
Napi::Value Grad(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    if (addon.compute.Busy()) addon.compute.WaitIdle();
    auto outputs = TensorsOf(env, addon, info[0], false);
    auto inputs = TensorsOf(env, addon, info[1], false);
    auto grad_outputs = TensorsOf(env, addon, info[2], true);
    auto res = torch::autograd::grad(outputs, inputs, grad_outputs, OptBool(info[3]), info[4].ToBoolean().Value(),
                                     info[5].ToBoolean().Value());
    Napi::Array arr = Napi::Array::New(env, res.size());
    for (size_t i = 0; i < res.size(); ++i) {
      arr.Set(static_cast<uint32_t>(i), res[i].defined() ? Napi::Value(Napi::Number::New(env, addon.Store(res[i]))) : env.Null());
    }
    return Napi::Value(arr);
  });
}

// setGradEnabled(b) -> previous value. Thread-local to the JS thread; tasks sent to the compute
// thread capture it at submission.
Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  const bool prev = c10::GradMode::is_enabled();
  c10::GradMode::set_enabled(info[0].ToBoolean().Value());
  return Napi::Boolean::New(info.Env(), prev);
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled()); }

Napi::Value EnterInferenceMode(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    GetAddon(info.Env()).inference_stack.push_back(std::make_unique<c10::InferenceMode>(info[0].ToBoolean().Value()));
    return info.Env().Undefined();
  });
}

Napi::Value ExitInferenceMode(const Napi::CallbackInfo& info) {
  auto& stack = GetAddon(info.Env()).inference_stack;
  if (!stack.empty()) stack.pop_back();
  return info.Env().Undefined();
}

Napi::Value IsInferenceMode(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::InferenceMode::is_enabled());
}

}  // namespace

void InitAutograd(Napi::Env env, Napi::Object exports) {
  exports.Set("backward", Napi::Function::New(env, Backward));
  exports.Set("backwardAsync", Napi::Function::New(env, BackwardAsync));
  exports.Set("autogradGrad", Napi::Function::New(env, Grad));
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled));
  exports.Set("isGradEnabled", Napi::Function::New(env, IsGradEnabled));
  exports.Set("enterInferenceMode", Napi::Function::New(env, EnterInferenceMode));
  exports.Set("exitInferenceMode", Napi::Function::New(env, ExitInferenceMode));
  exports.Set("isInferenceMode", Napi::Function::New(env, IsInferenceMode));
}

}  // namespace ns
