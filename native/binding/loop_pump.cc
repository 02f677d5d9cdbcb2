#include "binding/loop_pump.h"

#include <node_api.h>

#include <cstdlib>

#include "binding/convert.h"
#include "binding/uv_min.h"

namespace lr::binding {

namespace {

struct Box;

// Lives until libuv has closed the handle (uv_close's callback), which may be
// after the JS object is gone, or, at environment teardown, before it.
struct Pump {
  uv_idle_t* idle = nullptr;  // opaque, uv_handle_size(UV_IDLE) bytes (uv_min.h)
  napi_env env = nullptr;
  napi_ref fn = nullptr;
  napi_async_context ctx = nullptr;
  napi_async_cleanup_hook_handle hook = nullptr;
  Box* box = nullptr;  // the JS side's handle on us; nulled by whichever goes first
  bool armed = false;
  bool closing = false;
};

// What the JS methods hold. Freed when all three functions are collected (a
// caller may keep `arm` without the object), which also closes an unclosed pump.
struct Box {
  Pump* pump = nullptr;
  int refs = 0;
};

uv_handle_t* as_handle(uv_idle_t* h) { return reinterpret_cast<uv_handle_t*>(h); }

void OnIdle(uv_idle_t* h) {
  auto* p = static_cast<Pump*>(uv_handle_get_data(as_handle(h)));
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, p->fn, &fn) == napi_ok && fn && napi_get_global(env, &recv) == napi_ok) {
    // napi_make_callback converts its receiver to an object: undefined throws.
    const napi_status st = napi_make_callback(env, p->ctx, recv, fn, 0, nullptr, &result);
    if (st == napi_pending_exception) {
      napi_value err;
      // Same as an exception thrown by any callback from the loop.
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    }
    // Other failures (the environment is terminating) leave nothing to undo.
  }
  napi_close_handle_scope(env, scope);
}

void OnClosed(uv_handle_t* h) {
  auto* p = static_cast<Pump*>(uv_handle_get_data(h));
  if (p->box) p->box->pump = nullptr;
  // Tells a tearing-down environment that our handle is gone.
  if (p->hook) napi_remove_async_cleanup_hook(p->hook);
  std::free(p->idle);
  delete p;
}

void Close(Pump* p) {
  if (p->closing) return;
  p->closing = true;
  p->armed = false;
  uv_idle_stop(p->idle);
  if (p->fn) napi_delete_reference(p->env, p->fn);
  p->fn = nullptr;
  if (p->ctx) napi_async_destroy(p->env, p->ctx);
  p->ctx = nullptr;
  uv_close(as_handle(p->idle), OnClosed);
}

// Environment teardown (process exit, worker exit): close the handle before
// the loop is closed; OnClosed removes the hook, which lets teardown go on.
void OnTeardown(napi_async_cleanup_hook_handle, void* arg) { Close(static_cast<Pump*>(arg)); }

Pump* pump_of(const Napi::CallbackInfo& info) {
  auto* box = static_cast<Box*>(info.Data());
  return box ? box->pump : nullptr;
}

Napi::Value Arm(const Napi::CallbackInfo& info) {
  Pump* p = pump_of(info);
  if (p && !p->closing && !p->armed) {
    p->armed = true;
    uv_idle_start(p->idle, OnIdle);
  }
  return info.Env().Undefined();
}

Napi::Value Disarm(const Napi::CallbackInfo& info) {
  Pump* p = pump_of(info);
  if (p && p->armed) {
    p->armed = false;
    uv_idle_stop(p->idle);
  }
  return info.Env().Undefined();
}

Napi::Value ClosePump(const Napi::CallbackInfo& info) {
  if (Pump* p = pump_of(info)) Close(p);
  return info.Env().Undefined();
}

Napi::Value CreatePump(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsFunction()) fail("INVALID_OPTION", "createPump(fn): fn must be a function");
    struct uv_loop_s* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || !loop) fail("NATIVE_ERROR", "createPump: no event loop in this environment");

    // 16-byte aligned like any malloc; libuv's handles need pointer alignment.
    void* mem = std::calloc(1, uv_handle_size(uv::kIdle));
    if (!mem) fail("NATIVE_ERROR", "createPump: cannot allocate the idle handle");
    auto* p = new Pump();
    p->env = env;
    p->idle = static_cast<uv_idle_t*>(mem);
    uv_idle_init(loop, p->idle);
    uv_handle_set_data(as_handle(p->idle), p);
    napi_create_reference(env, info[0], 1, &p->fn);
    napi_async_init(env, nullptr, Napi::String::New(env, "linerate-pump"), &p->ctx);
    if (napi_add_async_cleanup_hook(env, OnTeardown, p, &p->hook) != napi_ok) {
      p->hook = nullptr;
      Close(p);
      fail("NATIVE_ERROR", "createPump: cannot register the environment cleanup hook");
    }

    auto* box = new Box{p, 0};
    p->box = box;
    Napi::Object o = Napi::Object::New(env);
    const auto method = [&](const char* name, Napi::Value (*cb)(const Napi::CallbackInfo&)) {
      Napi::Function f = Napi::Function::New(env, cb, name, box);
      box->refs++;
      f.AddFinalizer(
          [](Napi::Env, Box* b) {
            if (--b->refs) return;
            if (b->pump) {
              b->pump->box = nullptr;
              Close(b->pump);
            }
            delete b;
          },
          box);
      o.Set(name, f);
    };
    method("arm", Arm);
    method("disarm", Disarm);
    method("close", ClosePump);
    return o;
  });
}

}  // namespace

void init_pump_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("createPump", Napi::Function::New<CreatePump>(env, "createPump"));
}

}  // namespace lr::binding
