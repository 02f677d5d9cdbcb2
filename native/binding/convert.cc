#include "binding/convert.h"

namespace lr::binding {

void rethrow(Napi::Env env, const std::exception& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  const auto* le = dynamic_cast<const lr::Error*>(&e);
  err.Set("code", Napi::String::New(env, le ? le->code() : std::string("NATIVE_ERROR")));
  throw err;
}

std::vector<uint8_t> to_bytes(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    fail("INVALID_OPTION", std::string(what) + " must be a Uint8Array");
  auto a = v.As<Napi::Uint8Array>();
  return std::vector<uint8_t>(a.Data(), a.Data() + a.ByteLength());
}

Config to_config(const Napi::Object& o) {
  Config c;
  auto keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); i++) {
    std::string k = keys.Get(i).As<Napi::String>().Utf8Value();
    Napi::Value v = o.Get(k);
    if (v.IsUndefined()) continue;
    if (v.IsBoolean()) c.set(k, v.As<Napi::Boolean>().Value());
    else if (v.IsNumber()) c.set(k, v.As<Napi::Number>().DoubleValue());
    else if (v.IsString()) c.set(k, v.As<Napi::String>().Utf8Value());
    else if (v.IsTypedArray()) c.set(k, to_bytes(v, k.c_str()));
    else fail("INVALID_OPTION", "option '" + k + "' has a type that is not supported (boolean, number, string, Uint8Array)");
  }
  return c;
}

namespace {
Napi::Object queue_js(Napi::Env env, const QueueSnapshot& q, bool rx) {
  auto o = Napi::Object::New(env);
  o.Set("packets", double(q.packets));
  o.Set("bytes", double(q.bytes));
  if (rx) {
    o.Set("nombuf", double(q.nombuf));
    o.Set("ringFull", double(q.ring_full));
  } else {
    o.Set("full", double(q.full));
    o.Set("malformed", double(q.malformed));
    o.Set("groupDst", double(q.group_dst));
  }
  return o;
}
}  // namespace

// Counters cross as doubles: exact up to 2^53 (9e15 packets, 285 years at 1 Mpps),
// and no BigInt on the stats path.
Napi::Object to_js(Napi::Env env, const PortSnapshot& s) {
  auto o = Napi::Object::New(env);
  o.Set("id", s.id);
  o.Set("name", s.name);
  o.Set("driver", s.driver);
  o.Set("linkUp", s.link_up);
  o.Set("heldMbufs", s.held_mbufs);
  auto rx = Napi::Array::New(env, s.rx.size());
  for (size_t i = 0; i < s.rx.size(); i++) rx.Set(uint32_t(i), queue_js(env, s.rx[i], true));
  auto tx = Napi::Array::New(env, s.tx.size());
  for (size_t i = 0; i < s.tx.size(); i++) tx.Set(uint32_t(i), queue_js(env, s.tx[i], false));
  o.Set("rx", rx);
  o.Set("tx", tx);
  auto x = Napi::Object::New(env);
  for (auto& [k, v] : s.xstats) x.Set(k, double(v));
  o.Set("xstats", x);
  const HandlerSnapshot& h = s.handler;
  auto ho = Napi::Object::New(env);
  ho.Set("present", h.present);
  ho.Set("inline", h.inline_mode);
  ho.Set("toJsFull", double(h.to_js_full));
  ho.Set("doorbells", double(h.doorbells));
  ho.Set("replied", double(h.replied));
  ho.Set("forwarded", double(h.forwarded));
  ho.Set("dropped", double(h.dropped));
  ho.Set("badVerdict", double(h.bad));
  ho.Set("unreturned", double(h.unreturned));
  ho.Set("unmatched", double(h.unmatched));
  ho.Set("batches", h.js_batches);
  ho.Set("packets", h.js_packets);
  ho.Set("errors", h.js_errors);
  ho.Set("errorDrops", h.js_error_drops);
  o.Set("handler", ho);
  return o;
}

Napi::Object to_js(Napi::Env env, const LcoreSnapshot& s) {
  auto o = Napi::Object::New(env);
  o.Set("index", s.index);
  o.Set("cpu", s.cpu);
  o.Set("loops", double(s.loops));
  o.Set("busyLoops", double(s.busy_loops));
  o.Set("packets", double(s.packets));
  o.Set("cycles", double(s.cycles));
  o.Set("busyCycles", double(s.busy_cycles));
  o.Set("sleeps", double(s.sleeps));
  o.Set("waits", double(s.waits));
  o.Set("wakeups", double(s.wakeups));
  o.Set("waitTimeouts", double(s.wait_timeouts));
  o.Set("waitsOnFds", s.waits_on_fds);
  o.Set("tasks", s.tasks);
  o.Set("tid", s.tid);
  return o;
}

Napi::Object to_js(Napi::Env env, const PoolSnapshot& s) {
  auto o = Napi::Object::New(env);
  o.Set("size", s.size);
  o.Set("freeRing", s.free_ring);
  o.Set("freeCaches", s.free_caches);
  o.Set("driver", s.driver);
  o.Set("rings", s.rings);
  o.Set("js", s.js);
  o.Set("host", s.host);
  o.Set("inFlight", double(s.in_flight()));
  o.Set("allocFailures", double(s.alloc_failures));
  o.Set("freeOverflows", double(s.free_overflows));
  return o;
}

}  // namespace lr::binding
