// NativeEngine: the JS object around lr::Engine. Methods unpack arguments, call
// the engine, and pack results; validation and policy live in src/ and native/pipeline.
#pragma once
#include <napi.h>

#include <memory>

#include "pipeline/engine.h"

namespace lr::binding {

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit EngineWrap(const Napi::CallbackInfo& info);
  ~EngineWrap() override;

 private:
  Engine& engine();
  Napi::Value AddPort(const Napi::CallbackInfo& info);
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Echo(const Napi::CallbackInfo& info);
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value SourcesDone(const Napi::CallbackInfo& info);
  Napi::Value SetPortOptions(const Napi::CallbackInfo& info);

  Napi::Value Id(const Napi::CallbackInfo& info);
  Napi::Value Handle(const Napi::CallbackInfo& info);
  Napi::Value ExceptionPath(const Napi::CallbackInfo& info);
  Napi::Value Send(const Napi::CallbackInfo& info);
  // The host layer (binding/host_wrap.cc).
  Napi::Value Host(const Napi::CallbackInfo& info);
  Napi::Value HostUdp(const Napi::CallbackInfo& info);
  Napi::Value HostUdpAlias(const Napi::CallbackInfo& info);
  Napi::Value HostStats(const Napi::CallbackInfo& info);
  Napi::Value HostNeighbors(const Napi::CallbackInfo& info);
  Napi::Value HostSend(const Napi::CallbackInfo& info);
  // Packet capture (binding/capture_wrap.cc).
  Napi::Value CaptureStart(const Napi::CallbackInfo& info);
  Napi::Value CaptureStop(const Napi::CallbackInfo& info);
  Napi::Value CaptureDrain(const Napi::CallbackInfo& info);
  Napi::Value CaptureStats(const Napi::CallbackInfo& info);

  std::shared_ptr<Engine> engine_;
  uint32_t id_ = 0;
};

}  // namespace lr::binding
