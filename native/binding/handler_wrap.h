// JS access to an engine from any thread (main or worker_threads): the pool's
// memory, the handler channels, doorbells, and inline queues. Each environment
// attaches by engine id; the attachment keeps the engine's memory alive until
// the environment lets go of it, so a worker that outlives close() cannot touch
// freed memory.
#pragma once
#include <napi.h>

#include <memory>

#include "pipeline/engine.h"

namespace lr::binding {

// Registry of live engines: id -> engine (weak). Glue for attach().
uint32_t register_engine(const std::shared_ptr<Engine>& e);
void unregister_engine(uint32_t id);

class AttachedEngine : public Napi::ObjectWrap<AttachedEngine> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit AttachedEngine(const Napi::CallbackInfo& info);

 private:
  Napi::Value PoolBuffer(const Napi::CallbackInfo& info);
  Napi::Value PoolInfo(const Napi::CallbackInfo& info);
  Napi::Value ChannelBuffer(const Napi::CallbackInfo& info);
  Napi::Value SetDoorbell(const Napi::CallbackInfo& info);
  Napi::Value ClearDoorbell(const Napi::CallbackInfo& info);
  Napi::Value SetCoalesce(const Napi::CallbackInfo& info);
  Napi::Value Inline(const Napi::CallbackInfo& info);

  std::shared_ptr<Engine> engine_;
  Napi::Reference<Napi::ArrayBuffer> pool_buf_;
};

class InlineWrap : public Napi::ObjectWrap<InlineWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit InlineWrap(const Napi::CallbackInfo& info);
  void init(std::shared_ptr<Engine> e, InlineQueue* q) {
    engine_ = std::move(e);
    q_ = q;
  }

 private:
  Napi::Value Rx(const Napi::CallbackInfo& info);
  Napi::Value Alloc(const Napi::CallbackInfo& info);
  Napi::Value Tx(const Napi::CallbackInfo& info);
  Napi::Value BindRx(const Napi::CallbackInfo& info);
  Napi::Value TxRx(const Napi::CallbackInfo& info);

  std::shared_ptr<Engine> engine_;
  InlineQueue* q_ = nullptr;
  // bindRx(): the array txRx() receives into, referenced so its memory stays put.
  Napi::Reference<Napi::Uint32Array> rx_out_;
  uint32_t* rx_data_ = nullptr;
  uint32_t rx_len_ = 0;
};

void init_handler_exports(Napi::Env env, Napi::Object exports);

}  // namespace lr::binding
