// A loop pump: calls one JavaScript function once per turn of the calling
// environment's event loop while it is armed, with no allocation per turn.
//
// Why: the pipeline-mode consumer (src/handler/channel-consumer.ts) must poll
// its ring every loop turn while traffic flows, yet let timers and I/O of the
// same thread run between turns. setImmediate does that but allocates an
// Immediate object per re-arm, which showed up as 12-25 scavenges per 10^8
// packets and millisecond stalls in the latency tail (docs/bench.md). A libuv
// idle handle is the same mechanism Node uses for setImmediate (an armed idle
// handle makes the loop poll with a zero timeout), minus the object.
#pragma once
#include <napi.h>

namespace lr::binding {

// createPump(fn) -> { arm(), disarm(), close() }. fn runs through
// napi_make_callback (async hooks, nextTick and microtasks behave as for any
// callback from the loop); an exception it throws goes to 'uncaughtException'.
// close() releases the handle; so does the environment's teardown, and the
// object's finalizer if it is dropped unclosed.
void init_pump_exports(Napi::Env env, Napi::Object exports);

}  // namespace lr::binding
