// Module init, the tensor/generator tables, the serial compute thread, threads and seeds.
#include "addon.h"
#include "tensor_api.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <malloc.h>

#include <cstdlib>

namespace ns {

// ---------------------------------------------------------------- tensor table

double Addon::Store(at::Tensor t) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    if (slots_.size() > kSlotMask) throw std::runtime_error("too many live tensors (16M): dispose tensors or use scope()");
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.tensor = std::move(t);
  s.used = true;
  ++live_;
  CountStorage(s);
  return static_cast<double>(s.gen) * static_cast<double>(1u << kSlotBits) + static_cast<double>(slot);
}

void Addon::CountStorage(Slot& s) {
  s.counted_storage = nullptr;
  const at::Tensor& t = s.tensor;
  if (!t.defined() || !t.has_storage() || !t.is_cpu()) return;
  const c10::Storage& storage = t.storage();
  // No allocator: memory libtorch wraps but does not own (at::from_blob over a JS buffer).
  if (storage.allocator() == nullptr || storage.nbytes() == 0) return;
  const void* key = storage.unsafeGetStorageImpl();
  CountedStorage& c = counted_[key];
  if (c.handles++ == 0) {
    c.bytes = static_cast<int64_t>(storage.nbytes());
    external_bytes_ += c.bytes;
    Napi::MemoryManagement::AdjustExternalMemory(env_, c.bytes);
  }
  s.counted_storage = key;
}

void Addon::UncountStorage(Slot& s) {
  if (s.counted_storage == nullptr) return;
  auto it = counted_.find(s.counted_storage);
  s.counted_storage = nullptr;
  if (it == counted_.end()) return;
  if (--it->second.handles == 0) {
    external_bytes_ -= it->second.bytes;
    Napi::MemoryManagement::AdjustExternalMemory(env_, -it->second.bytes);
    counted_.erase(it);
  }
}

static bool Decode(double h, uint32_t& slot, uint32_t& gen) {
  if (!(h >= 0) || h > 9007199254740991.0) return false;
  const uint64_t v = static_cast<uint64_t>(h);
  if (static_cast<double>(v) != h) return false;
  slot = static_cast<uint32_t>(v & kSlotMask);
  gen = static_cast<uint32_t>(v >> kSlotBits);
  return true;
}

at::Tensor& Addon::Get(Napi::Env env, const Napi::Value& v) {
  if (!v.IsNumber()) Throw(env, "expected a tensor handle");
  uint32_t slot, gen;
  const double h = v.As<Napi::Number>().DoubleValue();
  if (!Decode(h, slot, gen) || slot >= slots_.size() || !slots_[slot].used || slots_[slot].gen != gen) {
    ThrowDisposed(env, "tensor was disposed (or is not a tensor handle)");
  }
  return slots_[slot].tensor;
}

at::Tensor* Addon::Find(double h) {
  uint32_t slot, gen;
  if (!Decode(h, slot, gen) || slot >= slots_.size() || !slots_[slot].used || slots_[slot].gen != gen) return nullptr;
  return &slots_[slot].tensor;
}

bool Addon::Release(double h) {
  uint32_t slot, gen;
  if (!Decode(h, slot, gen) || slot >= slots_.size()) return false;
  Slot& s = slots_[slot];
  if (!s.used || s.gen != gen) return false;
  UncountStorage(s);
  s.tensor = at::Tensor();
  s.used = false;
  s.gen = (s.gen + 1) & kGenMask;
  free_.push_back(slot);
  --live_;
  return true;
}

void Addon::ThrowDisposed(Napi::Env env, const std::string& message) {
  if (!disposed_ctor.IsEmpty()) throw Napi::Error(env, disposed_ctor.New({Napi::String::New(env, message)}));
  Throw(env, message);
}

void Addon::DrainParked() {
  std::vector<Napi::Reference<Napi::Value>*> refs;
  {
    std::lock_guard<std::mutex> lock(parked_mu);
    refs.swap(parked_refs);
  }
  for (auto* r : refs) delete r;
}

void Addon::Throw(Napi::Env env, const std::string& message) {
  if (!error_ctor.IsEmpty()) {
    Napi::Object err = error_ctor.New({Napi::String::New(env, message)});
    throw Napi::Error(env, err);
  }
  throw Napi::Error::New(env, message);
}

// ---------------------------------------------------------------- generators

at::Generator& Addon::GetGenerator(Napi::Env env, const Napi::Value& v) {
  if (!v.IsNumber()) Throw(env, "expected a generator id");
  const int64_t id = v.As<Napi::Number>().Int64Value();
  if (id < 0 || static_cast<size_t>(id) >= gens_.size() || !gens_[id]) Throw(env, "generator was disposed");
  return *gens_[id];
}

uint32_t Addon::AddGenerator(at::Generator g) {
  if (gens_.empty()) gens_.emplace_back(at::detail::getDefaultCPUGenerator());
  for (size_t i = 1; i < gens_.size(); ++i) {
    if (!gens_[i]) {
      gens_[i] = std::move(g);
      return static_cast<uint32_t>(i);
    }
  }
  gens_.emplace_back(std::move(g));
  return static_cast<uint32_t>(gens_.size() - 1);
}

void Addon::ReleaseGenerator(uint32_t id) {
  if (id > 0 && id < gens_.size()) gens_[id].reset();
}

// ---------------------------------------------------------------- compute thread

ComputeThread::~ComputeThread() {
  if (!started_) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ComputeThread::Start(Napi::Env env) {
  tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}), "noisy-student-compute", 0, 1);
  tsfn_.Unref(env);  // an idle compute thread must not keep the process alive
  thread_ = std::thread([this] { Loop(); });
  started_ = true;
}

void ComputeThread::Loop() {
  at::init_num_threads();
  int applied = -1;
  for (;;) {
    Task* task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      task = queue_.front();
      queue_.pop_front();
    }
    // OpenMP's thread count is a per-thread setting: apply the addon's on this thread too.
    const int want = threads_.load();
    if (want > 0 && want != applied) {
      at::set_num_threads(want);
      applied = want;
    }
    try {
      at::ThreadLocalStateGuard guard(task->tls);
      task->work();
    } catch (const c10::Error& e) {
      task->failed = true;
      task->error = e.what_without_backtrace();
    } catch (const std::exception& e) {
      task->failed = true;
      task->error = e.what();
    }
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(mu_);
      idle_cv_.notify_all();
    }
    tsfn_.BlockingCall(task, [this](Napi::Env env, Napi::Function, Task* t) {
      std::unique_ptr<Task> owned(t);
      Addon& addon = GetAddon(env);
      if (--outstanding_js_ == 0) tsfn_.Unref(env);
      if (owned->failed) {
        Napi::Object err = addon.error_ctor.IsEmpty()
                               ? Napi::Error::New(env, owned->error).Value()
                               : addon.error_ctor.New({Napi::String::New(env, owned->error)});
        owned->deferred->Reject(err);
        return;
      }
      try {
        owned->deferred->Resolve(owned->finish(env));
      } catch (const Napi::Error& e) {
        owned->deferred->Reject(e.Value());
      } catch (const std::exception& e) {
        owned->deferred->Reject(Napi::Error::New(env, e.what()).Value());
      }
    });
  }
}

Napi::Value ComputeThread::Submit(Napi::Env env, std::unique_ptr<Task> task) {
  task->deferred.emplace(Napi::Promise::Deferred::New(env));
  Napi::Promise promise = task->deferred->Promise();
  if (outstanding_js_++ == 0) tsfn_.Ref(env);
  pending_.fetch_add(1, std::memory_order_acq_rel);
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(task.release());
  }
  cv_.notify_one();
  return promise;
}

void ComputeThread::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return pending_.load(std::memory_order_acquire) == 0; });
}

// ---------------------------------------------------------------- exports

static Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  Addon& addon = GetAddon(info.Env());
  addon.error_ctor = Napi::Persistent(info[0].As<Napi::Function>());
  if (info.Length() > 1 && info[1].IsFunction()) addon.disposed_ctor = Napi::Persistent(info[1].As<Napi::Function>());
  return info.Env().Undefined();
}

static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Addon& addon = GetAddon(info.Env());
    const int64_t n = ToInt64(info.Env(), info[0], "threads");
    if (n < 1) addon.Throw(info.Env(), "setNumThreads: need at least 1 thread");
    addon.compute.WaitIdle();
    at::set_num_threads(static_cast<int>(n));
    addon.num_threads = static_cast<int>(n);
    addon.compute.SetThreads(static_cast<int>(n));
    return info.Env().Undefined();
  });
}

static Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

static Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    const int64_t seed = ToInt64(info.Env(), info[0], "seed");
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(static_cast<uint64_t>(seed));
    return info.Env().Undefined();
  });
}

static Napi::Value NewGenerator(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    const int64_t seed = ToInt64(info.Env(), info[0], "seed");
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
    return Napi::Number::New(info.Env(), GetAddon(info.Env()).AddGenerator(std::move(gen)));
  });
}

static Napi::Value ReleaseGenerator(const Napi::CallbackInfo& info) {
  GetAddon(info.Env()).ReleaseGenerator(info[0].As<Napi::Number>().Uint32Value());
  return info.Env().Undefined();
}

// Generator state as a uint8 tensor (libtorch's own serialisation), for checkpoints that resume.
static Napi::Value GeneratorGetState(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Addon& addon = GetAddon(info.Env());
    at::Generator& g = addon.GetGenerator(info.Env(), info[0]);
    std::lock_guard<std::mutex> lock(g.mutex());
    return Napi::Number::New(info.Env(), addon.Store(g.get_state()));
  });
}

static Napi::Value GeneratorSetState(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Addon& addon = GetAddon(info.Env());
    at::Generator& g = addon.GetGenerator(info.Env(), info[0]);
    const at::Tensor& state = addon.Get(info.Env(), info[1]);
    std::lock_guard<std::mutex> lock(g.mutex());
    g.set_state(state);
    return info.Env().Undefined();
  });
}

static Napi::Value GeneratorSeed(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    at::Generator& g = GetAddon(info.Env()).GetGenerator(info.Env(), info[0]);
    return Napi::BigInt::New(info.Env(), g.current_seed());
  });
}

static Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("torchVersion", TORCH_VERSION);
  o.Set("torchVersionMajor", TORCH_VERSION_MAJOR);
  o.Set("torchVersionMinor", TORCH_VERSION_MINOR);
  o.Set("config", at::show_config());
  o.Set("parallelInfo", at::get_parallel_info());
  o.Set("mkldnn", at::hasMKLDNN());
  o.Set("openmp", at::hasOpenMP());
  return o;
}

// ---------------------------------------------------------------- devices

// CUDA is there only when libtorch_cuda is loaded (it registers the CUDA hooks at load time), which
// is why the addon links it with --no-as-needed when the libtorch has it.
static Napi::Value CudaAvailable(const Napi::CallbackInfo& info) {
  return Guard(info, [&] { return Napi::Boolean::New(info.Env(), torch::cuda::is_available()); });
}

static Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Guard(info, [&] { return Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count())); });
}

// parseDevice(s) -> { type, index (-1: none) }: libtorch's own parser, so the accepted spellings are
// exactly torch's. Whether the device exists is the JS layer's check (it words the error).
static Napi::Value ParseDevice(const Napi::CallbackInfo& info) {
  return Guard(info, [&] {
    Napi::Env env = info.Env();
    if (!info[0].IsString()) GetAddon(env).Throw(env, "parseDevice: expected a device string");
    const c10::Device d(info[0].As<Napi::String>().Utf8Value());
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", c10::DeviceTypeName(d.type(), /*lower_case=*/true));
    o.Set("index", d.has_index() ? static_cast<double>(d.index()) : -1.0);
    return Napi::Value(o);
  });
}

// tensorApi() -> External of the table other native modules use to reach this addon's tensors
// (tensor_api.h), one per call (each worker thread's instance has its own addon); the caller copies it.
static Napi::Value TensorApi(const Napi::CallbackInfo& info) {
  auto* p = new NsTensorApi();
  NsTensorApi& api = *p;
  api.version = NS_TENSOR_API_VERSION;
  api.size = sizeof(NsTensorApi);
  api.addon = &GetAddon(info.Env());
  api.get = [](void* a, double h, at::Tensor* out) {
    at::Tensor* t = static_cast<Addon*>(a)->Find(h);
    if (t == nullptr) return false;
    *out = *t;
    return true;
  };
  api.store = [](void* a, const at::Tensor* t) { return static_cast<Addon*>(a)->Store(*t); };
  api.wait_idle = [](void* a) { static_cast<Addon*>(a)->compute.WaitIdle(); };
  return Napi::External<NsTensorApi>::New(info.Env(), p, [](Napi::Env, NsTensorApi* q) { delete q; });
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // glibc's defaults hand freed memory back to the kernel (trim, or munmap for chunks over the
  // mmap threshold), so a training step that frees its activations page-faults all of them back in
  // on the next step. In this VM a fault costs ~7 us: a loop making 1,000 x 1 MiB tensors took
  // 1.8 s of faults (255k) under Node vs 0.06 s once memory stays in the heap. Keep it, like
  // PyTorch's caching allocators do: tensors up to 256 MiB come from the heap, and the heap is
  // trimmed only past 1 GiB of free top. NOISY_STUDENT_KEEP_MALLOC=1 leaves glibc's settings alone.
  static bool malloc_tuned = false;
  if (!malloc_tuned && !std::getenv("NOISY_STUDENT_KEEP_MALLOC")) {
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_TOP_PAD, 64 << 20);
    malloc_tuned = true;
  }
  auto* addon = new Addon(env);
  env.SetInstanceData<Addon>(addon);
  // ATen defaults to half the logical CPUs; we default to all of them, or OMP_NUM_THREADS.
  int threads = static_cast<int>(std::thread::hardware_concurrency());
  if (const char* omp = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(omp);
    if (n > 0) threads = n;
  }
  if (threads < 1) threads = 1;
  at::set_num_threads(threads);
  addon->num_threads = threads;
  addon->compute.SetThreads(threads);
  addon->compute.Start(env);
  addon->AddGenerator(at::make_generator<at::CPUGeneratorImpl>(0));  // makes sure slot 0 = default
  addon->ReleaseGenerator(1);

  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed));
  exports.Set("newGenerator", Napi::Function::New(env, NewGenerator));
  exports.Set("releaseGenerator", Napi::Function::New(env, ReleaseGenerator));
  exports.Set("generatorGetState", Napi::Function::New(env, GeneratorGetState));
  exports.Set("generatorSetState", Napi::Function::New(env, GeneratorSetState));
  exports.Set("generatorSeed", Napi::Function::New(env, GeneratorSeed));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  exports.Set("cudaAvailable", Napi::Function::New(env, CudaAvailable));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount));
  exports.Set("parseDevice", Napi::Function::New(env, ParseDevice));
  exports.Set("tensorApi", Napi::Function::New(env, TensorApi));
  InitTensors(env, exports);
  InitDispatch(env, exports);
  InitAutograd(env, exports);
  InitFused(env, exports);
  InitAutocast(env, exports);
  InitBnAct(env, exports);
  return exports;
}

}  // namespace ns

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ns::Init(env, exports); }
NODE_API_MODULE(noisy_student_torch, InitModule)
