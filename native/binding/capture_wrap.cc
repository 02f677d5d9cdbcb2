// Capture glue: shapes only. A cBPF program crosses as a Uint32Array of two
// words per instruction: code | jt << 16 | jf << 24, then k.
#include "binding/capture_wrap.h"

#include "binding/convert.h"
#include "binding/engine_wrap.h"
#include "pipeline/capture/capture.h"
#include "pipeline/capture/libpcap.h"

namespace lr::binding {

namespace {

Napi::Uint32Array to_js(Napi::Env env, const std::vector<cbpf::Insn>& prog) {
  auto a = Napi::Uint32Array::New(env, prog.size() * 2);
  for (size_t i = 0; i < prog.size(); i++) {
    a[2 * i] = uint32_t(prog[i].code) | uint32_t(prog[i].jt) << 16 | uint32_t(prog[i].jf) << 24;
    a[2 * i + 1] = prog[i].k;
  }
  return a;
}

std::vector<cbpf::Insn> to_prog(const Napi::Value& v) {
  std::vector<cbpf::Insn> prog;
  if (!v.IsTypedArray()) return prog;
  auto a = v.As<Napi::Uint32Array>();
  for (size_t i = 0; i + 1 < a.ElementLength(); i += 2)
    prog.push_back({uint16_t(a[i] & 0xffff), uint8_t(a[i] >> 16), uint8_t(a[i] >> 24), a[i + 1]});
  return prog;
}

Napi::Value CaptureCompile(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    return to_js(info.Env(), capture::compile_filter(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::Number>().Uint32Value()));
  });
}

Napi::Value CaptureParseBpf(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto prog = cbpf::parse_ddd(info[0].As<Napi::String>().Utf8Value());
    const std::string why = cbpf::check(prog.data(), prog.size());
    if (!why.empty()) fail("CAPTURE_BPF_INVALID", "--bpf program refused: " + why);
    return to_js(info.Env(), prog);
  });
}

}  // namespace

void init_capture_exports(Napi::Env env, Napi::Object exports) {
  exports.Set("captureCompile", Napi::Function::New<CaptureCompile>(env, "captureCompile"));
  exports.Set("captureParseBpf", Napi::Function::New<CaptureParseBpf>(env, "captureParseBpf"));
}

// captureStart(port, prog: Uint32Array | null, { snaplen, rx, tx, rxQueue?, ringSize }) -> recordSize
Napi::Value EngineWrap::CaptureStart(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    const uint16_t port = uint16_t(info[0].As<Napi::Number>().Uint32Value());
    Config c = to_config(info[2].As<Napi::Object>());
    CaptureOptions o;
    o.prog = to_prog(info[1]);
    o.snaplen = uint32_t(c.get_uint("snaplen", 65535, 1, 262144));
    o.rx = c.get_bool("rx", true);
    o.tx = c.get_bool("tx", true);
    o.rx_queue = c.has("rxQueue") ? int32_t(c.get_uint("rxQueue", 0, 0, 0xffff)) : -1;
    o.ring_records = uint32_t(c.get_uint("ringSize", 1024, 2, 1u << 20));
    engine().capture_start(port, std::move(o));
    return Napi::Number::New(info.Env(), engine().capture_of(port)->record_size());
  });
}

Napi::Value EngineWrap::CaptureStop(const Napi::CallbackInfo& info) {
  guard(info.Env(), [&] { engine().capture_stop(uint16_t(info[0].As<Napi::Number>().Uint32Value())); });
  return info.Env().Undefined();
}

// captureDrain(port, out: Uint8Array) -> bytes written (whole records)
Napi::Value EngineWrap::CaptureDrain(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto c = engine().capture_of(uint16_t(info[0].As<Napi::Number>().Uint32Value()));
    auto out = info[1].As<Napi::Uint8Array>();
    return Napi::Number::New(info.Env(), c ? double(c->drain(out.Data(), out.ByteLength())) : 0);
  });
}

// captureStats(port) -> { seen, accepted, filtered, dropped } | undefined
Napi::Value EngineWrap::CaptureStats(const Napi::CallbackInfo& info) {
  return guard(info.Env(), [&]() -> Napi::Value {
    auto c = engine().capture_of(uint16_t(info[0].As<Napi::Number>().Uint32Value()));
    if (!c) return info.Env().Undefined();
    const lr::CaptureStats s = c->stats();
    auto o = Napi::Object::New(info.Env());
    o.Set("seen", double(s.seen));
    o.Set("accepted", double(s.accepted));
    o.Set("filtered", double(s.filtered));
    o.Set("dropped", double(s.dropped));
    return o;
  });
}

}  // namespace lr::binding
