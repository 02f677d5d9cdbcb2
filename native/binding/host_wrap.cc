// NativeEngine's host-layer methods: shapes only (validation is in src/host/).
#include <cstdio>
#include <cstring>

#include "binding/convert.h"
#include "binding/engine_wrap.h"
#include "pipeline/handler.h"
#include "pipeline/host/host.h"
#include "pipeline/host/host_clock.h"

namespace lr::binding {

namespace {

void copy_bytes(const Napi::Value& v, uint8_t* out, size_t n, const char* what) {
  auto b = to_bytes(v, what);
  if (b.size() != n) fail("INVALID_OPTION", std::string(what) + " must be " + std::to_string(n) + " bytes");
  std::memcpy(out, b.data(), n);
}

host::IpAddr to_ip(const Napi::Value& v, const char* what) {
  auto b = to_bytes(v, what);
  host::IpAddr a{};
  if (b.size() == 4) a.family = 4;
  else if (b.size() == 16) a.family = 6;
  else fail("INVALID_OPTION", std::string(what) + " must be 4 or 16 bytes");
  std::memcpy(a.b, b.data(), b.size());
  return a;
}

// snake_case counter names as the JS API spells them (camelCase).
std::string camel(const char* s) {
  std::string out;
  bool up = false;
  for (; *s; s++) {
    if (*s == '_') {
      up = true;
      continue;
    }
    out += up ? char(*s - 'a' + 'A') : *s;
    up = false;
  }
  return out;
}

const char* state_name(host::NeighState s) {
  switch (s) {
    case host::NeighState::Incomplete: return "incomplete";
    case host::NeighState::Reachable: return "reachable";
    case host::NeighState::Stale: return "stale";
    case host::NeighState::Failed: return "failed";
    case host::NeighState::Static: return "static";
  }
  return "unknown";
}

std::string mac_str(const uint8_t* m) {
  char b[18];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
  return b;
}

}  // namespace

// host(port, { ipv4?, prefix4, gateway4?, ipv6?, prefix6, gateway6?, owner, vlan, ttl,
//              neighbors: [{ ip, mac }], neighborCapacity, holdPackets }) with addresses as byte arrays
Napi::Value EngineWrap::Host(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    auto o = info[1].As<Napi::Object>();
    host::HostConfig cfg;
    if (o.Has("ipv4") && !o.Get("ipv4").IsUndefined()) {
      cfg.has4 = true;
      copy_bytes(o.Get("ipv4"), cfg.ip4, 4, "ipv4");
      cfg.prefix4 = uint8_t(o.Get("prefix4").As<Napi::Number>().Uint32Value());
    }
    if (o.Has("gateway4") && !o.Get("gateway4").IsUndefined()) {
      cfg.has_gw4 = true;
      copy_bytes(o.Get("gateway4"), cfg.gw4, 4, "gateway4");
    }
    if (o.Has("ipv6") && !o.Get("ipv6").IsUndefined()) {
      cfg.has6 = true;
      copy_bytes(o.Get("ipv6"), cfg.ip6, 16, "ipv6");
      cfg.prefix6 = uint8_t(o.Get("prefix6").As<Napi::Number>().Uint32Value());
    }
    if (o.Has("gateway6") && !o.Get("gateway6").IsUndefined()) {
      cfg.has_gw6 = true;
      copy_bytes(o.Get("gateway6"), cfg.gw6, 16, "gateway6");
    }
    cfg.owner = o.Get("owner").ToString().Utf8Value() == "kernel" ? host::Owner::Kernel : host::Owner::Linerate;
    cfg.vlan = uint16_t(o.Get("vlan").As<Napi::Number>().Uint32Value());
    cfg.ttl = uint8_t(o.Get("ttl").As<Napi::Number>().Uint32Value());
    cfg.icmp_unreachable = o.Get("icmpUnreachable").ToBoolean().Value();
    cfg.neigh.capacity = o.Get("neighborCapacity").As<Napi::Number>().Uint32Value();
    cfg.neigh.hold = o.Get("holdPackets").As<Napi::Number>().Uint32Value();
    auto list = o.Get("neighbors").As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) {
      auto n = list.Get(i).As<Napi::Object>();
      MacAddr mac;
      copy_bytes(n.Get("mac"), mac.data(), 6, "neighbors[].mac");
      cfg.statics.push_back({to_ip(n.Get("ip"), "neighbors[].ip"), mac});
    }
    engine().host(uint16_t(info[0].As<Napi::Number>().Uint32Value()), cfg);
  });
  return info.Env().Undefined();
}

// hostUdp(port, udpPort, inline, ringSize) -> socket index
Napi::Value EngineWrap::HostUdp(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), engine().host_udp(uint16_t(info[0].As<Napi::Number>().Uint32Value()),
                                                           uint16_t(info[1].As<Napi::Number>().Uint32Value()),
                                                           info[2].ToBoolean().Value(), info[3].As<Napi::Number>().Uint32Value()));
  });
}

// hostUdpAlias(port, socket, udpPort): the socket also serves udpPort (before start).
Napi::Value EngineWrap::HostUdpAlias(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    if (engine().running()) fail("ENGINE_RUNNING", "add a UDP port before engine.start()");
    engine().host_of(uint16_t(info[0].As<Napi::Number>().Uint32Value()))
        ->alias_socket(uint16_t(info[1].As<Napi::Number>().Uint32Value()), uint16_t(info[2].As<Napi::Number>().Uint32Value()));
  });
  return info.Env().Undefined();
}

// hostStats(port) -> { counters: {...}, sockets: [...], neighbors: {...} }
Napi::Value EngineWrap::HostStats(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    host::Host* h = engine().host_of(uint16_t(info[0].As<Napi::Number>().Uint32Value()));
    auto counters = Napi::Object::New(env);
#define LR_X(name)                                                  \
  {                                                                 \
    uint64_t t = 0;                                                 \
    for (auto& c : h->all_counters()) t += c.name.get();            \
    counters.Set(camel(#name), double(t));                          \
  }
    LR_HOST_COUNTERS(LR_X)
#undef LR_X
    auto sockets = Napi::Array::New(env);
    uint32_t i = 0;
    for (auto& s : h->sockets()) {
      auto o = Napi::Object::New(env);
      uint64_t rx = 0, replies = 0, sends = 0, full = 0, dropped = 0, bad = 0;
      for (auto& c : s.slots) {
        rx += c.rx.get();
        replies += c.replies.get();
        sends += c.sends.get();
      }
      for (auto& ch : s.handler->channels) {
        full += ch->full.get();
        dropped += ch->verdicts.dropped.get();
        bad += ch->verdicts.bad.get();
      }
      for (auto& q : s.handler->inline_queues) {
        dropped += q->verdicts.dropped.get();
        bad += q->verdicts.bad.get();
      }
      o.Set("port", s.port);
      o.Set("mode", s.inline_mode ? "inline" : "pipeline");
      o.Set("rx", double(rx));
      o.Set("replies", double(replies));
      o.Set("sends", double(sends));
      o.Set("dropped", double(dropped));
      o.Set("ringFull", double(full));
      o.Set("badVerdicts", double(bad));
      sockets.Set(i++, o);
    }
    const auto& nc = h->neighbours().counters();
    auto n = Napi::Object::New(env);
    n.Set("entries", h->neighbours().size());
    n.Set("held", h->neighbours().held());
    n.Set("resolved", double(nc.resolved.get()));
    n.Set("holdDrops", double(nc.hold_drops.get()));
    n.Set("expired", double(nc.expired.get()));
    n.Set("unreachable", double(nc.unreachable.get()));
    n.Set("tableFull", double(nc.table_full.get()));
    n.Set("evicted", double(nc.evicted.get()));
    n.Set("probes", double(nc.probes.get()));
    n.Set("refreshProbes", double(nc.refresh_probes.get()));
    auto out = Napi::Object::New(env);
    out.Set("counters", counters);
    out.Set("sockets", sockets);
    out.Set("neighbors", n);
    return out;
  });
}

// hostNeighbors(port) -> [{ ip, mac, state, ageMs, held, probes }]
Napi::Value EngineWrap::HostNeighbors(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    host::Host* h = engine().host_of(uint16_t(info[0].As<Napi::Number>().Uint32Value()));
    auto list = h->neighbours().snapshot(host::host_now_ns());
    auto arr = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) {
      auto o = Napi::Object::New(env);
      o.Set("ip", list[i].ip.str());
      o.Set("family", list[i].ip.family);
      o.Set("mac", mac_str(list[i].mac));
      o.Set("state", state_name(list[i].state));
      o.Set("ageMs", double(list[i].age_ns) / 1e6);
      o.Set("held", list[i].held);
      o.Set("probes", list[i].probes);
      arr.Set(uint32_t(i), o);
    }
    return arr;
  });
}

// hostSend(port, socket, payload, dstIp (4 or 16 bytes), dstPort) -> bool
Napi::Value EngineWrap::HostSend(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto payload = info[2].As<Napi::Uint8Array>();
    const host::IpAddr dst = to_ip(info[3], "address");
    return Napi::Boolean::New(info.Env(), engine().host_send(uint16_t(info[0].As<Napi::Number>().Uint32Value()),
                                                             uint16_t(info[1].As<Napi::Number>().Uint32Value()), payload.Data(),
                                                             payload.ByteLength(), dst, uint16_t(info[4].As<Napi::Number>().Uint32Value())));
  });
}

}  // namespace lr::binding
