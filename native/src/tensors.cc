// Tensor creation from / export to JS buffers, metadata, lifetime.
#include "addon.h"

#include <torch/csrc/autograd/function.h>

#include <cstring>

namespace ns {

int64_t ToInt64(Napi::Env env, const Napi::Value& v, const char* what) {
  if (v.IsBigInt()) {
    bool lossless = false;
    const int64_t r = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) GetAddon(env).Throw(env, std::string(what) + ": BigInt out of int64 range");
    return r;
  }
  if (!v.IsNumber()) GetAddon(env).Throw(env, std::string(what) + ": expected an integer");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) {
    GetAddon(env).Throw(env, std::string(what) + ": expected an integer, got " + std::to_string(d));
  }
  return static_cast<int64_t>(d);
}

std::vector<int64_t> ToIntList(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) GetAddon(env).Throw(env, std::string(what) + ": expected an array of integers");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<int64_t> out(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out[i] = ToInt64(env, a.Get(i), what);
  return out;
}

static at::ScalarType ToDType(Napi::Env env, const Napi::Value& v) {
  const int64_t code = ToInt64(env, v, "dtype");
  if (code < 0 || code >= static_cast<int64_t>(at::ScalarType::NumOptions)) GetAddon(env).Throw(env, "unknown dtype code");
  return static_cast<at::ScalarType>(code);
}

struct BufferView {
  Napi::Value owner;  // the ArrayBuffer keeping the bytes alive
  uint8_t* data;
  size_t bytes;
};

static BufferView ViewOf(Napi::Env env, const Napi::Value& v) {
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = ta.ArrayBuffer();
    return {ab, static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset(), ta.ByteLength()};
  }
  if (v.IsDataView()) {
    Napi::DataView dv = v.As<Napi::DataView>();
    Napi::ArrayBuffer ab = dv.ArrayBuffer();
    return {ab, static_cast<uint8_t*>(ab.Data()) + dv.ByteOffset(), dv.ByteLength()};
  }
  if (v.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = v.As<Napi::ArrayBuffer>();
    return {ab, static_cast<uint8_t*>(ab.Data()), ab.ByteLength()};
  }
  GetAddon(env).Throw(env, "expected a TypedArray, DataView or ArrayBuffer");
}

// fromBuffer(view, shape, dtype, copy): copy=true (default) owns its memory; copy=false shares the
// JS buffer (the buffer is kept alive until libtorch frees the storage).
static Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    addon.DrainParked();
    BufferView view = ViewOf(env, info[0]);
    std::vector<int64_t> shape = ToIntList(env, info[1], "shape");
    const at::ScalarType dtype = ToDType(env, info[2]);
    const bool copy = info.Length() < 4 || info[3].IsUndefined() || info[3].ToBoolean().Value();
    int64_t numel = 1;
    for (int64_t d : shape) {
      if (d < 0) addon.Throw(env, "fromBuffer: negative dimension");
      numel *= d;
    }
    const size_t need = static_cast<size_t>(numel) * c10::elementSize(dtype);
    if (need != view.bytes) {
      addon.Throw(env, "fromBuffer: shape needs " + std::to_string(need) + " bytes but the buffer has " + std::to_string(view.bytes));
    }
    at::Tensor t;
    if (copy) {
      t = at::empty(shape, at::TensorOptions().dtype(dtype));
      if (need > 0) std::memcpy(t.data_ptr(), view.data, need);
    } else {
      if (reinterpret_cast<uintptr_t>(view.data) % c10::elementSize(dtype) != 0) {
        addon.Throw(env, "fromBuffer: zero-copy needs a buffer aligned to the element size");
      }
      auto* ref = new Napi::Reference<Napi::Value>(Napi::Persistent(view.owner));
      t = at::from_blob(
          view.data, shape,
          [&addon, ref](void*) {
            std::lock_guard<std::mutex> lock(addon.parked_mu);
            addon.parked_refs.push_back(ref);
          },
          at::TensorOptions().dtype(dtype));
    }
    return Napi::Number::New(env, addon.Store(std::move(t)));
  });
}

static at::Tensor Densified(const at::Tensor& t) {
  at::Tensor c = t.is_contiguous() ? t : t.contiguous();
  if (c.is_conj()) c = c.resolve_conj();
  if (c.is_neg()) c = c.resolve_neg();
  return c;
}

// toBuffer(h): a copy of the data (C order) in a fresh ArrayBuffer.
static Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    if (addon.compute.Busy()) addon.compute.WaitIdle();
    at::Tensor t;
    {
      at::NoGradGuard no_grad;
      t = Densified(addon.Get(env, info[0]).detach().cpu());
    }
    const size_t bytes = t.numel() * t.element_size();
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, bytes);
    if (bytes > 0) std::memcpy(ab.Data(), t.data_ptr(), bytes);
    return ab;
  });
}

// toExternal(h): zero-copy view of a contiguous CPU tensor's memory. The ArrayBuffer holds a
// reference to the storage, so it stays valid after the tensor is disposed.
static Napi::Value ToExternal(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    if (addon.compute.Busy()) addon.compute.WaitIdle();
    const at::Tensor& src = addon.Get(env, info[0]);
    if (!src.is_cpu()) {
      addon.Throw(env, "toExternal: a zero-copy view needs a CPU tensor, this one is on " + src.device().str() +
                           " (use toTypedArray(), which copies to the CPU, or to('cpu') first)");
    }
    if (!src.is_contiguous() || src.is_conj() || src.is_neg()) {
      addon.Throw(env, "toExternal: needs a contiguous CPU tensor (call contiguous() first)");
    }
    if (src.numel() == 0) return Napi::ArrayBuffer::New(env, 0);
    auto* keep = new at::Tensor(src.detach());
    return Napi::ArrayBuffer::New(env, keep->data_ptr(), keep->numel() * keep->element_size(),
                                  [](Napi::Env, void*, at::Tensor* t) { delete t; }, keep);
  });
}

static Napi::Value Release(const Napi::CallbackInfo& info) {
  Addon& addon = GetAddon(info.Env());
  // A task in flight may still use this tensor's storage; the at::Tensor copy it holds keeps it
  // alive, so releasing the handle is always safe.
  const bool ok = info[0].IsNumber() && addon.Release(info[0].As<Napi::Number>().DoubleValue());
  addon.DrainParked();
  return Napi::Boolean::New(info.Env(), ok);
}

static Napi::Value LiveCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(GetAddon(info.Env()).Live()));
}

// Bytes of CPU tensor storage live handles hold, as the addon reports them to V8
// (napi_adjust_external_memory): each storage once, zero-copy imports of JS buffers not at all.
static Napi::Value ExternalBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(GetAddon(info.Env()).ExternalBytes()));
}

// What V8 itself now counts as external memory (napi_adjust_external_memory(0) returns its total):
// proof that the reports arrive, since process.memoryUsage().external does not include them.
static Napi::Value V8ExternalMemory(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Napi::MemoryManagement::AdjustExternalMemory(info.Env(), 0)));
}

static Napi::Value Shape(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    const at::Tensor& t = GetAddon(env).Get(env, info[0]);
    auto sizes = t.sizes();
    Napi::Array a = Napi::Array::New(env, sizes.size());
    for (size_t i = 0; i < sizes.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(sizes[i])));
    return a;
  });
}

static Napi::Value Strides(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    const at::Tensor& t = GetAddon(env).Get(env, info[0]);
    auto st = t.strides();
    Napi::Array a = Napi::Array::New(env, st.size());
    for (size_t i = 0; i < st.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(st[i])));
    return a;
  });
}

static Napi::Value DType(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    return Napi::Number::New(env, static_cast<int>(GetAddon(env).Get(env, info[0]).scalar_type()));
  });
}

static Napi::Value Device(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    return Napi::String::New(env, GetAddon(env).Get(env, info[0]).device().str());
  });
}

static Napi::Value Item(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    if (addon.compute.Busy()) addon.compute.WaitIdle();
    const at::Tensor& t = addon.Get(env, info[0]);
    if (t.numel() != 1) addon.Throw(env, "item(): tensor has " + std::to_string(t.numel()) + " elements, expected 1");
    c10::Scalar s = t.item();
    if (s.isBoolean()) return Napi::Value(Napi::Boolean::New(env, s.toBool()));
    if (s.isIntegral(false)) return Napi::Value(Napi::Number::New(env, static_cast<double>(s.toLong())));
    return Napi::Value(Napi::Number::New(env, s.toDouble()));
  });
}

static Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    return Napi::Boolean::New(env, GetAddon(env).Get(env, info[0]).requires_grad());
  });
}

static Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    GetAddon(env).Get(env, info[0]).set_requires_grad(info[1].ToBoolean().Value());
    return env.Undefined();
  });
}

static Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    return Napi::Boolean::New(env, GetAddon(env).Get(env, info[0]).is_leaf());
  });
}

static Napi::Value Grad(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    if (addon.compute.Busy()) addon.compute.WaitIdle();
    const at::Tensor& g = addon.Get(env, info[0]).grad();
    if (!g.defined()) return env.Null();
    return Napi::Value(Napi::Number::New(env, addon.Store(g)));
  });
}

static Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    if (addon.compute.Busy()) addon.compute.WaitIdle();
    at::Tensor& t = addon.Get(env, info[0]);
    if (info[1].IsNull() || info[1].IsUndefined()) {
      t.mutable_grad() = at::Tensor();
    } else {
      t.mutable_grad() = addon.Get(env, info[1]);
    }
    return env.Undefined();
  });
}

static Napi::Value RetainGrad(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    GetAddon(env).Get(env, info[0]).retain_grad();
    return env.Undefined();
  });
}

// gradFn(h): null for leaves, else { name, next: [names of the next functions] }.
static Napi::Value GradFn(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    const at::Tensor& t = GetAddon(env).Get(env, info[0]);
    const auto& fn = t.grad_fn();
    if (!fn) return env.Null();
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", fn->name());
    Napi::Array next = Napi::Array::New(env);
    uint32_t i = 0;
    for (const auto& edge : fn->next_edges()) {
      next.Set(i++, edge.function ? Napi::Value(Napi::String::New(env, edge.function->name())) : env.Null());
    }
    o.Set("next", next);
    return Napi::Value(o);
  });
}

static Napi::Value SameTensor(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    return Napi::Boolean::New(env, addon.Get(env, info[0]).is_same(addon.Get(env, info[1])));
  });
}

// Bytes of storage a tensor keeps alive (for memory accounting in tests and benchmarks).
static Napi::Value StorageBytes(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    const at::Tensor& t = GetAddon(env).Get(env, info[0]);
    return Napi::Number::New(env, t.has_storage() ? static_cast<double>(t.storage().nbytes()) : 0.0);
  });
}

void InitTensors(Napi::Env env, Napi::Object exports) {
  exports.Set("fromBuffer", Napi::Function::New(env, FromBuffer));
  exports.Set("toBuffer", Napi::Function::New(env, ToBuffer));
  exports.Set("toExternal", Napi::Function::New(env, ToExternal));
  exports.Set("release", Napi::Function::New(env, Release));
  exports.Set("liveCount", Napi::Function::New(env, LiveCount));
  exports.Set("externalBytes", Napi::Function::New(env, ExternalBytes));
  exports.Set("v8ExternalMemory", Napi::Function::New(env, V8ExternalMemory));
  exports.Set("shape", Napi::Function::New(env, Shape));
  exports.Set("strides", Napi::Function::New(env, Strides));
  exports.Set("dtype", Napi::Function::New(env, DType));
  exports.Set("device", Napi::Function::New(env, Device));
  exports.Set("item", Napi::Function::New(env, Item));
  exports.Set("requiresGrad", Napi::Function::New(env, RequiresGrad));
  exports.Set("setRequiresGrad", Napi::Function::New(env, SetRequiresGrad));
  exports.Set("isLeaf", Napi::Function::New(env, IsLeaf));
  exports.Set("grad", Napi::Function::New(env, Grad));
  exports.Set("setGrad", Napi::Function::New(env, SetGrad));
  exports.Set("retainGrad", Napi::Function::New(env, RetainGrad));
  exports.Set("gradFn", Napi::Function::New(env, GradFn));
  exports.Set("sameTensor", Napi::Function::New(env, SameTensor));
  exports.Set("storageBytes", Napi::Function::New(env, StorageBytes));
}

}  // namespace ns
