#include "binding/handler_wrap.h"

#include <pthread.h>
#include <sched.h>

#include <map>
#include <mutex>

#include "binding/convert.h"
#include "pipeline/handler.h"

namespace lr::binding {

namespace {

std::mutex g_mu;
std::map<uint32_t, std::weak_ptr<Engine>> g_engines;
uint32_t g_next_id = 1;

struct PerEnv {
  Napi::FunctionReference attached_ctor, inline_ctor;
};

// Keeps the engine (and so its memory) alive while an ArrayBuffer over it lives.
Napi::ArrayBuffer external(Napi::Env env, void* data, size_t bytes, const std::shared_ptr<Engine>& e) {
  auto* keep = new std::shared_ptr<Engine>(e);
  return Napi::ArrayBuffer::New(env, data, bytes, [](Napi::Env, void*, std::shared_ptr<Engine>* k) { delete k; }, keep);
}

// The doorbell: a thread-safe function into the consumer's event loop. Raw
// Node-API rather than Napi::ThreadSafeFunction: a doorbell can fire while a
// worker's environment is shutting down, where calling into JS fails, and
// node-addon-api turns that failure into a fatal error. Here it is ignored.
//
// Lifetime: when a worker's environment is torn down (the worker exits or
// dies) Node finalizes and frees the thread-safe function whatever our thread
// count says, so ring() on it afterwards would touch freed memory. The
// finalizer marks the shared state dead under a mutex that ring() also takes;
// that path is only used when the consumer sleeps, so the lock costs nothing
// while traffic flows.
class TsfnDoorbell final : public Doorbell {
 public:
  TsfnDoorbell(Napi::Env env, Napi::Function fn) : state_(std::make_shared<State>()) {
    napi_value name;
    napi_create_string_utf8(env, "linerate-doorbell", NAPI_AUTO_LENGTH, &name);
    auto* keep = new std::shared_ptr<State>(state_);
    const napi_status st =
        napi_create_threadsafe_function(env, fn, nullptr, name, 0, 1, keep, &Finalize, nullptr, &CallJs, &state_->tsfn);
    if (st != napi_ok) {
      delete keep;
      fail("NATIVE_ERROR", "cannot create the doorbell (napi_create_threadsafe_function failed)");
    }
  }
  ~TsfnDoorbell() override {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->dead) napi_release_threadsafe_function(state_->tsfn, napi_tsfn_release);
    state_->dead = true;
  }
  void ring() override {
    // Non-blocking: an lcore never waits on JavaScript. The consumer re-reads
    // the ring when it wakes, so the call carries no data.
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->dead) napi_call_threadsafe_function(state_->tsfn, nullptr, napi_tsfn_nonblocking);
  }

 private:
  struct State {
    std::mutex mu;
    bool dead = false;
    napi_threadsafe_function tsfn = nullptr;
  };

  static void Finalize(napi_env, void* data, void*) {
    auto* keep = static_cast<std::shared_ptr<State>*>(data);
    {
      std::lock_guard<std::mutex> lock((*keep)->mu);
      (*keep)->dead = true;
    }
    delete keep;
  }

  static void CallJs(napi_env env, napi_value js_cb, void*, void*) {
    if (!env || !js_cb) return;  // the environment is going away
    napi_value undefined, result;
    if (napi_get_undefined(env, &undefined) != napi_ok) return;
    // A failure (an exception in the wake-up callback, or a closing
    // environment) is left for Node to report; nothing to undo here.
    (void)napi_call_function(env, undefined, js_cb, 0, nullptr, &result);
  }

  std::shared_ptr<State> state_;
};

Napi::Value Attach(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto* per = info.Env().GetInstanceData<PerEnv>();
    return per->attached_ctor.New({info[0]});
  });
}

Napi::Value PinThread(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    const int cpu = info[0].As<Napi::Number>().Int32Value();
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu < 0 || cpu >= CPU_SETSIZE) fail("CPU_UNAVAILABLE", "CPU " + std::to_string(cpu) + " does not exist");
    CPU_SET(cpu, &set);
    const int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (err) fail("CPU_UNAVAILABLE", "cannot pin this thread to CPU " + std::to_string(cpu) + ": " + errno_text(err) +
                                        "; list the CPUs this process may use with: taskset -pc $$");
  });
  return info.Env().Undefined();
}

}  // namespace

uint32_t register_engine(const std::shared_ptr<Engine>& e) {
  std::lock_guard<std::mutex> lock(g_mu);
  const uint32_t id = g_next_id++;
  g_engines[id] = e;
  return id;
}

void unregister_engine(uint32_t id) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_engines.erase(id);
}

Napi::Function AttachedEngine::Define(Napi::Env env) {
  return DefineClass(env, "AttachedEngine",
                     {
                         InstanceMethod<&AttachedEngine::PoolBuffer>("poolBuffer"),
                         InstanceMethod<&AttachedEngine::PoolInfo>("poolInfo"),
                         InstanceMethod<&AttachedEngine::ChannelBuffer>("channelBuffer"),
                         InstanceMethod<&AttachedEngine::SetDoorbell>("setDoorbell"),
                         InstanceMethod<&AttachedEngine::ClearDoorbell>("clearDoorbell"),
                         InstanceMethod<&AttachedEngine::SetCoalesce>("setCoalesce"),
                         InstanceMethod<&AttachedEngine::Inline>("inline"),
                     });
}

AttachedEngine::AttachedEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AttachedEngine>(info) {
  guard(info.Env(), [&] {
    const uint32_t id = info[0].As<Napi::Number>().Uint32Value();
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = g_engines.find(id);
    if (it != g_engines.end()) engine_ = it->second.lock();
    if (!engine_ || engine_->closed()) fail("ENGINE_CLOSED", "engine " + std::to_string(id) + " is closed or does not exist");
  });
}

Napi::Value AttachedEngine::PoolBuffer(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    // One ArrayBuffer per environment and pool: V8 must not see two buffers over the same bytes in one isolate.
    if (pool_buf_.IsEmpty()) {
      Mempool& p = engine_->pool();
      pool_buf_ = Napi::Persistent(external(info.Env(), p.base(), p.region_bytes(), engine_));
    }
    return pool_buf_.Value();
  });
}

Napi::Value AttachedEngine::PoolInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Mempool& p = engine_->pool();
  auto o = Napi::Object::New(env);
  o.Set("mbufs", p.size());
  o.Set("slotSize", p.slot_size());
  o.Set("headroom", p.headroom());
  o.Set("dataRoom", p.data_room());
  o.Set("burst", engine_->options().burst);
  o.Set("tscHz", double(engine_->tsc_hz()));
  return o;
}

Napi::Value AttachedEngine::ChannelBuffer(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    JsChannel* ch = engine_->channel(info[0].As<Napi::Number>().Uint32Value(), uint16_t(info[1].As<Napi::Number>().Uint32Value()));
    return external(info.Env(), ch->memory(), ch->bytes(), engine_);
  });
}

Napi::Value AttachedEngine::SetDoorbell(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    if (engine_->running()) fail("ENGINE_RUNNING", "a consumer attaches before engine.start()");
    JsChannel* ch = engine_->channel(info[0].As<Napi::Number>().Uint32Value(), uint16_t(info[1].As<Napi::Number>().Uint32Value()));
    ch->set_doorbell(std::make_shared<TsfnDoorbell>(info.Env(), info[2].As<Napi::Function>()));
  });
  return info.Env().Undefined();
}

Napi::Value AttachedEngine::ClearDoorbell(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    if (engine_->running()) fail("ENGINE_RUNNING", "stop the engine before detaching a consumer");
    JsChannel* ch = engine_->channel(info[0].As<Napi::Number>().Uint32Value(), uint16_t(info[1].As<Napi::Number>().Uint32Value()));
    ch->clear_doorbell();
  });
  return info.Env().Undefined();
}

// setCoalesce(port, queue, ns): how long matched packets may wait on the lcore
// for a fuller burst before going to JS (pipeline/to_js_batcher.h); 0 = never.
Napi::Value AttachedEngine::SetCoalesce(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    if (engine_->running()) fail("ENGINE_RUNNING", "the coalescing window is set before engine.start()");
    JsChannel* ch = engine_->channel(info[0].As<Napi::Number>().Uint32Value(), uint16_t(info[1].As<Napi::Number>().Uint32Value()));
    const double ns = info[2].As<Napi::Number>().DoubleValue();
    if (!(ns >= 0 && ns <= 1e6)) fail("INVALID_OPTION", "coalescing window must be 0..1000000 ns");
    ch->batcher.configure(engine_->options().burst, uint64_t(ns * double(engine_->tsc_hz()) / 1e9));
  });
  return info.Env().Undefined();
}

Napi::Value AttachedEngine::Inline(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    InlineQueue* q = engine_->inline_queue(info[0].As<Napi::Number>().Uint32Value(), uint16_t(info[1].As<Napi::Number>().Uint32Value()));
    auto* per = info.Env().GetInstanceData<PerEnv>();
    Napi::Object o = per->inline_ctor.New({});
    InlineWrap::Unwrap(o)->init(engine_, q);
    return o;
  });
}

Napi::Function InlineWrap::Define(Napi::Env env) {
  return DefineClass(env, "InlineQueue",
                     {
                         InstanceMethod<&InlineWrap::Rx>("rx"),
                         InstanceMethod<&InlineWrap::Alloc>("alloc"),
                         InstanceMethod<&InlineWrap::Tx>("tx"),
                         InstanceMethod<&InlineWrap::BindRx>("bindRx"),
                         InstanceMethod<&InlineWrap::TxRx>("txRx"),
                     });
}

InlineWrap::InlineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<InlineWrap>(info) {}

// rx(out: Uint32Array, n) -> count. The hot path: no allocation, one call per burst.
Napi::Value InlineWrap::Rx(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto out = info[0].As<Napi::Uint32Array>();
    uint32_t n = std::min<uint32_t>(info[1].As<Napi::Number>().Uint32Value(), uint32_t(out.ElementLength()));
    return Napi::Number::New(info.Env(), q_->rx(out.Data(), n));
  });
}

Napi::Value InlineWrap::Alloc(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto out = info[0].As<Napi::Uint32Array>();
    uint32_t n = std::min<uint32_t>(info[1].As<Napi::Number>().Uint32Value(), uint32_t(out.ElementLength()));
    return Napi::Number::New(info.Env(), q_->alloc(out.Data(), n));
  });
}

Napi::Value InlineWrap::Tx(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] { q_->tx(); });
  return info.Env().Undefined();
}

// bindRx(out: Uint32Array): the array txRx() writes received indices into. Its
// data pointer is taken once (napi_get_typedarray_info is a good part of a
// call's cost) and the array is referenced, so the pointer stays valid.
Napi::Value InlineWrap::BindRx(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
      fail("INVALID_OPTION", "bindRx: the argument must be a Uint32Array");
    auto out = info[0].As<Napi::Uint32Array>();
    rx_out_ = Napi::Persistent(out);
    rx_data_ = out.Data();
    rx_len_ = uint32_t(out.ElementLength());
  });
  return info.Env().Undefined();
}

// txRx(n) -> count: tx() (the verdicts of the burst held), then rx() of up to n
// packets into the bound array. The inline loop's one native call per burst:
// each crossing costs a few hundred cycles, so tx and the next rx share one.
Napi::Value InlineWrap::TxRx(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    q_->tx();
    if (!rx_data_) fail("INVALID_OPTION", "txRx: no rx array; call bindRx(out) first");
    const uint32_t n = std::min<uint32_t>(info[0].As<Napi::Number>().Uint32Value(), rx_len_);
    return Napi::Number::New(info.Env(), q_->rx(rx_data_, n));
  });
}

void init_handler_exports(Napi::Env env, Napi::Object exports) {
  auto* per = new PerEnv();
  per->attached_ctor = Napi::Persistent(AttachedEngine::Define(env));
  per->inline_ctor = Napi::Persistent(InlineWrap::Define(env));
  env.SetInstanceData(per);
  exports.Set("attach", Napi::Function::New<Attach>(env, "attach"));
  exports.Set("pinThread", Napi::Function::New<PinThread>(env, "pinThread"));
}

}  // namespace lr::binding
