// Engine's capture calls (engine.h): attach and detach a port's capture.

#include "core/error.h"
#include "pipeline/capture/capture.h"
#include "pipeline/engine.h"

namespace lr {

void Engine::capture_start(uint16_t id, CaptureOptions opts) {
  check_open("capture");
  Port& p = port(id);
  if (!running_) fail("ENGINE_STOPPED", "port '" + p.name() + "': a capture needs a running engine; call engine.start() first");
  if (p.capture.load()) fail("CAPTURE_BUSY", "port '" + p.name() + "' has a capture running already; stop it first (handle.stop())");
  // A record holds at most a whole mbuf's data room: frames are single-segment.
  auto c = std::make_shared<Capture>(std::move(opts), p.hw_rx_queues(), uint16_t(control_txq() + 1), control_txq(),
                                     pool_->data_room());
  capture_attach(p, std::move(c));
}

void Engine::capture_stop(uint16_t id) { capture_detach(port(id)); }

std::shared_ptr<Capture> Engine::capture_of(uint16_t id) { return port(id).capture_owner; }

void Engine::capture_detach_all() {
  for (auto& p : ports_) capture_stop(p->id());
}

}  // namespace lr
