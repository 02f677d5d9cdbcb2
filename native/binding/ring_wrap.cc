#include "binding/ring_wrap.h"

#include <cmath>
#include <cstdlib>
#include <new>
#include <string>

#include "binding/convert.h"
#include "core/ring.h"

namespace lr::binding {

namespace {

// The ring at buf + offset, after lr::Ring::attach has checked its header. The
// bounds checks keep a bad argument from reading or writing outside the buffer.
Ring ring_at(const Napi::Value& buf, const Napi::Value& offset) {
  if (!buf.IsArrayBuffer()) fail("INVALID_OPTION", "ring buffer must be an ArrayBuffer");
  auto ab = buf.As<Napi::ArrayBuffer>();
  const double off = offset.IsNumber() ? offset.As<Napi::Number>().DoubleValue() : -1;
  const size_t len = ab.ByteLength();
  if (!(off >= 0 && off <= double(len)) || off != std::floor(off) || size_t(off) % 4 != 0 ||
      len - size_t(off) < sizeof(RingHeader))
    fail("INVALID_OPTION", "ring offset must be a multiple of 4 with the " + std::to_string(sizeof(RingHeader)) +
                               "-byte ring header inside the " + std::to_string(len) + "-byte buffer");
  void* mem = static_cast<uint8_t*>(ab.Data()) + size_t(off);
  Ring r = Ring::attach(mem);
  if (len - size_t(off) < Ring::bytes_for(r.header()->size))
    fail("RING_FORMAT", "ring of " + std::to_string(r.header()->size) + " slots does not fit in the buffer");
  return r;
}

Napi::Uint32Array u32_array(const Napi::Value& v, const Napi::Value& n) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    fail("INVALID_OPTION", "ring objects must be a Uint32Array");
  auto a = v.As<Napi::Uint32Array>();
  if (!n.IsNumber() || n.As<Napi::Number>().DoubleValue() < 0 || n.As<Napi::Number>().DoubleValue() > double(a.ElementLength()))
    fail("INVALID_OPTION", "ring count n must be in [0, " + std::to_string(a.ElementLength()) + "]");
  return a;
}

}  // namespace

Napi::Value RingCreate(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const uint32_t size = info[0].As<Napi::Number>().Uint32Value();
    const uint16_t flags = uint16_t(info[1].As<Napi::Number>().Uint32Value());
    // Same check as OwnedRing: refuse a bad size before allocating for it.
    if (!Ring::valid_size(size))
      fail("INVALID_OPTION", "ring size " + std::to_string(size) + " is not a power of two in [2, 2^30]");
    const size_t bytes = Ring::bytes_for(size);
    void* mem = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!mem) throw std::bad_alloc();
    try {
      Ring::init(mem, size, flags);
      return Napi::ArrayBuffer::New(info.Env(), mem, bytes, [](Napi::Env, void* p) { std::free(p); });
    } catch (...) {
      std::free(mem);
      throw;
    }
  });
}

Napi::Value RingEnqueue(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Ring r = ring_at(info[0], info[1]);
    auto objs = u32_array(info[2], info[3]);
    const uint32_t n = info[3].As<Napi::Number>().Uint32Value();
    const uint32_t moved = info[4].ToBoolean().Value() ? r.enqueue_bulk(objs.Data(), n) : r.enqueue_burst(objs.Data(), n);
    return Napi::Number::New(info.Env(), moved);
  });
}

Napi::Value RingDequeue(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Ring r = ring_at(info[0], info[1]);
    auto objs = u32_array(info[2], info[3]);
    const uint32_t n = info[3].As<Napi::Number>().Uint32Value();
    const uint32_t moved = info[4].ToBoolean().Value() ? r.dequeue_bulk(objs.Data(), n) : r.dequeue_burst(objs.Data(), n);
    return Napi::Number::New(info.Env(), moved);
  });
}

Napi::Value RingCount(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), ring_at(info[0], info[1]).count()); });
}

}  // namespace lr::binding
