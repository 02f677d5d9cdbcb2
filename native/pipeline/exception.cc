#include "pipeline/exception.h"

#include "core/error.h"
#include "core/net.h"
#include "pipeline/engine.h"
#include "pipeline/handler.h"

namespace lr {

bool exception_to_kernel(const Mbuf* m, const Match& keep) {
  const uint8_t* d = m->data();
  const uint32_t len = m->data_len;
  if (len < 14) return false;
  uint32_t off = 14;
  uint16_t type = uint16_t(d[12] << 8 | d[13]);
  if (type == net::kEtherTypeVlan && len >= 18) {  // one 802.1Q tag
    type = uint16_t(d[16] << 8 | d[17]);
    off = 18;
  }
  if (type == 0x0806) return true;                                                     // ARP
  if (type == net::kEtherTypeIPv4 && len >= off + 20 && d[off + 9] == 1) return true;  // ICMP
  if (type == net::kEtherTypeIPv6 && len >= off + 40 && d[off + 6] == 58) return true; // ICMPv6
  return !keep.empty() && !keep(m);
}

void ExceptionStage::process(Mbuf** m, uint16_t n) {
  while (n) {
    const uint16_t c = n < 64 ? n : 64;
    Mbuf* kern[64];
    uint16_t nk = 0, nd = 0;
    for (uint16_t i = 0; i < c; i++) {
      if (!inner_ || exception_to_kernel(m[i], keep_)) kern[nk++] = m[i];
      else m[nd++] = m[i];  // compacts in place: nd <= i
    }
    if (nk) tap_.push(kern, nk);
    if (nd) inner_->process(m, nd);
    m += c;
    n = uint16_t(n - c);
  }
}

// Engine members for the exception path live here, next to the stage.

void Engine::exception_path(uint16_t port_id, uint16_t tap_id, const Match& keep) {
  check_stopped("set up an exception path");
  Port& p = port(port_id);
  Port& t = port(tap_id);
  if (port_id == tap_id) fail("INVALID_OPTION", "exception path: port '" + p.name() + "' cannot be its own exception port");
  if (p.exception) fail("PORT_BUSY", "port '" + p.name() + "' has an exception path already; one per port");
  if (t.exception || t.action != PortAction::None || t.handler)
    fail("PORT_BUSY", "exception path: port '" + t.name() + "' already has a consumer (forward, echo, a handler or an exception path); "
                      "give the exception path a port of its own");
  for (auto& other : ports_)
    if (other->exception && other->exception->tap == tap_id)
      fail("PORT_BUSY", "exception path: port '" + t.name() + "' is the exception port of '" + other->name() + "' already");
  auto e = std::make_shared<ExceptionPath>();
  e->tap = tap_id;
  e->keep = keep;
  p.exception = std::move(e);
  // What the kernel sends on the tap goes out of the port unchanged.
  t.action = PortAction::Forward;
  t.forward_to = port_id;
  t.forward_mode = ForwardMode::Io;
}

std::unique_ptr<Stage> Engine::make_native_stage(Port& p, uint16_t txq, Mempool::Cache* cache) {
  auto inner = make_action_stage(p, txq, cache);
  if (!p.exception) return inner;
  Port& tap = *ports_[p.exception->tap];
  return std::make_unique<ExceptionStage>(p.exception->keep, TxBuffer(&tap, txq, pool_.get(), cache, opts_.burst), std::move(inner));
}

}  // namespace lr
