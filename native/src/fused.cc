// FusedProgram: an EfficientNet forward as a fixed list of steps (conv + bias + activation,
// squeeze-excite, residual save/add, feature-map taps, global pool, linear), built once from the
// plain-data plan of src/models/fused_plan.ts (BatchNorm already folded into the conv weights) and
// replayed natively: one JS -> C++ crossing per batch, run on the addon's serial compute thread
// (ENGINE.md "Threads"), in InferenceMode.
//
// Layout: activations are NHWC (channels_last), which is what oneDNN's fast direct and depthwise
// kernels want and what lets the kernels below vectorise over channels. TF "SAME" padding is
// computed from the actual input size at every run (src/nn/padding.ts: the odd pixel goes
// bottom/right), so any input size works.
#include "fused.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstring>

namespace ns {

namespace {

enum class Op { Conv, Se, Save, Add, Tap, Pool, Linear };
enum class Act { None, Relu, Relu6, Silu, HardSwish, Mish };
enum class Pool { Avg, Max, AvgMax, CatAvgMax };
// How a conv runs: oneDNN through ATen, or one of the kernels of this file.
enum class Impl { Mkldnn, Depthwise, Pointwise };

struct Step {
  Op op = Op::Conv;
  std::string kind;  // for profiles: stem, pw, dw3x3, conv3x3, head, se, add, pool, linear, ...
  // conv (weight [O, I/g, k, k]) / linear (weight [O, I]); se: reduce (w, b), expand (w2, b2)
  at::Tensor w, b, w2, b2;
  at::Tensor w_dw;  // depthwise weight repacked as [k, k, C] float32, for the own kernel
  int64_t in_chs = 0, out_chs = 0, kernel = 1, stride = 1, dilation = 1, groups = 1;
  int64_t padding = 0;  // static symmetric padding; -1 = TF SAME from the input size
  Act act = Act::None;
  Pool pool = Pool::Avg;
  Impl impl = Impl::Mkldnn;
};

struct Options {
  bool bf16 = false;
  bool own_depthwise = true;  // the depthwise kernel below instead of oneDNN's
};

struct Program {
  std::vector<Step> steps;
  Options opts;
  at::ScalarType dtype = at::kFloat;
  int64_t in_chans = 0;
};

// ------------------------------------------------------------------ small helpers

Act ParseAct(Napi::Env env, const Napi::Value& v) {
  if (v.IsNull() || v.IsUndefined()) return Act::None;
  const std::string s = v.As<Napi::String>().Utf8Value();
  if (s == "relu") return Act::Relu;
  if (s == "relu6") return Act::Relu6;
  if (s == "silu" || s == "swish") return Act::Silu;
  if (s == "hard_swish") return Act::HardSwish;
  if (s == "mish") return Act::Mish;
  GetAddon(env).Throw(env, "FusedProgram: unknown activation '" + s + "'");
}

void ApplyAct(at::Tensor& x, Act a) {
  switch (a) {
    case Act::None:
      return;
    case Act::Relu:
      x.relu_();
      return;
    case Act::Relu6:
      x.clamp_(0, 6);
      return;
    case Act::Silu:
      at::silu_(x);
      return;
    case Act::HardSwish:
      at::hardswish_(x);
      return;
    case Act::Mish:
      at::mish_(x);
      return;
  }
}

// TF SAME padding of one spatial dim: [before, after].
std::pair<int64_t, int64_t> SamePad(int64_t in, int64_t k, int64_t s, int64_t d) {
  const int64_t out = (in + s - 1) / s;
  const int64_t total = std::max<int64_t>((out - 1) * s + (k - 1) * d + 1 - in, 0);
  return {total / 2, total - total / 2};
}

// ------------------------------------------------------------------ own kernels
//
// Plain loops over the channel dim (innermost in NHWC) that GCC vectorises; target_clones builds
// an AVX-512 and a baseline version and picks one at load time, so the addon still runs on CPUs
// without AVX-512 (the rest of the addon is built for the baseline).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NS_KERNEL __attribute__((target_clones("arch=sapphirerapids", "avx2", "default"), optimize("O3")))
#else
#define NS_KERNEL
#endif

// One output row of a depthwise conv, NHWC: out[ow, c] = bias[c] + sum_kh,kw in[ih, iw, c] * w[kh, kw, c],
// then the activation (SiLU, ReLU or none; others are applied afterwards by ATen).
NS_KERNEL void DwRow(const float* __restrict in, int64_t H, int64_t W, int64_t C, const float* __restrict w,
                     const float* __restrict bias, int64_t K, int64_t stride, int64_t dil, int64_t oh, int64_t OW,
                     int64_t pad_t, int64_t pad_l, float* __restrict out, int act) {
  for (int64_t ow = 0; ow < OW; ++ow) {
    float* __restrict o = out + ow * C;
    for (int64_t c = 0; c < C; ++c) o[c] = bias[c];
    for (int64_t kh = 0; kh < K; ++kh) {
      const int64_t ih = oh * stride - pad_t + kh * dil;
      if (ih < 0 || ih >= H) continue;
      for (int64_t kw = 0; kw < K; ++kw) {
        const int64_t iw = ow * stride - pad_l + kw * dil;
        if (iw < 0 || iw >= W) continue;
        const float* __restrict x = in + (ih * W + iw) * C;
        const float* __restrict wk = w + (kh * K + kw) * C;
        for (int64_t c = 0; c < C; ++c) o[c] += x[c] * wk[c];
      }
    }
  }
  const int64_t n = OW * C;
  if (act == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = out[i] > 0.f ? out[i] : 0.f;
  } else if (act == 3) {
    for (int64_t i = 0; i < n; ++i) out[i] = out[i] / (1.f + std::exp(-out[i]));
  }
}

at::Tensor Depthwise(const Step& s, const at::Tensor& x) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  int64_t pt = s.padding, pb = s.padding, pl = s.padding, pr = s.padding;
  if (s.padding < 0) {
    std::tie(pt, pb) = SamePad(H, s.kernel, s.stride, s.dilation);
    std::tie(pl, pr) = SamePad(W, s.kernel, s.stride, s.dilation);
  }
  const int64_t OH = (H + pt + pb - s.dilation * (s.kernel - 1) - 1) / s.stride + 1;
  const int64_t OW = (W + pl + pr - s.dilation * (s.kernel - 1) - 1) / s.stride + 1;
  at::Tensor y = at::empty({N, C, OH, OW}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  const float* in = x.data_ptr<float>();
  float* out = y.data_ptr<float>();
  const float* w = s.w_dw.data_ptr<float>();
  const float* b = s.b.data_ptr<float>();
  const int act = s.act == Act::Relu ? 1 : s.act == Act::Silu ? 3 : 0;
  at::parallel_for(0, N * OH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / OH, oh = r % OH;
      DwRow(in + n * H * W * C, H, W, C, w, b, s.kernel, s.stride, s.dilation, oh, OW, pt, pl, out + (n * OH + oh) * OW * C, act);
    }
  });
  if (act == 0) ApplyAct(y, s.act);
  return y;
}

// ------------------------------------------------------------------ steps

at::Tensor Conv(const Program& p, const Step& s, at::Tensor x) {
  if (s.impl == Impl::Depthwise) return Depthwise(s, x);
  std::vector<int64_t> pad{s.padding, s.padding};
  if (s.padding < 0) {
    const auto [pt, pb] = SamePad(x.size(2), s.kernel, s.stride, s.dilation);
    const auto [pl, pr] = SamePad(x.size(3), s.kernel, s.stride, s.dilation);
    if (pt == pb && pl == pr) {
      pad = {pt, pl};
    } else {
      // oneDNN could pad asymmetrically, but ATen's conv API cannot say so: pad the input.
      x = at::constant_pad_nd(x, {pl, pr, pt, pb}, 0).contiguous(at::MemoryFormat::ChannelsLast);
      pad = {0, 0};
    }
  }
  at::Tensor y = at::mkldnn_convolution(x, s.w, s.b, pad, {s.stride, s.stride}, {s.dilation, s.dilation}, s.groups);
  ApplyAct(y, s.act);
  return y;
}

at::Tensor SqueezeExcite(const Step& s, at::Tensor x) {
  const int64_t N = x.size(0), C = x.size(1);
  at::Tensor g = at::linear(x.mean({2, 3}), s.w, s.b);
  ApplyAct(g, s.act);
  g = at::linear(g, s.w2, s.b2);
  g.sigmoid_();
  x.mul_(g.view({N, C, 1, 1}));
  return x;
}

at::Tensor GlobalPool(const Step& s, const at::Tensor& x) {
  switch (s.pool) {
    case Pool::Avg:
      return x.mean({2, 3});
    case Pool::Max:
      return x.amax({2, 3});
    case Pool::AvgMax:
      return x.mean({2, 3}).add_(x.amax({2, 3})).mul_(0.5);
    case Pool::CatAvgMax:
      return at::cat({x.mean({2, 3}), x.amax({2, 3})}, 1);
  }
  return x;
}

struct RunResult {
  std::vector<at::Tensor> outputs;
  std::vector<double> step_ms;
};

// Steps [0, stop): the taps, then the last value.
RunResult Run(const Program& p, const at::Tensor& input, size_t stop, bool profile) {
  c10::InferenceMode guard;
  RunResult r;
  at::Tensor x = input.to(p.dtype).contiguous(at::MemoryFormat::ChannelsLast);
  std::vector<at::Tensor> saved;
  using Clock = std::chrono::steady_clock;
  if (profile) r.step_ms.reserve(stop);
  for (size_t i = 0; i < stop && i < p.steps.size(); ++i) {
    const Step& s = p.steps[i];
    const auto t0 = profile ? Clock::now() : Clock::time_point();
    switch (s.op) {
      case Op::Conv:
        x = Conv(p, s, x);
        break;
      case Op::Se:
        x = SqueezeExcite(s, x);
        break;
      case Op::Save:
        saved.push_back(x);
        break;
      case Op::Add:
        // x is the block's last conv output, never shared: add in place.
        x.add_(saved.back());
        saved.pop_back();
        break;
      case Op::Tap:
        r.outputs.push_back(x.to(at::kFloat).contiguous());
        break;
      case Op::Pool:
        x = GlobalPool(s, x);
        break;
      case Op::Linear:
        x = at::linear(x, s.w, s.b);
        break;
    }
    if (profile) r.step_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  if (p.steps.empty() || p.steps[std::min(stop, p.steps.size()) - 1].op != Op::Tap) r.outputs.push_back(x.to(at::kFloat).contiguous());
  return r;
}

// ------------------------------------------------------------------ building

at::Tensor TensorArg(Napi::Env env, const Napi::Object& o, const char* key, int64_t dims) {
  Addon& addon = GetAddon(env);
  at::Tensor t = addon.Get(env, o.Get(key));
  if (!t.is_cpu() || t.scalar_type() != at::kFloat || t.dim() != dims) {
    addon.Throw(env, std::string("FusedProgram: '") + key + "' must be a " + std::to_string(dims) + "-d float32 CPU tensor");
  }
  return t.contiguous();
}

int64_t IntArg(Napi::Env env, const Napi::Object& o, const char* key) { return ToInt64(env, o.Get(key), key); }

Step ParseStep(Napi::Env env, const Napi::Object& o, const Options& opts) {
  Addon& addon = GetAddon(env);
  const std::string op = o.Get("op").As<Napi::String>().Utf8Value();
  Step s;
  s.kind = o.Has("kind") && o.Get("kind").IsString() ? o.Get("kind").As<Napi::String>().Utf8Value() : op;
  if (op == "conv") {
    s.op = Op::Conv;
    s.w = TensorArg(env, o, "weight", 4);
    s.b = TensorArg(env, o, "bias", 1);
    s.stride = IntArg(env, o, "stride");
    s.dilation = IntArg(env, o, "dilation");
    s.groups = IntArg(env, o, "groups");
    s.padding = IntArg(env, o, "padding");
    s.act = ParseAct(env, o.Get("act"));
    s.out_chs = s.w.size(0);
    s.in_chs = s.w.size(1) * s.groups;
    s.kernel = s.w.size(2);
    if (s.w.size(3) != s.kernel || s.b.size(0) != s.out_chs || s.stride < 1 || s.dilation < 1 || s.groups < 1 || s.padding < -1) {
      addon.Throw(env, "FusedProgram: inconsistent conv step '" + s.kind + "'");
    }
    const bool depthwise = s.groups == s.in_chs && s.groups == s.out_chs && s.groups > 1;
    if (depthwise && opts.own_depthwise && !opts.bf16) {
      s.impl = Impl::Depthwise;
      s.w_dw = s.w.view({s.out_chs, s.kernel * s.kernel}).t().contiguous();  // [k*k, C]
    }
  } else if (op == "se") {
    s.op = Op::Se;
    s.w = TensorArg(env, o, "reduceWeight", 2);
    s.b = TensorArg(env, o, "reduceBias", 1);
    s.w2 = TensorArg(env, o, "expandWeight", 2);
    s.b2 = TensorArg(env, o, "expandBias", 1);
    s.act = ParseAct(env, o.Get("act"));
    s.in_chs = s.w.size(1);
    if (s.w2.size(0) != s.in_chs || s.w2.size(1) != s.w.size(0)) addon.Throw(env, "FusedProgram: inconsistent se step");
  } else if (op == "save") {
    s.op = Op::Save;
  } else if (op == "add") {
    s.op = Op::Add;
  } else if (op == "tap") {
    s.op = Op::Tap;
  } else if (op == "pool") {
    s.op = Op::Pool;
    const std::string t = o.Get("pool").As<Napi::String>().Utf8Value();
    if (t == "avg") s.pool = Pool::Avg;
    else if (t == "max") s.pool = Pool::Max;
    else if (t == "avgmax") s.pool = Pool::AvgMax;
    else if (t == "catavgmax") s.pool = Pool::CatAvgMax;
    else addon.Throw(env, "FusedProgram: unknown pool '" + t + "'");
  } else if (op == "linear") {
    s.op = Op::Linear;
    s.w = TensorArg(env, o, "weight", 2);
    s.b = TensorArg(env, o, "bias", 1);
  } else {
    addon.Throw(env, "FusedProgram: unknown step '" + op + "'");
  }
  if (opts.bf16) {
    for (at::Tensor* t : {&s.w, &s.b, &s.w2, &s.b2}) {
      if (t->defined()) *t = t->to(at::kBFloat16);
    }
  }
  if (s.op == Op::Conv && s.impl == Impl::Mkldnn) s.w = s.w.contiguous(at::MemoryFormat::ChannelsLast);
  return s;
}

// ------------------------------------------------------------------ the JS class

class FusedProgramWrap : public Napi::ObjectWrap<FusedProgramWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FusedProgram",
                       {InstanceMethod("run", &FusedProgramWrap::RunJs), InstanceMethod("release", &FusedProgramWrap::Release),
                        InstanceMethod("describe", &FusedProgramWrap::Describe)});
  }

  // new FusedProgram(steps, { inChans, precision: 'fp32' | 'bf16', ownDepthwise })
  explicit FusedProgramWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FusedProgramWrap>(info) {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    try {
      if (!info[0].IsArray() || !info[1].IsObject()) addon.Throw(env, "FusedProgram(steps, options): expected an array and an object");
      Napi::Object o = info[1].As<Napi::Object>();
      auto p = std::make_shared<Program>();
      const std::string precision = o.Has("precision") ? o.Get("precision").As<Napi::String>().Utf8Value() : "fp32";
      if (precision != "fp32" && precision != "bf16") addon.Throw(env, "FusedProgram: precision must be 'fp32' or 'bf16'");
      p->opts.bf16 = precision == "bf16";
      if (o.Has("ownDepthwise")) p->opts.own_depthwise = o.Get("ownDepthwise").ToBoolean().Value();
      p->dtype = p->opts.bf16 ? at::kBFloat16 : at::kFloat;
      p->in_chans = ToInt64(env, o.Get("inChans"), "inChans");
      // Building runs ATen ops (casts, repacks): keep program order with queued work.
      if (addon.compute.Busy()) addon.compute.WaitIdle();
      c10::InferenceMode guard;
      Napi::Array a = info[0].As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) p->steps.push_back(ParseStep(env, a.Get(i).As<Napi::Object>(), p->opts));
      if (p->steps.empty()) addon.Throw(env, "FusedProgram: no steps");
      program_ = std::move(p);
    } catch (const Napi::Error&) {
      throw;
    } catch (const c10::Error& e) {
      addon.Throw(env, e.what_without_backtrace());
    } catch (const std::exception& e) {
      addon.Throw(env, e.what());
    }
  }

 private:
  std::shared_ptr<const Program> program_;

  const Program& Checked(Napi::Env env) {
    if (!program_) GetAddon(env).ThrowDisposed(env, "FusedProgram was released");
    return *program_;
  }

  // run(data: Float32Array, shape [N, C, H, W], stop: number of steps to run, profile) ->
  // Promise<{ outputs: { data, shape }[], stepMs: number[] | null }>
  Napi::Value RunJs(const Napi::CallbackInfo& info) {
    return Guard(info, [&] {
      Napi::Env env = info.Env();
      Addon& addon = GetAddon(env);
      const Program& p = Checked(env);
      if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
        addon.Throw(env, "FusedProgram.run: data must be a Float32Array");
      }
      Napi::Float32Array data = info[0].As<Napi::Float32Array>();
      std::vector<int64_t> shape = ToIntList(env, info[1], "shape");
      if (shape.size() != 4) addon.Throw(env, "FusedProgram.run: shape must be [N, C, H, W]");
      int64_t numel = 1;
      for (int64_t d : shape) {
        if (d < 1) addon.Throw(env, "FusedProgram.run: shape must be positive");
        numel *= d;
      }
      if (shape[1] != p.in_chans) {
        addon.Throw(env, "FusedProgram.run: the batch has " + std::to_string(shape[1]) + " channels, the model takes " +
                             std::to_string(p.in_chans));
      }
      if (static_cast<int64_t>(data.ElementLength()) != numel) addon.Throw(env, "FusedProgram.run: data does not match shape");
      const int64_t stop = ToInt64(env, info[2], "stop");
      if (stop < 1 || stop > static_cast<int64_t>(p.steps.size())) addon.Throw(env, "FusedProgram.run: stop out of range");
      const bool profile = info[3].ToBoolean().Value();
      // A copy: the caller may reuse its buffer as soon as run() returns.
      at::Tensor x = at::empty(shape, at::kFloat);
      std::memcpy(x.data_ptr<float>(), data.Data(), numel * sizeof(float));
      auto program = program_;
      auto result = std::make_shared<RunResult>();
      auto task = std::make_unique<Task>();
      task->work = [program, x, stop, profile, result] { *result = Run(*program, x, static_cast<size_t>(stop), profile); };
      task->finish = [result](Napi::Env e) {
        Napi::Object out = Napi::Object::New(e);
        Napi::Array outs = Napi::Array::New(e, result->outputs.size());
        for (size_t i = 0; i < result->outputs.size(); ++i) {
          const at::Tensor& t = result->outputs[i];
          Napi::Float32Array arr = Napi::Float32Array::New(e, t.numel());
          if (t.numel() > 0) std::memcpy(arr.Data(), t.data_ptr<float>(), t.numel() * sizeof(float));
          Napi::Array dims = Napi::Array::New(e, t.dim());
          for (int64_t d = 0; d < t.dim(); ++d) dims.Set(static_cast<uint32_t>(d), Napi::Number::New(e, static_cast<double>(t.size(d))));
          Napi::Object o = Napi::Object::New(e);
          o.Set("data", arr);
          o.Set("shape", dims);
          outs.Set(static_cast<uint32_t>(i), o);
        }
        out.Set("outputs", outs);
        if (result->step_ms.empty()) {
          out.Set("stepMs", e.Null());
        } else {
          Napi::Array ms = Napi::Array::New(e, result->step_ms.size());
          for (size_t i = 0; i < result->step_ms.size(); ++i) ms.Set(static_cast<uint32_t>(i), Napi::Number::New(e, result->step_ms[i]));
          out.Set("stepMs", ms);
        }
        result->outputs.clear();
        return Napi::Value(out);
      };
      return addon.compute.Submit(env, std::move(task));
    });
  }

  // Drops the weights now (a run in flight keeps its own reference until it ends).
  Napi::Value Release(const Napi::CallbackInfo& info) {
    const bool had = program_ != nullptr;
    program_.reset();
    return Napi::Boolean::New(info.Env(), had);
  }

  // describe() -> [{ kind, impl }] per step: which kernel each step uses.
  Napi::Value Describe(const Napi::CallbackInfo& info) {
    return Guard(info, [&] {
      Napi::Env env = info.Env();
      const Program& p = Checked(env);
      Napi::Array a = Napi::Array::New(env, p.steps.size());
      for (size_t i = 0; i < p.steps.size(); ++i) {
        const Step& s = p.steps[i];
        Napi::Object o = Napi::Object::New(env);
        o.Set("kind", s.kind);
        o.Set("impl", s.op != Op::Conv ? "aten" : s.impl == Impl::Depthwise ? "depthwise" : s.impl == Impl::Pointwise ? "pointwise" : "mkldnn");
        a.Set(static_cast<uint32_t>(i), o);
      }
      return Napi::Value(a);
    });
  }
};

}  // namespace

void InitFused(Napi::Env env, Napi::Object exports) { exports.Set("FusedProgram", FusedProgramWrap::Define(env)); }

}  // namespace ns
