// Engine members for the host layer live here, next to it (as exception.cc does
// for the exception path).
#include <cstring>

#include "core/error.h"
#include "core/net.h"
#include "pipeline/engine.h"
#include "pipeline/exception.h"
#include "pipeline/handler.h"
#include "pipeline/host/host_output.h"
#include "pipeline/host/host_clock.h"
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
  if (inline_mode) check_inline(p);
  auto ph = std::make_shared<PortHandler>();
  const uint16_t index = uint16_t(h->sockets().size());
  h->add_socket(udp_port, inline_mode, ph);  // checks the port is free and the inline rule first
  add_handler_queues(p, *ph, inline_mode, ring_size);
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

void Engine::host_kernel_start() {
  for (auto& pp : ports_) {
    Port& p = *pp;
    if (!p.host || p.host->config().owner != host::Owner::Kernel) continue;
    const host::HostConfig& cfg = p.host->config();
    if (p.host->sockets().empty())
      fail("INVALID_OPTION", "port '" + p.name() + "': a host with owner 'kernel' takes only its UDP sockets' datagrams, and it has "
                             "no socket; add one with host.udp() or host.udpInWorkers()");
    // Only our sockets' datagrams come to us; the kernel keeps everything else.
    std::vector<UdpSteerRule> rules;
    for (auto& s : p.host->sockets())
      for (int fam : {4, 6}) {
        if ((fam == 4 && !cfg.has4) || (fam == 6 && !cfg.has6)) continue;
        UdpSteerRule r;
        r.family = uint8_t(fam);
        std::memcpy(r.addr, fam == 4 ? cfg.ip4 : cfg.ip6, fam == 4 ? 4 : 16);
        r.port = s.port;
        rules.push_back(r);
      }
    if (!p.driver().set_udp_steering(rules, cfg.vlan)) {
      // A driver that cannot steer shares through the exception path: the host
      // hands the kernel (a tap with the addresses) all it does not serve.
      if (!p.exception)
        fail("INVALID_OPTION", "port '" + p.name() + "': owner 'kernel' on the " + p.driver_name() +
                                   " driver needs an exception path: a tap port that holds the addresses "
                                   "(engine.exceptionPath(port, tap); docs/host.md), or use the af_xdp driver, which "
                                   "leaves the kernel everything but the host's UDP sockets");
      continue;
    }
    Port* port = &p;
    auto watch = p.driver().watch_kernel_neighbours([this, port](uint8_t family, const uint8_t ip[16], const uint8_t mac[6], uint16_t nud) {
      host::IpAddr a{};
      a.family = family;
      std::memcpy(a.b, ip, family == 4 ? 4 : 16);
      if (!mac) {
        // Deleted (state 0) or failed (NUD_FAILED, 0x20): forget it. An entry the
        // kernel is still resolving (NUD_INCOMPLETE) keeps what we hold for it.
        if (nud == 0 || (nud & 0x20)) port->host->neighbours().remove(a);
        return;
      }
      // Held packets leave on the control tx queue: this is the watch's thread.
      std::lock_guard<std::mutex> lock(send_mu_);
      TxBuffer tx(port, control_txq(), pool_.get(), nullptr, opts_.burst);
      host::HostOut(port->host.get(), &tx, pool_.get(), nullptr, control_txq()).learn(a, mac, true, host::host_now_ns());
      tx.flush();
    });
    p.host->set_kernel_watch(std::move(watch));
  }
}

void Engine::host_kernel_stop() {
  // After the lcores stopped: nobody asks the watch to resolve any more.
  for (auto& p : ports_)
    if (p->host) p->host->set_kernel_watch(nullptr);
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
