// Shared state of the noisy-student libtorch addon. All of it lives in the addon's instance data
// (napi_set_instance_data), never in globals, so the addon can be loaded in worker_threads.
#pragma once

#define NAPI_VERSION 8
#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/ThreadLocalState.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/InferenceMode.h>
#include <torch/version.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

// libtorch versions. Every API difference between Debian's 1.13 and libtorch 2.x that this addon
// meets is behind one of these (see also scripts/build-native.mjs for the build-side ones).
#define NS_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace ns {

// c10::optional is its own class up to torch 2.3; from 2.4 on it is an alias of std::optional that
// is being removed (C10_NODEPRECATED builds already lack it), so name the right one per version.
#if NS_TORCH_AT_LEAST(2, 4)
template <class T>
using Optional = std::optional<T>;
inline constexpr std::nullopt_t kNullopt = std::nullopt;
#else
template <class T>
using Optional = c10::optional<T>;
inline constexpr c10::nullopt_t kNullopt = c10::nullopt;
#endif

// A tensor handle is a JS number: slot index in the low 24 bits, a generation counter above. A
// stale handle (slot freed, maybe reused) fails the generation check instead of aliasing another
// tensor. Numbers are far cheaper to hand to JS than wrapped objects (ENGINE.md: the wrapper was
// most of the per-call cost).
constexpr uint32_t kSlotBits = 24;
constexpr uint32_t kSlotMask = (1u << kSlotBits) - 1;
constexpr uint32_t kGenMask = (1u << 28) - 1;

struct Slot {
  at::Tensor tensor;
  // The storage this handle was counted against in the external-memory tally (null: not counted).
  // Kept as it was at Store time, so Release undoes exactly what Store did even if an in-place op
  // (set_, resize_) later gave the tensor another storage.
  const void* counted_storage = nullptr;
  uint32_t gen = 0;
  bool used = false;
};

class ComputeThread;

// One queued unit of long work for the serial compute thread. `work` runs there under the
// submitter's thread-local state (grad mode, inference mode, dispatch keys); `finish` converts the
// results on the JS thread.
struct Task {
  std::function<void()> work;
  std::function<Napi::Value(Napi::Env)> finish;
  std::optional<Napi::Promise::Deferred> deferred;
  at::ThreadLocalState tls;
  std::string error;
  bool failed = false;
};

class ComputeThread {
 public:
  explicit ComputeThread(class Addon* addon) : addon_(addon) {}
  ~ComputeThread();
  void Start(Napi::Env env);
  Napi::Value Submit(Napi::Env env, std::unique_ptr<Task> task);
  // Blocks the JS thread until every queued task has run: keeps program order between async work
  // and a synchronous op issued while it is in flight.
  void WaitIdle();
  bool Busy() const { return pending_.load(std::memory_order_acquire) > 0; }
  void SetThreads(int n) { threads_.store(n); }

 private:
  void Loop();
  Addon* addon_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Task*> queue_;
  std::atomic<int> pending_{0};
  std::atomic<int> threads_{0};
  int outstanding_js_ = 0;  // tasks whose promise is not settled yet (JS thread only)
  bool stop_ = false;
  bool started_ = false;
  Napi::ThreadSafeFunction tsfn_;
};

class Addon {
 public:
  explicit Addon(Napi::Env env) : compute(this), env_(env) {}

  // --- tensor table
  double Store(at::Tensor t);
  at::Tensor& Get(Napi::Env env, const Napi::Value& v);
  at::Tensor* Find(double handle);  // null when stale; for tensor_api.h (never throws)
  bool Release(double handle);
  size_t Live() const { return live_; }
  // Bytes of CPU tensor storage that live handles keep alive, as reported to V8.
  int64_t ExternalBytes() const { return external_bytes_; }

  // --- generators (id 0 is libtorch's default CPU generator)
  at::Generator& GetGenerator(Napi::Env env, const Napi::Value& v);
  uint32_t AddGenerator(at::Generator g);
  void ReleaseGenerator(uint32_t id);

  // --- operators
  std::vector<c10::OperatorHandle> ops;
  std::unordered_map<std::string, uint32_t> op_ids;

  // --- errors: the JS TorchError class, so libtorch failures reach JS typed
  Napi::FunctionReference error_ctor;
  Napi::FunctionReference disposed_ctor;
  [[noreturn]] void Throw(Napi::Env env, const std::string& message);
  [[noreturn]] void ThrowDisposed(Napi::Env env, const std::string& message);

  // --- inference mode guards, entered and left in LIFO order by the JS layer
  std::vector<std::unique_ptr<c10::InferenceMode>> inference_stack;

  // --- zero-copy imports: libtorch may free their storage on any thread; the JS reference to the
  // backing ArrayBuffer must be dropped on the JS thread, so deleters park it here.
  std::mutex parked_mu;
  std::vector<Napi::Reference<Napi::Value>*> parked_refs;
  void DrainParked();

  ComputeThread compute;
  int num_threads = 1;

 private:
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  size_t live_ = 0;

  // --- external memory: V8 sees a tensor handle as a few bytes of JS object, so without this a
  // leaked 100 MB tensor is no reason to collect it and run its finalizer (the GC backstop). Each
  // CPU storage reachable from a handle is counted once, however many handles (views) share it,
  // with its nbytes at the time the first handle was made; it is uncounted when the last handle
  // goes. Storage that libtorch did not allocate (zero-copy imports of JS buffers, which V8 already
  // counts) and non-CPU storage (not host memory) are not counted. Store/Release run on the JS
  // thread only (results of compute-thread work are stored in their finish step), so no lock.
  struct CountedStorage {
    size_t handles = 0;
    int64_t bytes = 0;
  };
  Napi::Env env_;
  std::unordered_map<const void*, CountedStorage> counted_;
  int64_t external_bytes_ = 0;
  void CountStorage(Slot& s);
  void UncountStorage(Slot& s);
  std::vector<std::optional<at::Generator>> gens_;
};

inline Addon& GetAddon(Napi::Env env) { return *env.GetInstanceData<Addon>(); }

// Runs `body`, turning libtorch and standard exceptions into the JS TorchError.
template <typename F>
Napi::Value Guard(const Napi::CallbackInfo& info, F&& body) {
  Napi::Env env = info.Env();
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    GetAddon(env).Throw(env, e.what_without_backtrace());
  } catch (const std::exception& e) {
    GetAddon(env).Throw(env, e.what());
  }
}

// Registration helpers, one per translation unit.
void InitTensors(Napi::Env env, Napi::Object exports);
void InitDispatch(Napi::Env env, Napi::Object exports);
void InitAutograd(Napi::Env env, Napi::Object exports);
void InitFused(Napi::Env env, Napi::Object exports);
void InitAutocast(Napi::Env env, Napi::Object exports);
void InitBnAct(Napi::Env env, Napi::Object exports);

// Argument helpers shared across units.
int64_t ToInt64(Napi::Env env, const Napi::Value& v, const char* what);
std::vector<int64_t> ToIntList(Napi::Env env, const Napi::Value& v, const char* what);
Napi::Value FromIValue(Napi::Env env, Addon& addon, const c10::IValue& v);

}  // namespace ns
