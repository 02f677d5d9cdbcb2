// Module entry. Node-API modules are context-aware: each environment (the main
// thread, every worker_thread) gets its own instance of these exports.
#include <napi.h>

#include "binding/capture_wrap.h"
#include "binding/engine_wrap.h"
#include "binding/handler_wrap.h"
#include "binding/loop_pump.h"
#include "binding/ring_wrap.h"
#include "core/lcore.h"
#include "core/memory.h"
#include "core/mbuf.h"
#include "core/ring.h"
#include "drivers/driver.h"

namespace {

Napi::Value HostInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  auto cpus = Napi::Array::New(env);
  for (int c : lr::allowed_cpus()) cpus.Set(cpus.Length(), c);
  o.Set("allowedCpus", cpus);
  o.Set("hugepages2M", double(lr::free_hugepages(size_t(2) << 20)));
  o.Set("hugepages1G", double(lr::free_hugepages(size_t(1) << 30)));
  o.Set("hugetlbfs2M", lr::hugetlbfs_mount(size_t(2) << 20));
  auto drivers = Napi::Array::New(env);
  for (auto& d : lr::driver_names()) drivers.Set(drivers.Length(), d);
  o.Set("drivers", drivers);
  o.Set("mbufLayoutVersion", lr::kMbufLayoutVersion);
  o.Set("ringFormatVersion", lr::kRingVersion);
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeEngine", lr::binding::EngineWrap::Define(env));
  exports.Set("hostInfo", Napi::Function::New<HostInfo>(env, "hostInfo"));
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  lr::binding::init_handler_exports(env, exports);
  lr::binding::init_pump_exports(env, exports);
  lr::binding::init_capture_exports(env, exports);
  exports.Set("ringCreate", Napi::Function::New<lr::binding::RingCreate>(env, "ringCreate"));
  exports.Set("ringEnqueue", Napi::Function::New<lr::binding::RingEnqueue>(env, "ringEnqueue"));
  exports.Set("ringDequeue", Napi::Function::New<lr::binding::RingDequeue>(env, "ringDequeue"));
  exports.Set("ringCount", Napi::Function::New<lr::binding::RingCount>(env, "ringCount"));
  return exports;
}

}  // namespace

NODE_API_MODULE(linerate, Init)
