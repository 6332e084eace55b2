// noisy-student's c10d bindings: libtorch's own distributed engine (TCPStore rendezvous,
// ProcessGroupGloo, ProcessGroupNCCL when built against a CUDA libtorch) for Node.
//
// A module of its own (ARCHITECTURE.md), built by scripts/build-dist-addon.mjs against the same
// libtorch as the main addon. Tensors are the main addon's: init(tensorApi()) hands over its table
// of C functions (native/src/tensor_api.h), and a collective runs on the very at::Tensor a JS handle
// names, in place.
//
// Threads: a collective is enqueued from the JS thread (c10d runs it on the process group's own
// worker threads: Gloo's, or NCCL's streams) after the main addon's compute thread has drained, and
// a Napi::AsyncWorker waits for it on the libuv pool and settles the Promise. The JS thread is never
// blocked by the network, except for the short store calls.
//
// Failure naming: Gloo's errors name socket addresses (or nothing, on a timeout), not ranks. Every
// rank counts the collectives it enters in the store (ns/seq/<rank>) and a heartbeat thread bumps
// ns/hb/<rank> twice a second over its own store connection. When a collective fails, the rank
// reads both: a rank whose heartbeat stopped died or was killed; a live rank whose count is behind
// never reached this collective (hung). If the store itself is gone, rank 0 (its host) is.
#define NAPI_VERSION 8
#include <napi.h>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <torch/csrc/autograd/custom_function.h>

#include "../../src/tensor_api.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace nsd {

using namespace std::chrono_literals;

struct State {
  NsTensorApi api{};
  bool ready = false;
};

State& GetState(Napi::Env env) { return *env.GetInstanceData<State>(); }

std::string ErrorText(const std::exception& e) {
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

// Runs `body`, turning libtorch and standard exceptions into JS errors.
template <typename F>
Napi::Value Guard(Napi::Env env, F&& body) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, ErrorText(e));
  }
}

const NsTensorApi& Api(Napi::Env env) {
  State& s = GetState(env);
  if (!s.ready) throw Napi::Error::New(env, "noisy-student distributed: init(tensorApi) was not called");
  return s.api;
}

at::Tensor TensorOf(Napi::Env env, const Napi::Value& v, const char* what) {
  at::Tensor t;
  if (!v.IsNumber() || !Api(env).get(Api(env).addon, v.As<Napi::Number>().DoubleValue(), &t)) {
    throw Napi::Error::New(env, std::string(what) + ": not a live tensor (disposed?)");
  }
  return t;
}

std::vector<at::Tensor> TensorsOf(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::Error::New(env, std::string(what) + ": expected an array of tensors");
  Napi::Array a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(TensorOf(env, a.Get(i), what));
  return out;
}

// A Promise settled after `work` ran on the libuv pool. `work` returns an error text ("" = success).
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, std::function<std::string()> work, std::function<Napi::Value(Napi::Env)> done = nullptr)
      : Napi::AsyncWorker(env, "noisy-student-c10d"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        done_(std::move(done)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      error_ = work_();
    } catch (const std::exception& e) {
      error_ = ErrorText(e);
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!error_.empty()) {
      deferred_.Reject(Napi::Error::New(env, error_).Value());
      return;
    }
    try {
      deferred_.Resolve(done_ ? done_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(env, ErrorText(e)).Value());
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::function<std::string()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::string error_;
};

std::vector<uint8_t> Bytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// ---------------------------------------------------------------- Store

struct StoreConfig {
  std::string host;
  uint16_t port = 0;
  bool is_server = false;
  int world_size = 1;
  std::chrono::milliseconds timeout{300000};
};

c10::intrusive_ptr<c10d::TCPStore> MakeStore(const StoreConfig& c, bool server) {
  c10d::TCPStoreOptions o;
  o.port = c.port;
  o.isServer = server;
  o.numWorkers = c.world_size;
  o.waitWorkers = false;  // the process group's rendezvous waits for everyone, with the rank named
  o.timeout = c.timeout;
  return c10::make_intrusive<c10d::TCPStore>(c.host, o);
}

class StoreWrap : public Napi::ObjectWrap<StoreWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "TCPStore",
                       {InstanceMethod("set", &StoreWrap::Set), InstanceMethod("get", &StoreWrap::Get),
                        InstanceMethod("add", &StoreWrap::Add), InstanceMethod("check", &StoreWrap::Check),
                        InstanceMethod("deleteKey", &StoreWrap::DeleteKey),
                        InstanceMethod("waitKeys", &StoreWrap::WaitKeys)});
  }
  // new TCPStore(internal) only from connect(); JS never calls it directly.
  explicit StoreWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StoreWrap>(info) {}

  c10::intrusive_ptr<c10d::TCPStore> store;
  StoreConfig config;

 private:
  c10d::TCPStore& S(Napi::Env env) {
    if (!store) throw Napi::Error::New(env, "TCPStore: not connected");
    return *store;
  }
  Napi::Value Set(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&] {
      S(info.Env()).set(info[0].As<Napi::String>().Utf8Value(), Bytes(info[1].As<Napi::String>().Utf8Value()));
      return info.Env().Undefined();
    });
  }
  // get(key): blocks until the key exists (the store's timeout).
  Napi::Value Get(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&] {
      auto v = S(info.Env()).get(info[0].As<Napi::String>().Utf8Value());
      return Napi::String::New(info.Env(), std::string(v.begin(), v.end()));
    });
  }
  Napi::Value Add(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&] {
      const int64_t r = S(info.Env()).add(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Int64Value());
      return Napi::Number::New(info.Env(), static_cast<double>(r));
    });
  }
  Napi::Value Check(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&] {
      std::vector<std::string> keys;
      Napi::Array a = info[0].As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) keys.push_back(a.Get(i).As<Napi::String>().Utf8Value());
      return Napi::Boolean::New(info.Env(), S(info.Env()).check(keys));
    });
  }
  Napi::Value DeleteKey(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&] {
      return Napi::Boolean::New(info.Env(), S(info.Env()).deleteKey(info[0].As<Napi::String>().Utf8Value()));
    });
  }
  // waitKeys(keys, timeoutMs) -> Promise: resolves when all exist, rejects on the timeout.
  Napi::Value WaitKeys(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), [&]() -> Napi::Value {
      auto st = store;
      if (!st) throw Napi::Error::New(info.Env(), "TCPStore: not connected");
      std::vector<std::string> keys;
      Napi::Array a = info[0].As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); ++i) keys.push_back(a.Get(i).As<Napi::String>().Utf8Value());
      const auto timeout = std::chrono::milliseconds(info[1].As<Napi::Number>().Int64Value());
      auto* w = new PromiseWorker(info.Env(), [st, keys, timeout] {
        st->wait(keys, timeout);
        return std::string();
      });
      w->Queue();
      return w->Promise();
    });
  }
};

Napi::FunctionReference* store_ctor = nullptr;

// connectStore(host, port, isServer, worldSize, timeoutMs) -> Promise<TCPStore>. The server binds
// at once; a client retries until the server is up or the timeout passes.
Napi::Value ConnectStore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    auto cfg = std::make_shared<StoreConfig>();
    cfg->host = info[0].As<Napi::String>().Utf8Value();
    const int64_t port = info[1].As<Napi::Number>().Int64Value();
    if (port < 0 || port > 65535) throw Napi::RangeError::New(env, "TCPStore: port must be 0..65535");
    cfg->port = static_cast<uint16_t>(port);
    cfg->is_server = info[2].ToBoolean().Value();
    cfg->world_size = info[3].As<Napi::Number>().Int32Value();
    cfg->timeout = std::chrono::milliseconds(info[4].As<Napi::Number>().Int64Value());
    auto holder = std::make_shared<c10::intrusive_ptr<c10d::TCPStore>>();
    auto* w = new PromiseWorker(
        env,
        [cfg, holder] {
          try {
            *holder = MakeStore(*cfg, cfg->is_server);
          } catch (const std::exception& e) {
            std::ostringstream m;
            if (cfg->is_server) {
              m << "rank 0 could not host the TCPStore on " << cfg->host << ":" << cfg->port << " (port in use?): " << ErrorText(e);
            } else {
              m << "could not reach the TCPStore of rank 0 at " << cfg->host << ":" << cfg->port << " within "
                << cfg->timeout.count() << " ms (is rank 0 running, MASTER_ADDR/MASTER_PORT right?): " << ErrorText(e);
            }
            return m.str();
          }
          return std::string();
        },
        [cfg, holder](Napi::Env e) -> Napi::Value {
          Napi::Object obj = store_ctor->New({});
          StoreWrap* s = StoreWrap::Unwrap(obj);
          s->store = *holder;
          s->config = *cfg;
          s->config.port = (*holder)->getPort();  // port 0: the one the server bound
          return obj;
        });
    w->Queue();
    return w->Promise();
  });
}

// ---------------------------------------------------------------- ProcessGroup

// The process group plus what names a failed rank (see the top of the file).
struct Group : std::enable_shared_from_this<Group> {
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef USE_C10D_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  c10::intrusive_ptr<c10d::TCPStore> store;       // the JS thread's (seq counts)
  c10::intrusive_ptr<c10d::TCPStore> side_store;  // heartbeat thread + diagnosis
  StoreConfig store_cfg;
  std::string prefix;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
  std::atomic<int64_t> seq{0};
  std::atomic<bool> broken{false};

  std::thread heartbeat;
  std::mutex hb_mu;
  std::condition_variable hb_cv;
  bool hb_stop = false;
  std::mutex side_mu;

  static constexpr auto kBeat = 500ms;

  std::string Key(const char* what, int r) const { return prefix + what + std::to_string(r); }

  template <class F>
  c10::intrusive_ptr<c10d::Work> Run(F&& f) {
#ifdef USE_C10D_NCCL
    if (nccl) return f(*nccl);
#endif
    return f(*gloo);
  }

  void StartHeartbeat() {
    heartbeat = std::thread([this] {
      std::unique_lock<std::mutex> lock(hb_mu);
      while (!hb_stop) {
        try {
          std::lock_guard<std::mutex> side(side_mu);
          side_store->add(Key("hb/", rank), 1);
        } catch (const std::exception&) {
          return;  // the store is gone (rank 0 ended); the next collective reports it
        }
        hb_cv.wait_for(lock, kBeat, [this] { return hb_stop; });
      }
    });
  }

  void StopHeartbeat() {
    {
      std::lock_guard<std::mutex> lock(hb_mu);
      hb_stop = true;
    }
    hb_cv.notify_all();
    if (heartbeat.joinable()) heartbeat.join();
  }

  // Why collective `my_seq` failed, in ranks. Runs on a pool thread; takes ~3 heartbeats.
  std::string Diagnose(int64_t my_seq) {
    std::lock_guard<std::mutex> side(side_mu);
    std::vector<int64_t> hb0(size), hb1(size), seqs(size);
    try {
      for (int r = 0; r < size; ++r) hb0[r] = side_store->add(Key("hb/", r), 0);
      std::this_thread::sleep_for(kBeat * 3);
      for (int r = 0; r < size; ++r) {
        hb1[r] = side_store->add(Key("hb/", r), 0);
        seqs[r] = side_store->add(Key("seq/", r), 0);
      }
    } catch (const std::exception&) {
      if (rank == 0) return "";
      std::ostringstream m;
      m << "rank 0 (the host of the TCPStore at " << store_cfg.host << ":" << store_cfg.port
        << ") is unreachable: it died, was killed or ended";
      return m.str();
    }
    std::ostringstream m;
    bool any = false;
    for (int r = 0; r < size; ++r) {
      if (r == rank) continue;
      if (hb1[r] == hb0[r]) {
        m << (any ? "; " : "") << "rank " << r << " stopped answering (no heartbeat for "
          << std::chrono::duration_cast<std::chrono::milliseconds>(kBeat * 3).count()
          << " ms: it died, was killed or is stuck in native code)";
        any = true;
      } else if (seqs[r] < my_seq) {
        m << (any ? "; " : "") << "rank " << r << " did not answer: it is alive but never reached collective #" << my_seq
          << " (its last was #" << seqs[r] << ")";
        any = true;
      }
    }
    return m.str();
  }

  ~Group() {
    StopHeartbeat();
    // A process group whose peer vanished may never drain its queue (its destructor waits for all
    // work): leak it rather than hang the exit.
    if (broken.load()) {
      gloo.release();
#ifdef USE_C10D_NCCL
      nccl.release();
#endif
    }
  }
};

class GroupWrap : public Napi::ObjectWrap<GroupWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ProcessGroup",
                       {InstanceMethod("allreduce", &GroupWrap::Allreduce), InstanceMethod("broadcast", &GroupWrap::Broadcast),
                        InstanceMethod("allgather", &GroupWrap::Allgather), InstanceMethod("barrier", &GroupWrap::Barrier),
                        InstanceMethod("close", &GroupWrap::Close), InstanceAccessor("rank", &GroupWrap::Rank, nullptr),
                        InstanceAccessor("worldSize", &GroupWrap::Size, nullptr),
                        InstanceAccessor("backend", &GroupWrap::Backend, nullptr)});
  }
  explicit GroupWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GroupWrap>(info) {}
  std::shared_ptr<Group> g;

 private:
  Group& G(Napi::Env env) {
    if (!g) throw Napi::Error::New(env, "ProcessGroup: closed");
    return *g;
  }
  Napi::Value Rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), G(info.Env()).rank); }
  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), G(info.Env()).size); }
  Napi::Value Backend(const Napi::CallbackInfo& info) {
#ifdef USE_C10D_NCCL
    if (G(info.Env()).nccl) return Napi::String::New(info.Env(), "nccl");
#endif
    return Napi::String::New(info.Env(), "gloo");
  }

  // Enters collective number seq+1 (counted in the store), enqueues the c10d works `start` makes,
  // and returns a Promise settled when all of them finished; with `sync`, waits here instead (the
  // training step's gradient allreduce: the JS thread has nothing else to do meanwhile) and
  // returns undefined or throws.
  Napi::Value Collective(Napi::Env env, const char* name, bool sync,
                         std::function<std::vector<c10::intrusive_ptr<c10d::Work>>(Group&)> start) {
    Group& grp = G(env);
    if (grp.broken.load()) throw Napi::Error::New(env, std::string(name) + ": the process group failed before; restart the ranks");
    const NsTensorApi& api = Api(env);
    api.wait_idle(api.addon);  // async backward / ops still writing these tensors finish first
    const int64_t my_seq = ++grp.seq;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    try {
      grp.store->add(grp.Key("seq/", grp.rank), 1);
    } catch (const std::exception& e) {
      grp.broken.store(true);
      std::ostringstream m;
      m << name << " #" << my_seq << " failed on rank " << grp.rank << " of " << grp.size << ": rank 0 (the host of the TCPStore at "
        << grp.store_cfg.host << ":" << grp.store_cfg.port << ") is unreachable: it died, was killed or ended [" << ErrorText(e) << "]";
      throw Napi::Error::New(env, m.str());
    }
    try {
      works = start(grp);
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string(name) + " #" + std::to_string(my_seq) + " on rank " + std::to_string(grp.rank) +
                                      " could not start: " + ErrorText(e));
    }
    auto gp = g;
    std::string what = name;
    if (sync) {
      const std::string err = WaitAll(gp, works, what, my_seq);
      if (!err.empty()) throw Napi::Error::New(env, err);
      return env.Undefined();
    }
    auto* w = new PromiseWorker(env, [gp, works, what, my_seq] { return WaitAll(gp, works, what, my_seq); });
    w->Queue();
    return w->Promise();
  }

 public:
  // Waits for `works`; on failure marks the group broken and returns the error with the guilty
  // rank named ("" on success).
  static std::string WaitAll(const std::shared_ptr<Group>& gp, const std::vector<c10::intrusive_ptr<c10d::Work>>& works,
                             const std::string& what, int64_t my_seq) {
    std::string err;
    for (auto& wk : works) {
      try {
        wk->wait(gp->timeout + 5s);  // Gloo's own timeout fires first; this bounds a stuck transport
      } catch (const std::exception& e) {
        err = ErrorText(e);
        break;
      }
    }
    if (err.empty()) return "";
    gp->broken.store(true);
    const std::string who = gp->Diagnose(my_seq);
    std::ostringstream m;
    m << what << " #" << my_seq << " failed on rank " << gp->rank << " of " << gp->size << ": "
      << (who.empty() ? "no rank could be named" : who) << " [c10d: " << err << "]";
    return m.str();
  }

 private:
  static bool SyncArg(const Napi::CallbackInfo& info, size_t i) { return info.Length() > i && info[i].ToBoolean().Value(); }

  static c10d::ReduceOp OpOf(Napi::Env env, const Napi::Value& v) {
    const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "sum";
    if (s == "sum") return c10d::ReduceOp::SUM;
    if (s == "max") return c10d::ReduceOp::MAX;
    if (s == "min") return c10d::ReduceOp::MIN;
    if (s == "product") return c10d::ReduceOp::PRODUCT;
    throw Napi::Error::New(env, "allreduce: op must be sum, max, min or product, got " + s);
  }

  // allreduce(handles, op): each tensor reduced in place (one c10d allreduce per tensor: c10d's
  // list argument means one copy per device, not several tensors).
  Napi::Value Allreduce(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Guard(env, [&] {
      auto ts = TensorsOf(env, info[0], "allreduce");
      c10d::AllreduceOptions opts;
      opts.reduceOp = OpOf(env, info[1]);
      return Collective(env, "allreduce", SyncArg(info, 2), [ts, opts](Group& grp) {
        std::vector<c10::intrusive_ptr<c10d::Work>> ws;
        for (const auto& t : ts) {
          std::vector<at::Tensor> one{t};
          ws.push_back(grp.Run([&](auto& pg) { return pg.allreduce(one, opts); }));
        }
        return ws;
      });
    });
  }

  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Guard(env, [&] {
      auto ts = TensorsOf(env, info[0], "broadcast");
      const int root = info[1].As<Napi::Number>().Int32Value();
      if (root < 0 || root >= G(env).size) throw Napi::RangeError::New(env, "broadcast: root rank out of range");
      c10d::BroadcastOptions opts;
      opts.rootRank = root;
      return Collective(env, "broadcast", SyncArg(info, 2), [ts, opts](Group& grp) {
        std::vector<c10::intrusive_ptr<c10d::Work>> ws;
        for (const auto& t : ts) {
          std::vector<at::Tensor> one{t};
          ws.push_back(grp.Run([&](auto& pg) { return pg.broadcast(one, opts); }));
        }
        return ws;
      });
    });
  }

  // allgather(outputs, input): outputs[r] receives rank r's input (same shape and dtype).
  Napi::Value Allgather(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Guard(env, [&] {
      auto outs = TensorsOf(env, info[0], "allgather");
      at::Tensor in = TensorOf(env, info[1], "allgather");
      if (static_cast<int>(outs.size()) != G(env).size) throw Napi::Error::New(env, "allgather: need one output tensor per rank");
      return Collective(env, "allgather", SyncArg(info, 2), [outs, in](Group& grp) {
        std::vector<std::vector<at::Tensor>> o{outs};
        std::vector<at::Tensor> i{in};
        return std::vector<c10::intrusive_ptr<c10d::Work>>{grp.Run([&](auto& pg) { return pg.allgather(o, i); })};
      });
    });
  }

  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return Guard(env, [&] {
      return Collective(env, "barrier", SyncArg(info, 0), [](Group& grp) {
        return std::vector<c10::intrusive_ptr<c10d::Work>>{grp.Run([&](auto& pg) { return pg.barrier(); })};
      });
    });
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (g) {
      g->StopHeartbeat();
      g.reset();
    }
    return info.Env().Undefined();
  }
};

Napi::FunctionReference* group_ctor = nullptr;

// ---------------------------------------------------------------- SyncBatchNorm

// Sums `t` in place across the group on the calling thread (inside autograd: the JS thread or the
// compute thread), throwing with the guilty rank named.
void AllreduceNow(Group& grp, const at::Tensor& t, const char* what) {
  std::vector<at::Tensor> one{t};
  auto work = grp.Run([&](auto& pg) { return pg.allreduce(one, c10d::AllreduceOptions()); });
  const std::string err = GroupWrap::WaitAll(grp.shared_from_this(), {work}, what, grp.seq.load());
  if (!err.empty()) throw std::runtime_error(err);
}

// torch.nn.SyncBatchNorm's training pass as an autograd function: batch statistics over the whole
// group's batch (two allreduces: the sums and counts, then the squared deviations from the global
// mean, which is what a single process's two-pass batch norm computes), and in backward the sums of
// dy and dy·(x - mean) reduced across ranks, so the input gradient is the one the concatenated batch
// gives. Sums accumulate in float64, as ATen's CPU batch norm does for float32.
struct SyncBatchNormFn : public torch::autograd::Function<SyncBatchNormFn> {
  static std::vector<int64_t> Reduced(const at::Tensor& x) {
    std::vector<int64_t> r{0};
    for (int64_t d = 2; d < x.dim(); ++d) r.push_back(d);
    return r;
  }
  static std::vector<int64_t> Bcast(const at::Tensor& x) {
    std::vector<int64_t> s(x.dim(), 1);
    s[1] = x.size(1);
    return s;
  }

  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor input, at::Tensor weight, at::Tensor bias,
                            at::Tensor running_mean, at::Tensor running_var, double momentum, double eps, int64_t group) {
    Group& grp = *reinterpret_cast<Group*>(group);
    at::Tensor x = input.scalar_type() == at::kFloat ? input : input.to(at::kFloat);
    const int64_t C = x.size(1);
    const auto red = Reduced(x);
    const auto bc = Bcast(x);
    at::Tensor stats = at::cat({x.sum(red, false, at::kDouble), at::full({1}, static_cast<double>(x.numel() / C), x.options().dtype(at::kDouble))});
    AllreduceNow(grp, stats, "SyncBatchNorm (statistics)");
    const double n = stats[C].item<double>();
    at::Tensor mean = stats.slice(0, 0, C) / n;
    at::Tensor mean_f = mean.to(at::kFloat);
    at::Tensor sq = (x - mean_f.view(bc)).square().sum(red, false, at::kDouble);
    AllreduceNow(grp, sq, "SyncBatchNorm (variance)");
    at::Tensor var = sq / n;
    at::Tensor invstd = (var + eps).rsqrt().to(at::kFloat);
    at::Tensor y = (x - mean_f.view(bc)) * (invstd * weight).view(bc) + bias.view(bc);
    {
      at::NoGradGuard no_grad;
      if (running_mean.defined()) running_mean.mul_(1 - momentum).add_(mean_f, momentum);
      if (running_var.defined()) running_var.mul_(1 - momentum).add_((sq / std::max(n - 1, 1.0)).to(at::kFloat), momentum);
    }
    ctx->save_for_backward({x, weight, mean_f, invstd});
    ctx->saved_data["n"] = n;
    ctx->saved_data["group"] = group;
    ctx->saved_data["dtype"] = static_cast<int64_t>(input.scalar_type());
    return input.scalar_type() == at::kFloat ? y : y.to(input.scalar_type());
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    at::Tensor x = saved[0], weight = saved[1], mean = saved[2], invstd = saved[3];
    const double n = ctx->saved_data["n"].toDouble();
    Group& grp = *reinterpret_cast<Group*>(ctx->saved_data["group"].toInt());
    const auto in_dtype = static_cast<at::ScalarType>(ctx->saved_data["dtype"].toInt());
    const int64_t C = x.size(1);
    const auto red = Reduced(x);
    const auto bc = Bcast(x);
    at::Tensor dy = grads[0].scalar_type() == at::kFloat ? grads[0] : grads[0].to(at::kFloat);
    at::Tensor xmu = x - mean.view(bc);
    at::Tensor sum_dy = dy.sum(red, false, at::kDouble);
    at::Tensor sum_dy_xmu = (dy * xmu).sum(red, false, at::kDouble);
    // This rank's own share of the weight and bias gradients (the gradient allreduce sums them).
    at::Tensor grad_weight = (sum_dy_xmu * invstd.to(at::kDouble)).to(at::kFloat);
    at::Tensor grad_bias = sum_dy.to(at::kFloat);
    at::Tensor both = at::cat({sum_dy, sum_dy_xmu});
    AllreduceNow(grp, both, "SyncBatchNorm (backward)");
    at::Tensor mean_dy = (both.slice(0, 0, C) / n).to(at::kFloat);
    at::Tensor mean_dy_xmu = (both.slice(0, C, 2 * C) / n).to(at::kFloat);
    at::Tensor dx = (dy - mean_dy.view(bc) - xmu * (invstd * invstd * mean_dy_xmu).view(bc)) * (invstd * weight).view(bc);
    if (in_dtype != at::kFloat) dx = dx.to(in_dtype);
    return {dx, grad_weight, grad_bias, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// syncBatchNorm(group, x, weight, bias, runningMean, runningVar, momentum, eps) -> handle: the
// training-mode pass (eval mode is a plain batch norm with the running statistics).
Napi::Value SyncBatchNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "syncBatchNorm: expected a ProcessGroup");
    GroupWrap* gw = GroupWrap::Unwrap(info[0].As<Napi::Object>());
    if (!gw->g) throw Napi::Error::New(env, "syncBatchNorm: the process group is closed");
    if (gw->g->broken.load()) throw Napi::Error::New(env, "syncBatchNorm: the process group failed before; restart the ranks");
    const NsTensorApi& api = Api(env);
    api.wait_idle(api.addon);
    at::Tensor x = TensorOf(env, info[1], "syncBatchNorm x");
    at::Tensor w = TensorOf(env, info[2], "syncBatchNorm weight");
    at::Tensor b = TensorOf(env, info[3], "syncBatchNorm bias");
    at::Tensor rm = TensorOf(env, info[4], "syncBatchNorm runningMean");
    at::Tensor rv = TensorOf(env, info[5], "syncBatchNorm runningVar");
    if (x.dim() < 2 || x.size(1) != w.numel()) throw Napi::Error::New(env, "syncBatchNorm: x must be [N, C, ...] with C = weight.numel()");
    const double momentum = info[6].As<Napi::Number>().DoubleValue();
    const double eps = info[7].As<Napi::Number>().DoubleValue();
    at::Tensor y = SyncBatchNormFn::apply(x, w, b, rm, rv, momentum, eps, reinterpret_cast<int64_t>(gw->g.get()));
    return Napi::Number::New(env, api.store(api.addon, &y));
  });
}

// newGroup(store, rank, size, { backend, timeoutMs, prefix }) -> Promise<ProcessGroup>: the full-mesh
// rendezvous runs on the pool; a rank that does not join in time is named from the store.
Napi::Value NewGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, [&]() -> Napi::Value {
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "newGroup: expected a TCPStore");
    StoreWrap* sw = StoreWrap::Unwrap(info[0].As<Napi::Object>());
    if (!sw->store) throw Napi::Error::New(env, "newGroup: the TCPStore is not connected");
    auto grp = std::make_shared<Group>();
    grp->store = sw->store;
    grp->store_cfg = sw->config;
    grp->rank = info[1].As<Napi::Number>().Int32Value();
    grp->size = info[2].As<Napi::Number>().Int32Value();
    if (grp->size < 1 || grp->rank < 0 || grp->rank >= grp->size) {
      throw Napi::RangeError::New(env, "newGroup: need 0 <= rank < worldSize, got rank " + std::to_string(grp->rank) +
                                           " of " + std::to_string(grp->size));
    }
    Napi::Object o = info[3].IsObject() ? info[3].As<Napi::Object>() : Napi::Object::New(env);
    const std::string backend = o.Has("backend") ? o.Get("backend").As<Napi::String>().Utf8Value() : "gloo";
    grp->timeout = std::chrono::milliseconds(o.Has("timeoutMs") ? o.Get("timeoutMs").As<Napi::Number>().Int64Value() : 1800000);
    grp->prefix = o.Has("prefix") ? o.Get("prefix").As<Napi::String>().Utf8Value() : "ns/";
#ifndef USE_C10D_NCCL
    if (backend == "nccl") {
      throw Napi::Error::New(env, "newGroup: this build has no NCCL (build the distributed addon against a CUDA libtorch)");
    }
#endif
    if (backend != "gloo" && backend != "nccl") throw Napi::Error::New(env, "newGroup: backend must be gloo or nccl, got " + backend);
    auto* w = new PromiseWorker(
        env,
        [grp, backend]() -> std::string {
          try {
            // The side connection is a client even on rank 0 (the server is the JS thread's store).
            StoreConfig side = grp->store_cfg;
            side.is_server = false;
            grp->side_store = MakeStore(side, false);
            grp->side_store->add(grp->Key("seq/", grp->rank), 0);
            grp->side_store->add(grp->Key("hb/", grp->rank), 1);
            grp->StartHeartbeat();
            auto store = c10::make_intrusive<c10d::PrefixStore>(grp->prefix + "pg", grp->store);
#ifdef USE_C10D_NCCL
            if (backend == "nccl") {
              auto opts = c10d::ProcessGroupNCCL::Options::create();
              opts->timeout = grp->timeout;
              grp->nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, grp->rank, grp->size, opts);
              return "";
            }
#endif
            auto opts = c10d::ProcessGroupGloo::Options::create(grp->timeout);
            // As torch.distributed does: an interface from GLOO_SOCKET_IFNAME, else this host's address.
            const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
            opts->devices.push_back(ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                                      : c10d::ProcessGroupGloo::createDefaultDevice());
            opts->threads = 2;
            grp->gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(store, grp->rank, grp->size, opts);
          } catch (const std::exception& e) {
            std::ostringstream m;
            m << "rank " << grp->rank << " of " << grp->size << ": the process group rendezvous failed";
            std::vector<int> missing;
            try {
              for (int r = 0; r < grp->size; ++r) {
                if (grp->side_store && grp->side_store->add(grp->Key("hb/", r), 0) == 0) missing.push_back(r);
              }
            } catch (const std::exception&) {
            }
            if (!missing.empty()) {
              m << " (never joined: rank";
              for (size_t i = 0; i < missing.size(); ++i) m << (i ? ", " : " ") << missing[i];
              m << ")";
            }
            m << ": " << ErrorText(e);
            grp->broken.store(true);
            return m.str();
          }
          return "";
        },
        [grp](Napi::Env e) -> Napi::Value {
          Napi::Object obj = group_ctor->New({});
          GroupWrap::Unwrap(obj)->g = grp;
          return obj;
        });
    w->Queue();
    return w->Promise();
  });
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) throw Napi::TypeError::New(env, "init: expected the libtorch addon's tensorApi()");
  const auto* api = info[0].As<Napi::External<NsTensorApi>>().Data();
  if (api->version != NS_TENSOR_API_VERSION || api->size != sizeof(NsTensorApi)) {
    throw Napi::Error::New(env, "init: the libtorch addon's tensor API is version " + std::to_string(api->version) +
                                    ", this module needs " + std::to_string(NS_TENSOR_API_VERSION) +
                                    " (rebuild both: npm run build:native && node scripts/build-dist-addon.mjs --force)");
  }
  State& s = GetState(env);
  s.api = *api;
  s.ready = true;
  return env.Undefined();
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array b = Napi::Array::New(env);
  b.Set(0u, "gloo");
#ifdef USE_C10D_NCCL
  b.Set(1u, "nccl");
#endif
  o.Set("backends", b);
  return o;
}

Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<State>(new State());
  // One set of constructors per process: the module is for the main thread (worker threads do
  // not take part in a process group).
  if (store_ctor == nullptr) {
    store_ctor = new Napi::FunctionReference(Napi::Persistent(StoreWrap::Define(env)));
    group_ctor = new Napi::FunctionReference(Napi::Persistent(GroupWrap::Define(env)));
  }
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("connectStore", Napi::Function::New(env, ConnectStore));
  exports.Set("newGroup", Napi::Function::New(env, NewGroup));
  exports.Set("syncBatchNorm", Napi::Function::New(env, SyncBatchNorm));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  return exports;
}

}  // namespace nsd

static Napi::Object InitAll(Napi::Env env, Napi::Object exports) { return nsd::InitModule(env, exports); }
NODE_API_MODULE(noisy_student_distributed, InitAll)
