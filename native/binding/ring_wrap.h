// Ring glue: native-allocated ring memory as an ArrayBuffer, and the lr::Ring
// operations on memory JavaScript hands in. The format is native/core/ring.h
// (docs/memory-format.md); src/ring.ts reads and writes the same bytes. These
// calls exist so tests can prove both sides agree, and so the JS hand-off can
// get ring memory that native code may also use. No logic: shapes only.
#pragma once
#include <napi.h>

namespace lr::binding {

// ringCreate(size, flags) -> ArrayBuffer over 64-byte aligned native memory
// holding an lr::Ring::init'ed ring; freed when the ArrayBuffer is collected.
Napi::Value RingCreate(const Napi::CallbackInfo& info);
// ringEnqueue(buf, offset, objs: Uint32Array, n, bulk) -> number moved
Napi::Value RingEnqueue(const Napi::CallbackInfo& info);
// ringDequeue(buf, offset, objs: Uint32Array, n, bulk) -> number moved
Napi::Value RingDequeue(const Napi::CallbackInfo& info);
// ringCount(buf, offset) -> entries in the ring
Napi::Value RingCount(const Napi::CallbackInfo& info);

}  // namespace lr::binding
