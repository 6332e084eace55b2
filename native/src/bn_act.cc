// Training-mode BatchNorm + activation as one autograd function (timm's BatchNormAct2d in train()).
//
// Why: libtorch 1.13's CPU batch_norm forward in training mode measured 3-5x the cost of a plain
// pass over the tensor (its statistics kernel), and was the largest single item of an EfficientNet
// training step's profile (~23% of self time at 64 px, channels_last); the separate activation adds
// a pass, and in-place SiLU keeps a copy of its input for backward. Here the forward is two passes
// (statistics, then normalise + activation in one), nothing but the input and per-channel
// statistics is saved, and the backward recomputes the pre-activation on the fly to apply the
// activation's derivative, then hands over to libtorch's own native_batch_norm_backward.
//
// float32 only, NCHW-contiguous or channels_last inputs (others are made contiguous); the JS layer
// (src/torch/fused_train.ts) sends everything else to aten::batch_norm.
#include "addon.h"
#include "fast_exp.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <cstring>

namespace ns {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NS_BN_KERNEL __attribute__((target_clones("avx512f", "default"), optimize("O3")))
#else
#define NS_BN_KERNEL
#endif
#define NS_BN_INLINE inline __attribute__((always_inline))

constexpr int64_t kNone = 0, kRelu = 1, kSilu = 3;


template <int64_t A>
NS_BN_INLINE float Act(float z) {
  if constexpr (A == kRelu) return z > 0.f ? z : 0.f;
  if constexpr (A == kSilu) return z / (1.f + FastExp(-z));
  return z;
}

// d act(z) / dz
template <int64_t A>
NS_BN_INLINE float DAct(float z) {
  if constexpr (A == kRelu) return z > 0.f ? 1.f : 0.f;
  if constexpr (A == kSilu) {
    const float s = 1.f / (1.f + FastExp(-z));
    return s * (1.f + z * (1.f - s));
  }
  return 1.f;
}

// ---------------------------------------------------------------- statistics
//
// Per-channel sums of (x - k) and (x - k)^2 with k the channel's first value (a shift that keeps
// E[x^2] - E[x]^2 from cancelling when the mean is large against the spread). Partial sums are
// float over at most kChunk values, then double.

constexpr int64_t kChunk = 256;

// channels_last: rows [r0, r1) of a [rows, C] matrix into s1, s2 (C doubles each).
NS_BN_KERNEL void StatsRowsCL(const float* __restrict x, const float* __restrict k, int64_t r0, int64_t r1, int64_t C,
                              double* __restrict s1, double* __restrict s2, float* __restrict f1, float* __restrict f2) {
  for (int64_t r = r0; r < r1; r += kChunk) {
    const int64_t re = std::min(r1, r + kChunk);
    for (int64_t c = 0; c < C; ++c) f1[c] = f2[c] = 0.f;
    for (int64_t i = r; i < re; ++i) {
      const float* row = x + i * C;
      for (int64_t c = 0; c < C; ++c) {
        const float d = row[c] - k[c];
        f1[c] += d;
        f2[c] += d * d;
      }
    }
    for (int64_t c = 0; c < C; ++c) {
      s1[c] += f1[c];
      s2[c] += f2[c];
    }
  }
}

// NCHW: one plane of n contiguous values of one channel, 16 lanes so the loop vectorises.
NS_BN_KERNEL void StatsPlane(const float* __restrict x, int64_t n, float k, double& s1, double& s2) {
  for (int64_t i0 = 0; i0 < n; i0 += kChunk * 16) {
    const int64_t e = std::min(n, i0 + kChunk * 16);
    float a1[16] = {0}, a2[16] = {0};
    int64_t i = i0;
    for (; i + 16 <= e; i += 16) {
      for (int l = 0; l < 16; ++l) {
        const float d = x[i + l] - k;
        a1[l] += d;
        a2[l] += d * d;
      }
    }
    float t1 = 0.f, t2 = 0.f;
    for (; i < e; ++i) {
      const float d = x[i] - k;
      t1 += d;
      t2 += d * d;
    }
    double d1 = t1, d2 = t2;
    for (int l = 0; l < 16; ++l) {
      d1 += a1[l];
      d2 += a2[l];
    }
    s1 += d1;
    s2 += d2;
  }
}

// ---------------------------------------------------------------- normalise + activation

template <int64_t A>
NS_BN_INLINE void NormRowsT(const float* __restrict x, float* __restrict y, const float* __restrict sc, const float* __restrict sh,
                            int64_t rows, int64_t C) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * C;
    float* yr = y + i * C;
    for (int64_t c = 0; c < C; ++c) yr[c] = Act<A>(xr[c] * sc[c] + sh[c]);
  }
}

NS_BN_KERNEL void NormRowsCL(const float* x, float* y, const float* sc, const float* sh, int64_t rows, int64_t C, int64_t act) {
  if (act == kSilu) NormRowsT<kSilu>(x, y, sc, sh, rows, C);
  else if (act == kRelu) NormRowsT<kRelu>(x, y, sc, sh, rows, C);
  else NormRowsT<kNone>(x, y, sc, sh, rows, C);
}

template <int64_t A>
NS_BN_INLINE void NormPlaneT(const float* __restrict x, float* __restrict y, float sc, float sh, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = Act<A>(x[i] * sc + sh);
}

NS_BN_KERNEL void NormPlane(const float* x, float* y, float sc, float sh, int64_t n, int64_t act) {
  if (act == kSilu) NormPlaneT<kSilu>(x, y, sc, sh, n);
  else if (act == kRelu) NormPlaneT<kRelu>(x, y, sc, sh, n);
  else NormPlaneT<kNone>(x, y, sc, sh, n);
}

// ---------------------------------------------------------------- backward of the activation

template <int64_t A>
NS_BN_INLINE void DActRowsT(const float* __restrict g, const float* __restrict x, float* __restrict out, const float* __restrict sc,
                            const float* __restrict sh, int64_t rows, int64_t C) {
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t o = i * C;
    for (int64_t c = 0; c < C; ++c) out[o + c] = g[o + c] * DAct<A>(x[o + c] * sc[c] + sh[c]);
  }
}

NS_BN_KERNEL void DActRowsCL(const float* g, const float* x, float* out, const float* sc, const float* sh, int64_t rows, int64_t C,
                             int64_t act) {
  if (act == kSilu) DActRowsT<kSilu>(g, x, out, sc, sh, rows, C);
  else DActRowsT<kRelu>(g, x, out, sc, sh, rows, C);
}

template <int64_t A>
NS_BN_INLINE void DActPlaneT(const float* __restrict g, const float* __restrict x, float* __restrict out, float sc, float sh, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = g[i] * DAct<A>(x[i] * sc + sh);
}

NS_BN_KERNEL void DActPlane(const float* g, const float* x, float* out, float sc, float sh, int64_t n, int64_t act) {
  if (act == kSilu) DActPlaneT<kSilu>(g, x, out, sc, sh, n);
  else DActPlaneT<kRelu>(g, x, out, sc, sh, n);
}

// ---------------------------------------------------------------- layout

struct Layout {
  bool channels_last;
  int64_t N, C, HW;
};

Layout LayoutOf(const at::Tensor& x) {
  const bool cl = x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(at::MemoryFormat::ChannelsLast);
  const int64_t hw = x.dim() > 2 ? x.numel() / (x.size(0) * x.size(1)) : 1;
  return {cl, x.size(0), x.size(1), hw};
}

// Per-channel scale = w * invstd and shift = b - mean * scale, the affine form the passes use.
void ScaleShift(const at::Tensor& w, const at::Tensor& b, const at::Tensor& mean, const at::Tensor& invstd, std::vector<float>& sc,
                std::vector<float>& sh) {
  const int64_t C = mean.numel();
  sc.resize(C);
  sh.resize(C);
  const float* pw = w.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  const float* pm = mean.data_ptr<float>();
  const float* pi = invstd.data_ptr<float>();
  for (int64_t c = 0; c < C; ++c) {
    sc[c] = pw[c] * pi[c];
    sh[c] = pb[c] - pm[c] * sc[c];
  }
}

// Grain so that each task has ~32k values to do.
int64_t RowGrain(int64_t C) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(C, 1)); }

struct BnAct : public torch::autograd::Function<BnAct> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& input, const at::Tensor& weight, const at::Tensor& bias,
                            at::Tensor running_mean, at::Tensor running_var, double momentum, double eps, int64_t act) {
    const Layout L = LayoutOf(input);
    const at::Tensor x = L.channels_last ? input : input.contiguous();
    const int64_t C = L.C, rows = L.N * L.HW;
    TORCH_CHECK(rows > 1, "Expected more than 1 value per channel when training, got input size ", input.sizes());
    const float* px = x.data_ptr<float>();

    // --- statistics
    std::vector<double> s1(C, 0.0), s2(C, 0.0);
    std::vector<float> k(C);
    if (L.channels_last) {
      std::memcpy(k.data(), px, C * sizeof(float));
      const int64_t nt = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads() * 4, (rows + kChunk - 1) / kChunk));
      std::vector<double> p1(nt * C, 0.0), p2(nt * C, 0.0);
      const int64_t per = (rows + nt - 1) / nt;
      at::parallel_for(0, nt, 1, [&](int64_t b, int64_t e) {
        std::vector<float> f1(C), f2(C);
        for (int64_t t = b; t < e; ++t) {
          const int64_t r0 = t * per, r1 = std::min(rows, r0 + per);
          if (r0 < r1) StatsRowsCL(px, k.data(), r0, r1, C, p1.data() + t * C, p2.data() + t * C, f1.data(), f2.data());
        }
      });
      for (int64_t t = 0; t < nt; ++t)
        for (int64_t c = 0; c < C; ++c) {
          s1[c] += p1[t * C + c];
          s2[c] += p2[t * C + c];
        }
    } else {
      for (int64_t c = 0; c < C; ++c) k[c] = px[c * L.HW];
      at::parallel_for(0, C, 1, [&](int64_t b, int64_t e) {
        for (int64_t c = b; c < e; ++c)
          for (int64_t n = 0; n < L.N; ++n) StatsPlane(px + (n * C + c) * L.HW, L.HW, k[c], s1[c], s2[c]);
      });
    }
    at::Tensor save_mean = at::empty({C}, x.options());
    at::Tensor save_invstd = at::empty({C}, x.options());
    {
      float* pm = save_mean.data_ptr<float>();
      float* pi = save_invstd.data_ptr<float>();
      float* rm = running_mean.defined() ? running_mean.data_ptr<float>() : nullptr;
      float* rv = running_var.defined() ? running_var.data_ptr<float>() : nullptr;
      const double n = static_cast<double>(rows);
      for (int64_t c = 0; c < C; ++c) {
        const double m1 = s1[c] / n;
        const double var = std::max(0.0, s2[c] / n - m1 * m1);
        const double mean = k[c] + m1;
        pm[c] = static_cast<float>(mean);
        pi[c] = static_cast<float>(1.0 / std::sqrt(var + eps));
        if (rm) rm[c] = static_cast<float>((1.0 - momentum) * rm[c] + momentum * mean);
        if (rv) rv[c] = static_cast<float>((1.0 - momentum) * rv[c] + momentum * var * n / (n - 1.0));
      }
    }

    // --- normalise + activation
    std::vector<float> sc, sh;
    ScaleShift(weight, bias, save_mean, save_invstd, sc, sh);
    at::Tensor out = at::empty_like(x);
    float* py = out.data_ptr<float>();
    if (L.channels_last) {
      at::parallel_for(0, rows, RowGrain(C), [&](int64_t b, int64_t e) {
        NormRowsCL(px + b * C, py + b * C, sc.data(), sh.data(), e - b, C, act);
      });
    } else {
      at::parallel_for(0, L.N * C, std::max<int64_t>(1, 32768 / std::max<int64_t>(L.HW, 1)), [&](int64_t b, int64_t e) {
        for (int64_t nc = b; nc < e; ++nc) {
          const int64_t c = nc % C;
          NormPlane(px + nc * L.HW, py + nc * L.HW, sc[c], sh[c], L.HW, act);
        }
      });
    }
    ctx->save_for_backward({x, weight, bias, save_mean, save_invstd});
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["act"] = act;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& x = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor& bias = saved[2];
    const at::Tensor& save_mean = saved[3];
    const at::Tensor& save_invstd = saved[4];
    const double eps = ctx->saved_data["eps"].toDouble();
    const int64_t act = ctx->saved_data["act"].toInt();
    const Layout L = LayoutOf(x);
    const auto fmt = L.channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    at::Tensor g = grads[0].contiguous(fmt);
    if (act != kNone) {
      std::vector<float> sc, sh;
      ScaleShift(weight, bias, save_mean, save_invstd, sc, sh);
      at::Tensor gz = at::empty_like(x);
      const float* pg = g.data_ptr<float>();
      const float* px = x.data_ptr<float>();
      float* po = gz.data_ptr<float>();
      const int64_t C = L.C, rows = L.N * L.HW;
      if (L.channels_last) {
        at::parallel_for(0, rows, RowGrain(C), [&](int64_t b, int64_t e) {
          DActRowsCL(pg + b * C, px + b * C, po + b * C, sc.data(), sh.data(), e - b, C, act);
        });
      } else {
        at::parallel_for(0, L.N * C, std::max<int64_t>(1, 32768 / std::max<int64_t>(L.HW, 1)), [&](int64_t b, int64_t e) {
          for (int64_t nc = b; nc < e; ++nc) {
            const int64_t c = nc % C;
            DActPlane(pg + nc * L.HW, px + nc * L.HW, po + nc * L.HW, sc[c], sh[c], L.HW, act);
          }
        });
      }
      g = gz;
    }
    const auto mask = std::array<bool, 3>{ctx->needs_input_grad(0), ctx->needs_input_grad(1), ctx->needs_input_grad(2)};
    auto r = at::native_batch_norm_backward(g, x, weight, at::Tensor(), at::Tensor(), save_mean, save_invstd, true, eps, mask);
    return {std::get<0>(r), std::get<1>(r), std::get<2>(r), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// bnActTrain(x, weight, bias, runningMean|null, runningVar|null, momentum, eps, act) -> handle
Napi::Value BnActTrain(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    Addon& addon = GetAddon(env);
    if (addon.compute.Busy()) addon.compute.WaitIdle();
    const at::Tensor& x = addon.Get(env, info[0]);
    const at::Tensor& w = addon.Get(env, info[1]);
    const at::Tensor& b = addon.Get(env, info[2]);
    at::Tensor rm = info[3].IsNull() || info[3].IsUndefined() ? at::Tensor() : addon.Get(env, info[3]);
    at::Tensor rv = info[4].IsNull() || info[4].IsUndefined() ? at::Tensor() : addon.Get(env, info[4]);
    const double momentum = info[5].As<Napi::Number>().DoubleValue();
    const double eps = info[6].As<Napi::Number>().DoubleValue();
    const int64_t act = ToInt64(env, info[7], "act");
    if (act != kNone && act != kRelu && act != kSilu) addon.Throw(env, "bnActTrain: act must be 0 (none), 1 (relu) or 3 (silu)");
    auto f32cpu = [](const at::Tensor& t) { return t.defined() && t.scalar_type() == at::kFloat && t.device().is_cpu(); };
    if (!f32cpu(x) || !f32cpu(w) || !f32cpu(b) || (rm.defined() && !f32cpu(rm)) || (rv.defined() && !f32cpu(rv)))
      addon.Throw(env, "bnActTrain: float32 CPU tensors only");
    if (x.dim() < 2 || w.numel() != x.size(1) || b.numel() != x.size(1) || !w.is_contiguous() || !b.is_contiguous() ||
        (rm.defined() && (rm.numel() != x.size(1) || !rm.is_contiguous())) || (rv.defined() && (rv.numel() != x.size(1) || !rv.is_contiguous())))
      addon.Throw(env, "bnActTrain: weight, bias and running statistics must be contiguous [C] tensors for an input [N, C, ...]");
    at::Tensor out = BnAct::apply(x, w, b, rm, rv, momentum, eps, act);
    return Napi::Value(Napi::Number::New(env, addon.Store(out)));
  });
}

}  // namespace

void InitBnAct(Napi::Env env, Napi::Object exports) { exports.Set("bnActTrain", Napi::Function::New(env, BnActTrain)); }

}  // namespace ns
