// Engine members for the host layer live here, next to it (as exception.cc does
// for the exception path).
#include <cstring>

#include "core/error.h"
#include "core/net.h"
#include "pipeline/engine.h"
#include "pipeline/exception.h"
#include "pipeline/handler.h"
#include "pipeline/host/host_output.h"
#include "pipeline/host/host_stage.h"

namespace lr {

void Engine::host(uint16_t id, const host::HostConfig& cfg) {
  check_stopped("set up a host");
  Port& p = port(id);
  if (p.host) fail("PORT_BUSY", "port '" + p.name() + "' is a host already; one host per port");
  if (p.action != PortAction::None || p.handler)
    fail("PORT_BUSY", "port '" + p.name() + "' already has a consumer (forward, echo or a handler); a host needs the port to itself");
  for (auto& other : ports_)
    if (other->exception && other->exception->tap == id)
      fail("PORT_BUSY", "port '" + p.name() + "' is the exception port of '" + other->name() + "'");
  if (!cfg.has4 && !cfg.has6) fail("INVALID_OPTION", "host on port '" + p.name() + "': give ipv4, ipv6 or both");
  p.host = std::make_shared<host::Host>(cfg, &p);
  // Neighbour solicitations for our IPv6 address come to its solicited-node
  // multicast group (RFC 4861 §7.2.2); a NIC that filters multicast in hardware
  // (e1000e, virtio-net under vfio) drops them unless it takes all multicast.
  if (cfg.has6) p.driver().set_allmulticast(true);
}

host::Host* Engine::host_of(uint16_t id) {
  Port& p = port(id);
  if (!p.host) fail("INVALID_PORT", "port '" + p.name() + "' is not a host; set one up with engine.host(port, ...)");
  return p.host.get();
}

uint16_t Engine::host_udp(uint16_t id, uint16_t udp_port, bool inline_mode, uint32_t ring_size) {
  check_stopped("add a UDP socket");
  Port& p = port(id);
  host::Host* h = host_of(id);
  if (udp_port == 0) fail("INVALID_OPTION", "host.udp: port must be in [1, 65535]");
  auto ph = std::make_shared<PortHandler>();
  ph->inline_mode = inline_mode;
  const uint16_t index = uint16_t(h->sockets().size());
  if (inline_mode) {
    if (p.software_rss())
      fail("INVALID_OPTION", "port '" + p.name() + "': inline sockets poll hardware queues; the " + p.driver_name() +
                                 " driver has one rx queue (use mode 'pipeline' for software RSS, or rxQueues: 1)");
    if (inline_count_ + p.rx_queues() > kMaxInlineQueues)
      fail("INVALID_OPTION", "at most " + std::to_string(kMaxInlineQueues) + " inline handler queues per engine");
  }
  h->add_socket(udp_port, inline_mode, ph);  // checks the port is free and the inline rule first
  if (inline_mode) {
    for (uint16_t q = 0; q < p.rx_queues(); q++)
      ph->inline_queues.push_back(
          std::make_unique<InlineQueue>(&p, q, uint16_t(lcores_.size() + inline_count_++), Match{}, pool_.get()));
  } else {
    for (uint16_t q = 0; q < p.rx_queues(); q++) ph->channels.push_back(std::make_unique<JsChannel>(p.id(), q, ring_size, opts_.burst));
  }
  return index;
}

std::unique_ptr<Stage> Engine::make_host_stage(Port& p, uint16_t queue, uint16_t txq, Mempool::Cache* cache, InlineQueue* iq) {
  std::vector<host::SocketSink> sinks;
  for (auto& s : p.host->sockets()) {
    host::SocketSink k;
    if (s.inline_mode) k.inline_queue = iq;
    else k.channel = s.handler->channels[queue].get();
    sinks.push_back(k);
  }
  std::unique_ptr<TxBuffer> kernel;
  if (p.exception) kernel = std::make_unique<TxBuffer>(ports_[p.exception->tap].get(), txq, pool_.get(), cache, opts_.burst);
  return std::make_unique<host::HostStage>(p.host.get(), TxBuffer(&p, txq, pool_.get(), cache, opts_.burst), std::move(kernel),
                                           std::move(sinks), pool_.get(), cache, txq);
}

void Engine::host_announce() {
  std::lock_guard<std::mutex> lock(send_mu_);
  for (auto& p : ports_) {
    if (!p->host) continue;
    TxBuffer tx(p.get(), control_txq(), pool_.get(), nullptr, opts_.burst);
    host::HostOut(p->host.get(), &tx, pool_.get(), nullptr, control_txq()).announce();
    tx.flush();
  }
}

void Engine::host_drain() {
  // After the lcores stopped: what neighbour tables still hold goes back to the pool.
  for (auto& p : ports_) {
    if (!p->host) continue;
    Mbuf* m[64];
    while (uint32_t n = p->host->neighbours().drain(m, 64)) pool_->free_bulk(nullptr, m, n);
  }
}

bool Engine::host_send(uint16_t id, uint16_t socket, const uint8_t* payload, size_t len, const host::IpAddr& dst, uint16_t dst_port) {
  check_open("send");
  Port& p = port(id);
  host::Host* h = host_of(id);
  if (!running_) fail("ENGINE_STOPPED", "port '" + p.name() + "': send() needs a running engine; call engine.start() first");
  if (socket >= h->sockets().size()) fail("INVALID_PORT", "port '" + p.name() + "' has no socket " + std::to_string(socket));
  const uint32_t l3 = h->config().vlan ? 18 : 14;
  const uint32_t l4 = l3 + (dst.family == 4 ? 20 : 40);
  if ((dst.family == 4 && !h->config().has4) || (dst.family == 6 && !h->config().has6))
    fail("INVALID_OPTION", "port '" + p.name() + "': the host has no IPv" + std::to_string(dst.family) + " address to send from");
  if (l4 + 8 + len > pool_->data_room() || l4 + 8 + len - l3 > 0xffff)
    fail("FRAME_TOO_LARGE", "a datagram of " + std::to_string(len) + " bytes does not fit an mbuf (at most " +
                                std::to_string(pool_->data_room() - l4 - 8) + " bytes; raise mempool.dataRoom)");
  std::lock_guard<std::mutex> lock(send_mu_);
  Mbuf* m;
  if (!pool_->alloc_bulk(nullptr, &m, 1)) return false;
  uint8_t* d = m->data();
  std::memset(d, 0, l4 + 8);
  if (dst.family == 4) std::memcpy(reinterpret_cast<net::Ipv4Hdr*>(d + l3)->dst, dst.b, 4);
  else std::memcpy(reinterpret_cast<net::Ipv6Hdr*>(d + l3)->dst, dst.b, 16);
  reinterpret_cast<net::UdpHdr*>(d + l4)->dport = net::htons(dst_port);
  std::memcpy(d + l4 + 8, payload, len);
  m->data_len = uint16_t(l4 + 8 + len);
  m->port = p.id();
  host::HostMeta* mt = host::meta(m);
  mt->family = dst.family;
  mt->l3_off = uint8_t(l3);
  mt->socket = socket;
  m->flags |= host::kMbufHostDatagram;
  TxBuffer tx(&p, control_txq(), pool_.get(), nullptr, opts_.burst);
  host::HostOut out(h, &tx, pool_.get(), nullptr, control_txq());
  auto refused = [&] { return out.counters().udp_bad_send.get() + out.counters().no_route.get() + h->neighbours().counters().hold_drops.get(); };
  const uint64_t before = refused();
  out.send(m);
  tx.flush();
  return refused() == before;
}

}  // namespace lr
