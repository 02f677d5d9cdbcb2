// Capture glue (native/pipeline/capture/): module-level filter compilation.
#pragma once
#include <napi.h>

namespace lr::binding {
// captureCompile(expr, snaplen) and captureParseBpf(text): both -> Uint32Array [code|jt<<16|jf<<24, k, ...].
void init_capture_exports(Napi::Env env, Napi::Object exports);
}  // namespace lr::binding
