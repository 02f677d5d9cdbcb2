#include "binding/engine_wrap.h"

#include "binding/convert.h"
#include "binding/handler_wrap.h"
#include "pipeline/match.h"
#include "core/cycles.h"

namespace lr::binding {

Napi::Function EngineWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeEngine",
                     {
                         InstanceMethod<&EngineWrap::AddPort>("addPort"),
                         InstanceMethod<&EngineWrap::Forward>("forward"),
                         InstanceMethod<&EngineWrap::Echo>("echo"),
                         InstanceMethod<&EngineWrap::Start>("start"),
                         InstanceMethod<&EngineWrap::Stop>("stop"),
                         InstanceMethod<&EngineWrap::Close>("close"),
                         InstanceMethod<&EngineWrap::Stats>("stats"),
                         InstanceMethod<&EngineWrap::Info>("info"),
                         InstanceMethod<&EngineWrap::SourcesDone>("sourcesDone"),
                         InstanceMethod<&EngineWrap::SetPortOptions>("setPortOptions"),
                         InstanceMethod<&EngineWrap::Id>("id"),
                         InstanceMethod<&EngineWrap::Handle>("handle"),
                         InstanceMethod<&EngineWrap::Send>("send"),
                         InstanceMethod<&EngineWrap::ExceptionPath>("exceptionPath"),
                         InstanceMethod<&EngineWrap::Host>("host"),
                         InstanceMethod<&EngineWrap::HostUdp>("hostUdp"),
                         InstanceMethod<&EngineWrap::HostUdpAlias>("hostUdpAlias"),
                         InstanceMethod<&EngineWrap::HostStats>("hostStats"),
                         InstanceMethod<&EngineWrap::HostNeighbors>("hostNeighbors"),
                         InstanceMethod<&EngineWrap::HostSend>("hostSend"),
                         InstanceMethod<&EngineWrap::CaptureStart>("captureStart"),
                         InstanceMethod<&EngineWrap::CaptureStop>("captureStop"),
                         InstanceMethod<&EngineWrap::CaptureDrain>("captureDrain"),
                         InstanceMethod<&EngineWrap::CaptureStats>("captureStats"),
                     });
}

namespace {
HugepagePolicy policy(const std::string& s) {
  if (s == "require") return HugepagePolicy::Require;
  if (s == "off") return HugepagePolicy::Off;
  return HugepagePolicy::Auto;
}
}  // namespace

// new NativeEngine(cpus, { mbufs, headroom, dataRoom, cacheSize, hugepages, hugepageSize,
//                    idle, burst, drainUs, maxSleepUs, maxWaitUs, rssRingSize })
EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  guard(info.Env(), [&] {
    Config c = to_config(info[1].As<Napi::Object>());
    EngineOptions e;
    auto cpus = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < cpus.Length(); i++) e.cpus.push_back(cpus.Get(i).As<Napi::Number>().Int32Value());
    e.pool.mbufs = uint32_t(c.get_uint("mbufs", 8192, 1, 1u << 28));
    e.pool.headroom = uint32_t(c.get_uint("headroom", 128, 0, 65535));
    e.pool.data_room = uint32_t(c.get_uint("dataRoom", 2048, 64, 65535));
    e.pool.cache_size = uint32_t(c.get_uint("cacheSize", 256, 0, Mempool::kMaxCache));
    e.pool.region.hugepages = policy(c.get_string("hugepages", "auto"));
    e.pool.region.hugepage_size = size_t(c.get_uint("hugepageSize", 2u << 20, 2u << 20, 1u << 30));
    e.lcore.idle = c.get_string("idle", "busy") == "adaptive" ? IdleMode::Adaptive : IdleMode::Busy;
    e.lcore.drain_us = uint32_t(c.get_uint("drainUs", 100, 1, 1000000));
    e.lcore.max_sleep_us = uint32_t(c.get_uint("maxSleepUs", 50, 1, 1000000));
    e.lcore.max_wait_us = uint32_t(c.get_uint("maxWaitUs", 10000, 1, 10000000));
    e.burst = uint16_t(c.get_uint("burst", 32, 1, 64));
    e.rss_ring_size = uint32_t(c.get_uint("rssRingSize", 1024, 2, 1u << 20));
    engine_ = std::make_shared<Engine>(e);
    id_ = register_engine(engine_);
  });
}

EngineWrap::~EngineWrap() {
  if (id_) unregister_engine(id_);
}

Napi::Value EngineWrap::Id(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), id_); }

namespace {

// { ethertype?, ipProto?, udpDstPort?, tcpDstPort?, dstPort? } -> Match (-1: any); `scope` names it in errors.
Match to_match(const Napi::Object& o, const char* scope) {
  Config c = to_config(o);
  c.scope = scope;
  c.allow_only({"ethertype", "ipProto", "udpDstPort", "tcpDstPort", "dstPort"});
  const auto field = [&](const char* key, uint32_t max) { return c.has(key) ? int32_t(c.get_uint(key, 0, 0, max)) : -1; };
  Match m;
  m.ethertype = field("ethertype", 0xffff);
  m.ip_proto = field("ipProto", 255);
  m.udp_dst_port = field("udpDstPort", 0xffff);
  m.tcp_dst_port = field("tcpDstPort", 0xffff);
  m.dst_port = field("dstPort", 0xffff);
  return m;
}

}  // namespace

// handle(port, { ethertype?, ipProto?, udpDstPort?, tcpDstPort?, dstPort? }, inline, ringSize)
Napi::Value EngineWrap::Handle(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    const Match m = to_match(info[1].As<Napi::Object>(), "handler match");
    engine().handle(uint16_t(info[0].As<Napi::Number>().Uint32Value()), m, info[2].ToBoolean().Value(),
                    info[3].As<Napi::Number>().Uint32Value());
  });
  return info.Env().Undefined();
}

// exceptionPath(port, tap, { ethertype?, ipProto?, udpDstPort?, tcpDstPort?, dstPort? }: what the data path keeps)
Napi::Value EngineWrap::ExceptionPath(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    const Match m = to_match(info[2].As<Napi::Object>(), "exception path match");
    engine().exception_path(uint16_t(info[0].As<Napi::Number>().Uint32Value()), uint16_t(info[1].As<Napi::Number>().Uint32Value()), m);
  });
  return info.Env().Undefined();
}

// send(port, frames: Uint8Array[]) -> number sent
Napi::Value EngineWrap::Send(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto arr = info[1].As<Napi::Array>();
    std::vector<std::pair<const uint8_t*, size_t>> frames;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      if (!v.IsTypedArray()) fail("INVALID_OPTION", "send: every frame must be a Uint8Array");
      auto a = v.As<Napi::Uint8Array>();
      frames.push_back({a.Data(), a.ByteLength()});
    }
    return Napi::Number::New(info.Env(), engine().send(uint16_t(info[0].As<Napi::Number>().Uint32Value()), frames));
  });
}

Engine& EngineWrap::engine() {
  if (!engine_) fail("ENGINE_CLOSED", "the engine was not created");
  return *engine_;
}

// addPort(name, driver, options, rxQueues, rssKey?, symmetric) -> id
Napi::Value EngineWrap::AddPort(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    RssOptions rss;
    if (info[4].IsTypedArray()) rss.key = to_bytes(info[4], "rss.key");
    rss.symmetric = info[5].ToBoolean().Value();
    uint16_t id = engine().add_port(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(),
                                    to_config(info[2].As<Napi::Object>()), uint16_t(info[3].As<Napi::Number>().Uint32Value()),
                                    std::move(rss));
    return Napi::Number::New(info.Env(), id);
  });
}

// forward(src, dst, 'io' | 'mac', dstMac: Uint8Array(6))
Napi::Value EngineWrap::Forward(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    MacAddr mac{};
    auto b = to_bytes(info[3], "dstMac");
    if (b.size() != 6) fail("INVALID_OPTION", "dstMac must be 6 bytes");
    std::copy(b.begin(), b.end(), mac.begin());
    const std::string mode = info[2].As<Napi::String>().Utf8Value();
    engine().forward(uint16_t(info[0].As<Napi::Number>().Uint32Value()), uint16_t(info[1].As<Napi::Number>().Uint32Value()),
                     mode == "mac" ? ForwardMode::Mac : ForwardMode::Io, mac);
  });
  return info.Env().Undefined();
}

Napi::Value EngineWrap::Echo(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] { engine().echo(uint16_t(info[0].As<Napi::Number>().Uint32Value())); });
  return info.Env().Undefined();
}

Napi::Value EngineWrap::Start(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] { engine().start(); });
  return info.Env().Undefined();
}

Napi::Value EngineWrap::Stop(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] { engine().stop(); });
  return info.Env().Undefined();
}

Napi::Value EngineWrap::Close(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] { engine().close(); });
  return info.Env().Undefined();
}

Napi::Value EngineWrap::SourcesDone(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value { return Napi::Boolean::New(info.Env(), engine().sources_done()); });
}

Napi::Value EngineWrap::Stats(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Engine& e = engine();
    auto o = Napi::Object::New(env);
    auto ports = e.port_stats();
    auto pa = Napi::Array::New(env, ports.size());
    for (size_t i = 0; i < ports.size(); i++) pa.Set(uint32_t(i), to_js(env, ports[i]));
    auto lcores = e.lcore_stats();
    auto la = Napi::Array::New(env, lcores.size());
    for (size_t i = 0; i < lcores.size(); i++) la.Set(uint32_t(i), to_js(env, lcores[i]));
    o.Set("ports", pa);
    o.Set("lcores", la);
    o.Set("pool", to_js(env, e.pool_stats()));
    o.Set("tscHz", double(e.tsc_hz()));
    o.Set("timeNs", double(monotonic_ns()));
    return o;
  });
}

Napi::Value EngineWrap::Info(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    Engine& e = engine();
    Mempool& p = e.pool();
    auto o = Napi::Object::New(env);
    auto mem = Napi::Object::New(env);
    mem.Set("pageKind", page_kind_name(p.region().kind()));
    mem.Set("hugepages", p.region().kind() != PageKind::Small);
    mem.Set("source", p.region().source());
    mem.Set("locked", p.region().locked());
    mem.Set("warning", p.region().warning());
    mem.Set("bytes", double(p.region_bytes()));
    mem.Set("mbufs", p.size());
    mem.Set("slotSize", p.slot_size());
    mem.Set("headroom", p.headroom());
    mem.Set("dataRoom", p.data_room());
    mem.Set("mbufHeaderSize", kMbufHeaderSize);
    mem.Set("mbufLayoutVersion", kMbufLayoutVersion);
    o.Set("mempool", mem);
    auto cpus = Napi::Array::New(env);
    for (auto& l : e.lcores()) cpus.Set(cpus.Length(), l->cpu());
    o.Set("cpus", cpus);
    o.Set("tscHz", double(e.tsc_hz()));
    o.Set("burst", e.options().burst);
    auto ports = Napi::Array::New(env);
    for (uint16_t i = 0; i < e.port_count(); i++) {
      Port& port = e.port(i);
      const DriverInfo& di = port.info();
      auto po = Napi::Object::New(env);
      po.Set("id", port.id());
      po.Set("name", port.name());
      po.Set("driver", port.driver_name());
      po.Set("rxQueues", port.rx_queues());
      po.Set("rss", port.rx_queues() > 1 ? (port.software_rss() ? "software" : "hardware") : "none");
      po.Set("mtu", di.mtu);
      char mac[18];
      MacAddr m = port.driver().mac();
      snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
      po.Set("mac", mac);
      auto d = Napi::Object::New(env);
      for (auto& [k, v] : di.details) d.Set(k, v);
      po.Set("details", d);
      ports.Set(ports.Length(), po);
    }
    o.Set("ports", ports);
    return o;
  });
}

// setPortOptions(port, options): driver options that change while the port runs
// (af_xdp: dropRules). The driver validates them.
Napi::Value EngineWrap::SetPortOptions(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] {
    Port& p = engine().port(uint16_t(info[0].As<Napi::Number>().Uint32Value()));
    if (p.closed) fail("PORT_CLOSED", "port '" + p.name() + "' belongs to a closed engine");
    Config c = to_config(info[1].As<Napi::Object>());
    c.scope = "port '" + p.name() + "' (" + p.driver_name() + ")";
    p.driver().set_runtime_options(c);
  });
  return info.Env().Undefined();
}

}  // namespace lr::binding
