// noisy_student_image: the data path's native image loops, without libtorch.
//
// Why a second addon instead of the libtorch one (measured on the 2-vCPU dev machine): the loader
// runs transforms in worker_threads, and the libtorch addon, although context-aware, costs a worker
// ~0.42 s to load when the process has not loaded libtorch yet (its static op registration; a
// decode-only loader never needs it), and each instance starts its own compute thread and sets
// ATen's thread count. This one links nothing but libc and loads in well under a millisecond.
// It is context-aware (NODE_API_MODULE = NAPI_MODULE_INIT) and keeps its per-thread state in
// instance data, so each worker thread gets its own.
//
// JavaScript computes the coefficient tables (resample_coeffs.ts) and owns the buffers; this file
// only checks them and runs the passes (kernels.inc), picking the widest SIMD the CPU has; the same
// holds for the float conversion (toChw: JavaScript builds the lookup table, this writes the floats).
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "augment.h"
#include "kernels.h"
#if defined(NSIMG_JPEG)
#include "jpeg.h"
#endif

namespace nsimg {
namespace {

enum class Level { kScalar = 0, kAvx2 = 2, kAvx512 = 3 };

Level BestLevel() {
#if defined(NSIMG_X86)
  __builtin_cpu_init();
  // libgcc's checks include the OS saving the vector registers (XCR0).
  if (__builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) return Level::kAvx512;
  if (__builtin_cpu_supports("avx2")) return Level::kAvx2;
#endif
  return Level::kScalar;
}

const char* LevelName(Level l) { return l == Level::kAvx512 ? "avx512" : l == Level::kAvx2 ? "avx2" : "scalar"; }

bool ParseLevel(const std::string& s, Level& out) {
  if (s == "scalar") out = Level::kScalar;
  else if (s == "avx2") out = Level::kAvx2;
  else if (s == "avx512") out = Level::kAvx512;
  else return false;
  return true;
}

struct Instance {
  Level best;
  Level level;
  std::vector<uint8_t> scratch;  // the horizontal pass's output, reused across calls of this thread
};

const Kernels& KernelsFor(Level l) {
#if defined(NSIMG_X86)
  if (l == Level::kAvx512) return kAvx512Kernels;
  if (l == Level::kAvx2) return kAvx2Kernels;
#endif
  (void)l;
  return kScalarKernels;
}

// A pass's coefficients: `out` windows (first index, taps) into an axis of `in` samples; checked so
// that no window reads outside the image whatever JavaScript passes.
struct Pass {
  bool on = false;
  Coeffs c{};
  int32_t first = 0, last = 0;  // input range the windows cover
};

Pass ReadPass(const Napi::CallbackInfo& info, size_t i, int32_t in, int32_t out, const char* name) {
  Pass p;
  if (info[i].IsNull() || info[i].IsUndefined()) return p;
  auto bounds = Array<Napi::Int32Array>(info, i, name, napi_int32_array);
  auto kk = Array<Napi::Int32Array>(info, i + 1, name, napi_int32_array);
  const int32_t ksize = Int(info, i + 2, "ksize", 1, 1 << 24);
  if (bounds.ElementLength() != static_cast<size_t>(out) * 2 || kk.ElementLength() != static_cast<size_t>(out) * ksize) {
    Fail(info.Env(), std::string(name) + ": coefficient tables do not match the output size");
  }
  p.on = true;
  p.c = {bounds.Data(), kk.Data(), ksize};
  p.first = in;
  for (int32_t o = 0; o < out; o++) {
    const int32_t lo = bounds[2 * o], n = bounds[2 * o + 1];
    if (lo < 0 || n < 0 || n > ksize || lo > in - n) Fail(info.Env(), std::string(name) + ": a window leaves the image");
    if (n > 0) {
      if (lo < p.first) p.first = lo;
      if (lo + n > p.last) p.last = lo + n;
    }
  }
  if (p.first > p.last) p.first = p.last;
  return p;
}

// resample(src, width, height, channels, hBounds, hKk, hKsize, vBounds, vKk, vKsize, outW, outH, out)
// Pillow's ImagingResampleInner: the horizontal pass (when hBounds is not null) over the rows the
// vertical pass reads, then the vertical pass (when vBounds is not null), into `out`.
Napi::Value Resample(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Instance& inst = *env.GetInstanceData<Instance>();
  auto src = Array<Napi::Uint8Array>(info, 0, "src", napi_uint8_array);
  const int32_t w = Int(info, 1, "width", 1, 1 << 28);
  const int32_t h = Int(info, 2, "height", 1, 1 << 28);
  const int32_t ch = Int(info, 3, "channels", 1, 4);
  const int32_t ow = Int(info, 10, "outWidth", 1, 1 << 28);
  const int32_t oh = Int(info, 11, "outHeight", 1, 1 << 28);
  auto out = Array<Napi::Uint8Array>(info, 12, "out", napi_uint8_array);
  const int64_t in_bytes = static_cast<int64_t>(w) * h * ch;
  if (static_cast<int64_t>(src.ElementLength()) < in_bytes) Fail(env, "src is smaller than width x height x channels");
  const Pass hp = ReadPass(info, 4, w, ow, "horizontal");
  const Pass vp = ReadPass(info, 7, h, oh, "vertical");
  if (!hp.on && ow != w) Fail(env, "no horizontal pass but the width changes");
  if (!vp.on && oh != h) Fail(env, "no vertical pass but the height changes");
  if (static_cast<int64_t>(out.ElementLength()) != static_cast<int64_t>(ow) * oh * ch) Fail(env, "out has the wrong size");
  const Kernels& k = KernelsFor(inst.level);
  const uint8_t* s = src.Data();
  const uint8_t* s_end = s + src.ElementLength();
  if (!vp.on) {
    if (hp.on) k.horizontal(s, s_end, w * ch, w, ch, h, ow, hp.c, out.Data());
    else std::memcpy(out.Data(), s, static_cast<size_t>(in_bytes));
    return env.Undefined();
  }
  if (!hp.on) {
    k.vertical(s, w * ch, oh, vp.c, 0, out.Data());
    return env.Undefined();
  }
  // Only the input rows the vertical windows read go through the horizontal pass.
  const int32_t rows = vp.last - vp.first;
  inst.scratch.resize(static_cast<size_t>(rows) * ow * ch + 1);
  k.horizontal(s + static_cast<int64_t>(vp.first) * w * ch, s_end, w * ch, w, ch, rows, ow, hp.c, inst.scratch.data());
  k.vertical(inst.scratch.data(), ow * ch, oh, vp.c, vp.first, out.Data());
  return env.Undefined();
}

// toChw(src, width, height, channels, lut, out): torchvision's ToTensor + Normalize on a uint8 HWC
// image, written as float32 CHW straight into `out` (a sample's slot of the loader's batch buffer).
// `lut` holds, per channel, the float32 value of each of the 256 bytes, computed in JavaScript
// (to_tensor.ts) in the same order and precision as its own loop, so both paths give the same bits
// and this one is a gather: it saves the JavaScript loop's typed-array bounds checks, not arithmetic.
Napi::Value ToChw(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto src = Array<Napi::Uint8Array>(info, 0, "src", napi_uint8_array);
  const int32_t w = Int(info, 1, "width", 1, 1 << 28);
  const int32_t h = Int(info, 2, "height", 1, 1 << 28);
  const int32_t ch = Int(info, 3, "channels", 1, 4);
  auto lut = Array<Napi::Float32Array>(info, 4, "lut", napi_float32_array);
  auto out = Array<Napi::Float32Array>(info, 5, "out", napi_float32_array);
  const int64_t plane = static_cast<int64_t>(w) * h;
  if (static_cast<int64_t>(src.ElementLength()) < plane * ch) Fail(env, "src is smaller than width x height x channels");
  if (lut.ElementLength() != static_cast<size_t>(ch) * 256) Fail(env, "lut needs 256 values per channel");
  if (static_cast<int64_t>(out.ElementLength()) < plane * ch) Fail(env, "out is smaller than channels x height x width");
  const uint8_t* s = src.Data();
  const float* l = lut.Data();
  float* o = out.Data();
  if (ch == 3) {
    // One pass over the pixels, three output planes: the source is read once, in order.
    float* o0 = o;
    float* o1 = o + plane;
    float* o2 = o + 2 * plane;
    for (int64_t i = 0; i < plane; i++, s += 3) {
      o0[i] = l[s[0]];
      o1[i] = l[256 + s[1]];
      o2[i] = l[512 + s[2]];
    }
    return env.Undefined();
  }
  for (int32_t c = 0; c < ch; c++) {
    const float* lc = l + 256 * c;
    float* oc = o + c * plane;
    for (int64_t i = 0; i < plane; i++) oc[i] = lc[s[i * ch + c]];
  }
  return env.Undefined();
}

// simd() -> { level, best }: the loops in use and the widest this CPU runs.
Napi::Value Simd(const Napi::CallbackInfo& info) {
  Instance& inst = *info.Env().GetInstanceData<Instance>();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("level", LevelName(inst.level));
  o.Set("best", LevelName(inst.best));
  return o;
}

// setSimd(level): this thread's loops ('scalar' | 'avx2' | 'avx512', at most the CPU's best), so
// tests can check every path against the JavaScript reference on one machine.
Napi::Value SetSimd(const Napi::CallbackInfo& info) {
  Instance& inst = *info.Env().GetInstanceData<Instance>();
  Level l;
  if (!info[0].IsString() || !ParseLevel(info[0].As<Napi::String>().Utf8Value(), l)) Fail(info.Env(), "setSimd: expected 'scalar', 'avx2' or 'avx512'");
  if (static_cast<int>(l) > static_cast<int>(inst.best)) Fail(info.Env(), std::string("setSimd: this CPU has no ") + LevelName(l));
  inst.level = l;
  return Simd(info);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* inst = new Instance();
  inst->best = BestLevel();
  inst->level = inst->best;
  // NOISY_STUDENT_IMAGE_SIMD=scalar|avx2|avx512 caps the level (for measuring, or a suspect CPU).
  Level cap;
  if (const char* e = std::getenv("NOISY_STUDENT_IMAGE_SIMD"); e && ParseLevel(e, cap) && static_cast<int>(cap) < static_cast<int>(inst->level)) {
    inst->level = cap;
  }
  env.SetInstanceData<Instance>(inst);
  exports.Set("resample", Napi::Function::New(env, Resample));
  exports.Set("toChw", Napi::Function::New(env, ToChw));
  exports.Set("affine", Napi::Function::New(env, Affine));
  exports.Set("smooth", Napi::Function::New(env, Smooth));
  exports.Set("blend", Napi::Function::New(env, Blend));
  exports.Set("lut", Napi::Function::New(env, Lut));
#if defined(NSIMG_JPEG)
  exports.Set("decodeJpeg", Napi::Function::New(env, DecodeJpeg));
#endif
  exports.Set("simd", Napi::Function::New(env, Simd));
  exports.Set("setSimd", Napi::Function::New(env, SetSimd));
  return exports;
}

}  // namespace
}  // namespace nsimg

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return nsimg::Init(env, exports); }
NODE_API_MODULE(noisy_student_image, InitModule)
