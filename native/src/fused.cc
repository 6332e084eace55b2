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
#include "fast_exp.h"

#include <ATen/Parallel.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>

#if NS_DNNL
// oneDNN itself (the library Debian's libtorch links; scripts/build-native.mjs checks the headers
// match): a conv primitive with the activation as a post-op writes conv + bias + SiLU in one pass and
// pads asymmetrically (TF SAME) without a padded copy, and executing a cached primitive skips ATen's
// dispatch, which at batch 1 costs as much as the small convs themselves. libtorch 1.13 exposes no
// conv with fused SiLU (no mkldnn::_convolution_pointwise), so ATen cannot do this.
#include <dnnl.hpp>
#endif

namespace ns {

namespace {

enum class Op { Conv, Se, Save, Add, Tap, Pool, Linear };
enum class Act { None, Relu, Relu6, Silu, HardSwish, Mish };
enum class Pool { Avg, Max, AvgMax, CatAvgMax };
// How a conv runs: oneDNN through ATen, or one of the kernels of this file.
enum class Impl { Mkldnn, Depthwise, Pointwise, Dnnl };

#if NS_DNNL
// A oneDNN primitive for one input shape, with its weights reordered once into the layout it chose.
struct DnnlPrimitive {
  dnnl::primitive prim;
  dnnl::memory weights, bias;
  dnnl::memory::desc src_md, dst_md;
};
struct DnnlConv : DnnlPrimitive {
  int64_t oh = 0, ow = 0;
  bool fused_act = false;
};
struct DnnlLinear : DnnlPrimitive {};
#else
struct DnnlConv {};
struct DnnlLinear {};
#endif

struct Step {
  Op op = Op::Conv;
  std::string kind;  // for profiles: stem, pw, dw3x3, conv3x3, head, se, add, pool, linear, ...
  // conv (weight [O, I/g, k, k]) / linear (weight [O, I]); se: reduce (w, b), expand (w2, b2)
  at::Tensor w, b, w2, b2;
  at::Tensor w_dw;  // depthwise weight repacked as [k, k, C] float32, for the own kernel
  at::Tensor w_t;   // 1x1 weight as [Cin, Cout], for the GEMM
  int64_t in_chs = 0, out_chs = 0, kernel = 1, stride = 1, dilation = 1, groups = 1;
  int64_t padding = 0;  // static symmetric padding; -1 = TF SAME from the input size
  Act act = Act::None;
  Pool pool = Pool::Avg;
  Impl impl = Impl::Mkldnn;
  // oneDNN convs prepacked per input shape (mkldnn_prepacked::conv2d_prepack: weights reordered
  // and the primitive built once for that shape); only the compute thread touches it.
  mutable std::map<std::vector<int64_t>, c10::IValue> packed;
  // Impl::Dnnl: oneDNN primitives per input shape, weights reordered into the primitive's format.
  mutable std::map<std::vector<int64_t>, std::shared_ptr<DnnlConv>> dnnl;
  // linear on oneDNN: one inner product per batch size (at::linear's GEMV at batch 1 wakes the BLAS
  // threads for 1.3M multiply-adds and costs several times the arithmetic).
  mutable std::map<int64_t, std::shared_ptr<DnnlLinear>> dnnl_fc;
  bool dnnl_linear = false;
};

struct Options {
  bool bf16 = false;
  // The depthwise kernel below instead of oneDNN's, for 3x3 and for larger kernels. Measured (b0,
  // batch 1 and 32): through ATen ours is faster for 3x3 (bias, activation and the SE means in the
  // same pass), oneDNN's for 5x5 (it keeps more in registers; ours reloads a weight per FMA). With
  // oneDNN called directly (SiLU as a post-op) its 3x3 depthwise wins too: 1.25x at batch 32, 1.05x
  // at batch 1 (interleaved A/B), so ours is the default only without it.
  bool own_depthwise = NS_DNNL == 0;
  bool own_depthwise_large = false;
  bool gemm_pointwise = false;  // 1x1 convs as one GEMM + fused bias/activation instead of oneDNN (slower here)
  bool prepack = true;         // oneDNN convs prepacked per input shape (see Step::packed)
  bool dnnl = NS_DNNL != 0;    // oneDNN directly, activation as a post-op (Impl::Dnnl), when built with it
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
// an AVX-512 and a baseline version and picks one at load time (by CPU feature: "arch=" clones test
// the CPU model, which a VM may not report), so the addon still runs on CPUs
// without AVX-512 (the rest of the addon is built for the baseline). Helpers called from them are
// always_inline: GCC does not inline across the optimize attribute otherwise, and a call per
// element is what stops vectorisation.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define NS_KERNEL __attribute__((target_clones("avx512f", "default"), optimize("O3")))
#else
#define NS_KERNEL
#endif
#define NS_INLINE inline __attribute__((always_inline))

// Activation codes the kernels apply themselves; the others (mish) are left to ATen.
constexpr int kActNone = 0, kActRelu = 1, kActRelu6 = 2, kActSilu = 3, kActHardSwish = 4;
int KernelAct(Act a) {
  switch (a) {
    case Act::None:
      return kActNone;
    case Act::Relu:
      return kActRelu;
    case Act::Relu6:
      return kActRelu6;
    case Act::Silu:
      return kActSilu;
    case Act::HardSwish:
      return kActHardSwish;
    default:
      return -1;
  }
}

template <int A>
NS_INLINE float ActV(float v) {
  if constexpr (A == kActRelu) return v > 0.f ? v : 0.f;
  if constexpr (A == kActRelu6) return v < 0.f ? 0.f : (v > 6.f ? 6.f : v);
  if constexpr (A == kActSilu) return v / (1.0f + FastExp(-v));
  if constexpr (A == kActHardSwish) {
    const float r = v + 3.f;
    return v * (r < 0.f ? 0.f : (r > 6.f ? 6.f : r)) / 6.f;
  }
  return v;
}

template <int A>
NS_INLINE void BiasActRowT(float* __restrict y, const float* __restrict b, int64_t C) {
  for (int64_t c = 0; c < C; ++c) y[c] = ActV<A>(y[c] + b[c]);
}

// rows x C values (NHWC): y = act(y + bias), in place.
NS_KERNEL void BiasActRows(float* __restrict y, const float* __restrict b, int64_t rows, int64_t C, int act) {
  for (int64_t r = 0; r < rows; ++r) {
    float* __restrict row = y + r * C;
    switch (act) {
      case kActRelu:
        BiasActRowT<kActRelu>(row, b, C);
        break;
      case kActRelu6:
        BiasActRowT<kActRelu6>(row, b, C);
        break;
      case kActSilu:
        BiasActRowT<kActSilu>(row, b, C);
        break;
      case kActHardSwish:
        BiasActRowT<kActHardSwish>(row, b, C);
        break;
      default:
        BiasActRowT<kActNone>(row, b, C);
    }
  }
}

template <int A>
NS_INLINE void ActRowT(float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = ActV<A>(y[i]);
}

// One output row of a depthwise conv, NHWC: out[ow, c] = act(bias[c] + sum_kh,kw in[ih, iw, c] * w[kh, kw, c])
// (zero padding: taps outside the input are skipped, so any asymmetric TF SAME pad is free).
// Channels go in blocks of 16 accumulated in registers over all taps, one store per output; the
// remaining channels (none in EfficientNets, whose widths are multiples of 16) in a plain loop.
template <int A>
NS_INLINE void DwRowT(const float* __restrict in, int64_t H, int64_t W, int64_t C, const float* __restrict w,
                      const float* __restrict bias, int64_t K, int64_t stride, int64_t dil, int64_t oh, int64_t OW,
                      int64_t pad_t, int64_t pad_l, float* __restrict out) {
  const int64_t kh0 = std::max<int64_t>(0, (pad_t - oh * stride + dil - 1) / dil);
  const int64_t kh1 = std::min<int64_t>(K, (H + pad_t - oh * stride + dil - 1) / dil);
  const int64_t cb = C - C % 16;
  for (int64_t ow = 0; ow < OW; ++ow) {
    float* __restrict o = out + ow * C;
    const int64_t iw0 = ow * stride - pad_l;
    const int64_t kw0 = std::max<int64_t>(0, (-iw0 + dil - 1) / dil);
    const int64_t kw1 = std::min<int64_t>(K, (W - iw0 + dil - 1) / dil);
    for (int64_t c0 = 0; c0 < cb; c0 += 16) {
      float acc[16];
      for (int k = 0; k < 16; ++k) acc[k] = bias[c0 + k];
      for (int64_t kh = kh0; kh < kh1; ++kh) {
        const float* __restrict xr = in + ((oh * stride - pad_t + kh * dil) * W + iw0) * C + c0;
        const float* __restrict wr = w + kh * K * C + c0;
        for (int64_t kw = kw0; kw < kw1; ++kw) {
          const float* __restrict x = xr + kw * dil * C;
          const float* __restrict wk = wr + kw * C;
          for (int k = 0; k < 16; ++k) acc[k] += x[k] * wk[k];
        }
      }
      for (int k = 0; k < 16; ++k) o[c0 + k] = acc[k];
    }
    for (int64_t c = cb; c < C; ++c) {
      float a = bias[c];
      for (int64_t kh = kh0; kh < kh1; ++kh)
        for (int64_t kw = kw0; kw < kw1; ++kw) a += in[((oh * stride - pad_t + kh * dil) * W + iw0 + kw * dil) * C + c] * w[(kh * K + kw) * C + c];
      o[c] = a;
    }
  }
  // The activation over the whole row, still in cache: as a long loop it vectorises (inside the
  // 16-wide block above, GCC leaves the exp scalar).
  ActRowT<A>(out, OW * C);
}

// act < 0: bias only (the caller applies the activation).
NS_KERNEL void DwRow(const float* __restrict in, int64_t H, int64_t W, int64_t C, const float* __restrict w,
                     const float* __restrict bias, int64_t K, int64_t stride, int64_t dil, int64_t oh, int64_t OW,
                     int64_t pad_t, int64_t pad_l, float* __restrict out, int act) {
  switch (act) {
    case kActRelu:
      return DwRowT<kActRelu>(in, H, W, C, w, bias, K, stride, dil, oh, OW, pad_t, pad_l, out);
    case kActRelu6:
      return DwRowT<kActRelu6>(in, H, W, C, w, bias, K, stride, dil, oh, OW, pad_t, pad_l, out);
    case kActSilu:
      return DwRowT<kActSilu>(in, H, W, C, w, bias, K, stride, dil, oh, OW, pad_t, pad_l, out);
    case kActHardSwish:
      return DwRowT<kActHardSwish>(in, H, W, C, w, bias, K, stride, dil, oh, OW, pad_t, pad_l, out);
    default:
      return DwRowT<kActNone>(in, H, W, C, w, bias, K, stride, dil, oh, OW, pad_t, pad_l, out);
  }
}

void BiasAct(float* y, const float* b, int64_t rows, int64_t C, int act) { BiasActRows(y, b, rows, C, act < 0 ? kActNone : act); }

NS_KERNEL void ActRow(float* __restrict y, int64_t n, int act) {
  switch (act) {
    case kActRelu:
      ActRowT<kActRelu>(y, n);
      break;
    case kActRelu6:
      ActRowT<kActRelu6>(y, n);
      break;
    case kActSilu:
      ActRowT<kActSilu>(y, n);
      break;
    case kActHardSwish:
      ActRowT<kActHardSwish>(y, n);
      break;
    default:
      break;
  }
}

// The activation in place, in one vectorised pass (ATen's silu_ here is an AVX2 kernel and a
// dispatch of its own); float32 dense tensors only, anything else goes to ATen.
void ActInPlace(at::Tensor& y, Act a) {
  const int act = KernelAct(a);
  if (act <= 0 || y.scalar_type() != at::kFloat || !y.is_non_overlapping_and_dense()) return ApplyAct(y, a);
  float* p = y.data_ptr<float>();
  at::parallel_for(0, y.numel(), 16384, [&](int64_t b, int64_t e) { ActRow(p + b, e - b, act); });
}

// sum_i a[i] * b[i] with 16 independent partial sums, which the compiler vectorises without
// -ffast-math (a plain reduction loop is left scalar: its order would change).
NS_INLINE float Dot(const float* __restrict a, const float* __restrict b, int64_t n) {
  float acc[16] = {0.f};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k] * b[i + k];
  float r = 0.f;
  for (int k = 0; k < 16; ++k) r += acc[k];
  for (; i < n; ++i) r += a[i] * b[i];
  return r;
}

// Squeeze-excite's gate for one sample: sigmoid(W2 act(W1 pooled + b1) + b2), [C].
NS_KERNEL void SeGate(const float* __restrict pooled, const float* __restrict w1, const float* __restrict b1, int64_t rd, int64_t C,
                      const float* __restrict w2, const float* __restrict b2, float* __restrict hidden, float* __restrict gate, int act) {
  for (int64_t r = 0; r < rd; ++r) hidden[r] = b1[r] + Dot(w1 + r * C, pooled, C);
  ActRow(hidden, rd, act);
  for (int64_t c = 0; c < C; ++c) {
    const float v = b2[c] + Dot(w2 + c * rd, hidden, rd);
    gate[c] = 1.0f / (1.0f + FastExp(-v));
  }
}

// x[r, c] *= g[c] for rows x C values (one sample's NHWC map).
NS_KERNEL void ScaleRows(float* __restrict x, const float* __restrict g, int64_t rows, int64_t C) {
  for (int64_t r = 0; r < rows; ++r) {
    float* __restrict row = x + r * C;
    for (int64_t c = 0; c < C; ++c) row[c] *= g[c];
  }
}

// Per-channel sums of rows x C values, added to sum[C].
NS_KERNEL void SumRows(const float* __restrict x, int64_t rows, int64_t C, float* __restrict sum) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < C; ++c) sum[c] += x[r * C + c];
}

// With `pooled`, also the per-channel means of the output ([N, C]), summed while each row is in
// cache: what a following squeeze-excite needs, without another pass over the map.
at::Tensor Depthwise(const Step& s, const at::Tensor& x, at::Tensor* pooled) {
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
  const int act = KernelAct(s.act);
  const bool sums = pooled != nullptr && act >= 0;
  at::Tensor row_sums = sums ? at::zeros({N * OH, C}, x.options()) : at::Tensor();
  float* rs = sums ? row_sums.data_ptr<float>() : nullptr;
  at::parallel_for(0, N * OH, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t n = r / OH, oh = r % OH;
      float* row = out + (n * OH + oh) * OW * C;
      DwRow(in + n * H * W * C, H, W, C, w, b, s.kernel, s.stride, s.dilation, oh, OW, pt, pl, row, act);
      // the SE sums while the row is still in cache
      if (sums) SumRows(row, OW, C, rs + r * C);
    }
  });
  if (act < 0) ApplyAct(y, s.act);
  if (sums) *pooled = row_sums.view({N, OH, C}).sum(1).div_(static_cast<double>(OH * OW));
  return y;
}

// A 1x1 stride-1 conv on NHWC is one GEMM: [N*H*W, Cin] x [Cin, Cout], then bias + activation in one pass.
at::Tensor Pointwise(const Step& s, const at::Tensor& x) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t rows = N * H * W;
  at::Tensor y = at::empty({N, s.out_chs, H, W}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  at::Tensor y2 = y.permute({0, 2, 3, 1}).view({rows, s.out_chs});
  at::mm_out(y2, x.permute({0, 2, 3, 1}).view({rows, C}), s.w_t);
  const int act = KernelAct(s.act);
  float* out = y.data_ptr<float>();
  const float* b = s.b.data_ptr<float>();
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, s.out_chs));
  at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) { BiasAct(out + begin * s.out_chs, b, end - begin, s.out_chs, act); });
  if (act < 0) ApplyAct(y, s.act);
  return y;
}

// ------------------------------------------------------------------ steps

// Input shapes a conv or linear keeps prepacked (ATen's or oneDNN's): one weight copy each, so few (a
// predict run sees its batch size and the last, smaller batch).
constexpr size_t kPackedShapes = 2;

#if NS_DNNL
dnnl::engine& DnnlEngine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::memory::data_type DnnlType(at::ScalarType t) {
  return t == at::kBFloat16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32;
}

// The folded weights (plain layout `plain`) reordered into the layout the primitive chose (`chosen`), and
// the bias copied into oneDNN-owned memory: done once per primitive, so they live as long as it does.
void DnnlPrepack(DnnlPrimitive& p, const at::Tensor& w, const dnnl::memory::dims& wdims, dnnl::memory::format_tag plain,
                 const dnnl::memory::desc& chosen, const at::Tensor& b, const dnnl::memory::desc& b_md) {
  at::Tensor wc = w.contiguous();
  dnnl::memory user(dnnl::memory::desc(wdims, DnnlType(w.scalar_type()), plain), DnnlEngine(), wc.data_ptr());
  p.weights = dnnl::memory(chosen, DnnlEngine());
  dnnl::stream stream(DnnlEngine());
  dnnl::reorder(user, p.weights).execute(stream, user, p.weights);
  stream.wait();
  p.bias = dnnl::memory(b_md, DnnlEngine());
  at::Tensor bc = b.contiguous();
  std::memcpy(p.bias.get_data_handle(), bc.data_ptr(), bc.nbytes());
}

// Runs the primitive from x into y (both already in the layouts its descriptors name).
void DnnlExecute(const DnnlPrimitive& p, const at::Tensor& x, const at::Tensor& y) {
  dnnl::memory src(p.src_md, DnnlEngine(), x.data_ptr());
  dnnl::memory dst(p.dst_md, DnnlEngine(), y.data_ptr());
  dnnl::stream stream(DnnlEngine());
  p.prim.execute(stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, p.weights}, {DNNL_ARG_BIAS, p.bias}, {DNNL_ARG_DST, dst}});
  stream.wait();
}

std::shared_ptr<DnnlConv> BuildDnnlConv(const Step& s, const at::Tensor& x, int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  using dnnl::memory;
  using tag = memory::format_tag;
  auto c = std::make_shared<DnnlConv>();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const int64_t span = s.dilation * (s.kernel - 1) + 1;
  c->oh = (H + pt + pb - span) / s.stride + 1;
  c->ow = (W + pl + pr - span) / s.stride + 1;
  const auto dt = DnnlType(x.scalar_type());
  c->src_md = memory::desc({N, C, H, W}, dt, tag::nhwc);
  c->dst_md = memory::desc({N, s.out_chs, c->oh, c->ow}, dt, tag::nhwc);
  const bool grouped = s.groups > 1;
  const memory::dims wdims = grouped ? memory::dims{s.groups, s.out_chs / s.groups, s.in_chs / s.groups, s.kernel, s.kernel}
                                     : memory::dims{s.out_chs, s.in_chs, s.kernel, s.kernel};
  const memory::desc w_any(wdims, DnnlType(s.w.scalar_type()), tag::any);
  const memory::desc b_md({s.out_chs}, DnnlType(s.b.scalar_type()), tag::x);
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, c->src_md, w_any, b_md,
                                    c->dst_md, {s.stride, s.stride}, {s.dilation - 1, s.dilation - 1}, {pt, pl}, {pb, pr});
  dnnl::post_ops ops;
  // SiLU is oneDNN's swish with alpha 1: x * sigmoid(alpha * x).
  if (s.act == Act::Silu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_swish, 1.f, 0.f);
  else if (s.act == Act::Relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
  else if (s.act == Act::Relu6) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_clip, 0.f, 6.f);
  c->fused_act = s.act == Act::Silu || s.act == Act::Relu || s.act == Act::Relu6;
  dnnl::primitive_attr attr;
  attr.set_post_ops(ops);
  dnnl::convolution_forward::primitive_desc pd(d, attr, DnnlEngine());
  c->prim = dnnl::convolution_forward(pd);
  // The folded weights are [O, I/g, k, k] contiguous: oneDNN's (g)oihw.
  DnnlPrepack(*c, s.w, wdims, grouped ? tag::goihw : tag::oihw, pd.weights_desc(), s.b, b_md);
  return c;
}

std::shared_ptr<DnnlLinear> BuildDnnlLinear(const Step& s, int64_t n, at::ScalarType dtype) {
  using dnnl::memory;
  using tag = memory::format_tag;
  auto l = std::make_shared<DnnlLinear>();
  const int64_t O = s.w.size(0), K = s.w.size(1);
  l->src_md = memory::desc({n, K}, DnnlType(dtype), tag::nc);
  l->dst_md = memory::desc({n, O}, DnnlType(dtype), tag::nc);
  const memory::desc w_any({O, K}, DnnlType(s.w.scalar_type()), tag::any);
  const memory::desc b_md({O}, DnnlType(s.b.scalar_type()), tag::x);
  dnnl::inner_product_forward::desc d(dnnl::prop_kind::forward_inference, l->src_md, w_any, b_md, l->dst_md);
  dnnl::inner_product_forward::primitive_desc pd(d, DnnlEngine());
  l->prim = dnnl::inner_product_forward(pd);
  DnnlPrepack(*l, s.w, {O, K}, tag::oi, pd.weights_desc(), s.b, b_md);
  return l;
}

at::Tensor DnnlLinearRun(const Step& s, at::Tensor x) {
  x = x.contiguous();
  const int64_t n = x.size(0);
  auto it = s.dnnl_fc.find(n);
  if (it == s.dnnl_fc.end()) {
    if (s.dnnl_fc.size() >= kPackedShapes) s.dnnl_fc.erase(s.dnnl_fc.begin());
    it = s.dnnl_fc.emplace(n, BuildDnnlLinear(s, n, x.scalar_type())).first;
  }
  const DnnlLinear& l = *it->second;
  at::Tensor y = at::empty({n, s.w.size(0)}, x.options());
  DnnlExecute(l, x, y);
  return y;
}

at::Tensor DnnlConvRun(const Step& s, at::Tensor x) {
  if (!x.is_contiguous(at::MemoryFormat::ChannelsLast)) x = x.contiguous(at::MemoryFormat::ChannelsLast);
  int64_t pt = s.padding, pb = s.padding, pl = s.padding, pr = s.padding;
  if (s.padding < 0) {
    std::tie(pt, pb) = SamePad(x.size(2), s.kernel, s.stride, s.dilation);
    std::tie(pl, pr) = SamePad(x.size(3), s.kernel, s.stride, s.dilation);
  }
  std::vector<int64_t> key(x.sizes().begin(), x.sizes().end());
  auto it = s.dnnl.find(key);
  if (it == s.dnnl.end()) {
    if (s.dnnl.size() >= kPackedShapes) s.dnnl.erase(s.dnnl.begin());
    it = s.dnnl.emplace(std::move(key), BuildDnnlConv(s, x, pt, pb, pl, pr)).first;
  }
  const DnnlConv& c = *it->second;
  at::Tensor y = at::empty({x.size(0), s.out_chs, c.oh, c.ow}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  DnnlExecute(c, x, y);
  if (!c.fused_act) ActInPlace(y, s.act);
  return y;
}
#endif

at::Tensor Conv(const Program& p, const Step& s, at::Tensor x, at::Tensor* pooled) {
  if (s.impl == Impl::Depthwise) return Depthwise(s, x, pooled);
#if NS_DNNL
  if (s.impl == Impl::Dnnl) return DnnlConvRun(s, x);
#endif
  if (s.impl == Impl::Pointwise) return Pointwise(s, x);
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
  if (!p.opts.prepack) {
    at::Tensor y = at::mkldnn_convolution(x, s.w, s.b, pad, {s.stride, s.stride}, {s.dilation, s.dilation}, s.groups);
    ActInPlace(y, s.act);
    return y;
  }
  // Prepacked: without it oneDNN reorders every weight on every call (~2.4 ms of b0's batch-1
  // forward, DNNL_VERBOSE) and rebuilds its primitive descriptors. A few shapes are kept per conv.
  std::vector<int64_t> key(x.sizes().begin(), x.sizes().end());
  auto it = s.packed.find(key);
  if (it == s.packed.end()) {
    static const c10::OperatorHandle prepack = c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn_prepacked::conv2d_prepack", "");
    if (s.packed.size() >= kPackedShapes) s.packed.erase(s.packed.begin());
    torch::jit::Stack st{s.w, s.b, std::vector<int64_t>{s.stride, s.stride}, pad, std::vector<int64_t>{s.dilation, s.dilation},
                         s.groups, key, std::string(s.act == Act::Relu ? "relu" : "none")};
    prepack.callBoxed(&st);
    it = s.packed.emplace(std::move(key), std::move(st[0])).first;
  }
  static const c10::OperatorHandle run = c10::Dispatcher::singleton().findSchemaOrThrow("mkldnn_prepacked::conv2d_run", "");
  torch::jit::Stack st{x, it->second};
  run.callBoxed(&st);
  at::Tensor y = st[0].toTensor();
  if (s.act != Act::Relu) ActInPlace(y, s.act);
  return y;
}

// `pooled`: the means the depthwise conv before it already took, or undefined. The gate is
// computed in float32 whatever the activations' dtype (its weights stay float32 in bf16 programs:
// they are tiny, and two small GEMVs in bf16 through ATen cost more dispatch than they save).
at::Tensor SqueezeExcite(const Step& s, at::Tensor x, const at::Tensor& pooled) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const int act = KernelAct(s.act);
  const at::Tensor m = pooled.defined() ? pooled : x.mean({2, 3}, false, at::kFloat);
  at::Tensor gate;
  if (act >= 0) {
    const int64_t rd = s.w.size(0);
    at::Tensor hidden = at::empty({N, rd}, m.options());
    gate = at::empty({N, C}, m.options());
    for (int64_t n = 0; n < N; ++n) {
      SeGate(m.data_ptr<float>() + n * C, s.w.data_ptr<float>(), s.b.data_ptr<float>(), rd, C, s.w2.data_ptr<float>(),
             s.b2.data_ptr<float>(), hidden.data_ptr<float>() + n * rd, gate.data_ptr<float>() + n * C, act);
    }
  } else {
    gate = at::linear(m, s.w, s.b);
    ApplyAct(gate, s.act);
    gate = at::linear(gate, s.w2, s.b2).sigmoid_();
  }
  if (x.scalar_type() != at::kFloat || !x.is_contiguous(at::MemoryFormat::ChannelsLast)) {
    x.mul_(gate.to(x.scalar_type()).view({N, C, 1, 1}));
    return x;
  }
  float* px = x.data_ptr<float>();
  const float* pg = gate.data_ptr<float>();
  const int64_t grain = std::max<int64_t>(1, 16384 / C);
  at::parallel_for(0, N * HW, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e;) {
      const int64_t n = r / HW, stop = std::min(e, (n + 1) * HW);
      ScaleRows(px + r * C, pg + n * C, stop - r, C);
      r = stop;
    }
  });
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
  at::Tensor pooled;  // per-channel means a depthwise conv took for the squeeze-excite after it
  using Clock = std::chrono::steady_clock;
  if (profile) r.step_ms.reserve(stop);
  for (size_t i = 0; i < stop && i < p.steps.size(); ++i) {
    const Step& s = p.steps[i];
    const auto t0 = profile ? Clock::now() : Clock::time_point();
    switch (s.op) {
      case Op::Conv: {
        const bool before_se = i + 1 < p.steps.size() && p.steps[i + 1].op == Op::Se;
        pooled = at::Tensor();
        x = Conv(p, s, x, before_se ? &pooled : nullptr);
        break;
      }
      case Op::Se:
        x = SqueezeExcite(s, x, pooled);
        pooled = at::Tensor();
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
#if NS_DNNL
        if (s.dnnl_linear && x.dim() == 2) {
          x = DnnlLinearRun(s, x);
          break;
        }
#endif
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
    if (depthwise && (s.kernel <= 3 ? opts.own_depthwise : opts.own_depthwise_large) && !opts.bf16) {
      s.impl = Impl::Depthwise;
      s.w_dw = s.w.view({s.out_chs, s.kernel * s.kernel}).t().contiguous();  // [k*k, C]
    } else if (s.kernel == 1 && s.stride == 1 && s.groups == 1 && s.padding <= 0 && opts.gemm_pointwise && !opts.bf16) {
      s.impl = Impl::Pointwise;
      s.w_t = s.w.view({s.out_chs, s.in_chs}).t().contiguous();  // [Cin, Cout]
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
    s.dnnl_linear = opts.dnnl;
  } else {
    addon.Throw(env, "FusedProgram: unknown step '" + op + "'");
  }
  if (opts.bf16 && s.op != Op::Se) {
    for (at::Tensor* t : {&s.w, &s.b, &s.w2, &s.b2}) {
      if (t->defined()) *t = t->to(at::kBFloat16);
    }
  }
  if (s.op == Op::Conv && s.impl == Impl::Mkldnn && opts.dnnl) s.impl = Impl::Dnnl;
  if (s.op == Op::Conv && s.impl == Impl::Mkldnn) {
    s.w = s.w.contiguous(at::MemoryFormat::ChannelsLast);
    // A 1x1 weight is both contiguous and channels_last, and libtorch then calls it contiguous:
    // oneDNN would prepack it for NCHW and reorder it again on every NHWC call. Strides that only
    // channels_last explains make the prepack pick the NHWC weight format.
    if (s.kernel == 1) s.w = s.w.as_strided(s.w.sizes(), {s.w.size(1), 1, s.w.size(1), s.w.size(1)});
  }
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
      if (o.Has("ownDepthwiseLarge")) p->opts.own_depthwise_large = o.Get("ownDepthwiseLarge").ToBoolean().Value();
      if (o.Has("gemmPointwise")) p->opts.gemm_pointwise = o.Get("gemmPointwise").ToBoolean().Value();
      if (o.Has("prepack")) p->opts.prepack = o.Get("prepack").ToBoolean().Value();
      // oneDNN directly (default when the addon was built with it); false: through ATen.
      if (o.Has("dnnl")) p->opts.dnnl = NS_DNNL != 0 && o.Get("dnnl").ToBoolean().Value();
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
        o.Set("impl", s.op != Op::Conv                ? "aten"
                      : s.impl == Impl::Depthwise   ? "depthwise"
                      : s.impl == Impl::Pointwise   ? "gemm"
                      : s.impl == Impl::Dnnl        ? "dnnl-post-ops"
                      : p.opts.prepack              ? "mkldnn-prepacked"
                                                    : "mkldnn");
        a.Set(static_cast<uint32_t>(i), o);
      }
      return Napi::Value(a);
    });
  }
};

}  // namespace

void InitFused(Napi::Env env, Napi::Object exports) { exports.Set("FusedProgram", FusedProgramWrap::Define(env)); }

}  // namespace ns
