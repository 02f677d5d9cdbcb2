// JS <-> native conversions. No logic: shapes only.
#pragma once
#include <napi.h>

#include "core/config.h"
#include "core/error.h"
#include "pipeline/engine.h"

namespace lr::binding {

Config to_config(const Napi::Object& o);
std::vector<uint8_t> to_bytes(const Napi::Value& v, const char* what);
Napi::Object to_js(Napi::Env env, const PortSnapshot& s);
Napi::Object to_js(Napi::Env env, const LcoreSnapshot& s);
Napi::Object to_js(Napi::Env env, const PoolSnapshot& s);

// Turns an lr::Error (or any std::exception) into a JS Error with .code and throws it.
[[noreturn]] void rethrow(Napi::Env env, const std::exception& e);

template <typename F>
auto guard(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    rethrow(env, e);
  }
}

}  // namespace lr::binding
