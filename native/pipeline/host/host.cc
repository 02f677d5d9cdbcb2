#include "pipeline/host/host.h"

#include <cstring>

#include "core/error.h"
#include "core/net_arp_icmp.h"
#include "pipeline/port.h"

namespace lr::host {

bool prefix_match(const uint8_t* a, const uint8_t* b, uint32_t bits) {
  const uint32_t whole = bits / 8;
  if (std::memcmp(a, b, whole) != 0) return false;
  const uint32_t rest = bits % 8;
  if (!rest) return true;
  const uint8_t mask = uint8_t(0xff00 >> rest);
  return (a[whole] & mask) == (b[whole] & mask);
}

Host::Host(const HostConfig& cfg, Port* port) : cfg_(cfg), port_(port), neigh_(cfg.neigh), demux_(65536, kNoSocket) {
  mac_ = port->driver().mac();
  tx_csum_offload_ = port->driver().tx_l4_csum_offload();
  for (auto& s : cfg_.statics) neigh_.add_static(s.first, s.second.data());
}

uint16_t Host::add_socket(uint16_t udp_port, bool inline_mode, std::shared_ptr<PortHandler> h) {
  if (demux_[udp_port] != kNoSocket)
    fail("PORT_BUSY", "port '" + port_->name() + "': UDP port " + std::to_string(udp_port) + " has a socket already");
  if (sockets_.size() >= kMaxSockets) fail("INVALID_OPTION", "at most " + std::to_string(kMaxSockets) + " UDP sockets per host");
  // An inline socket's workers poll the port's queues themselves, so nothing else
  // can share them: one inline socket, alone, per host.
  if (inline_mode && !sockets_.empty())
    fail("INVALID_OPTION", "port '" + port_->name() + "': an inline socket must be the host's only socket (it polls the port's "
                           "queues itself); use mode 'pipeline' for several sockets on one host");
  if (!inline_mode && has_inline_socket())
    fail("INVALID_OPTION", "port '" + port_->name() + "': the host has an inline socket, which must be its only socket; "
                           "use mode 'pipeline' for several sockets on one host");
  HostSocket s;
  s.port = udp_port;
  s.inline_mode = inline_mode;
  s.handler = std::move(h);
  sockets_.push_back(std::move(s));
  demux_[udp_port] = uint16_t(sockets_.size() - 1);
  return uint16_t(sockets_.size() - 1);
}

void Host::alias_socket(uint16_t socket, uint16_t udp_port) {
  if (socket >= sockets_.size()) fail("INVALID_PORT", "port '" + port_->name() + "' has no socket " + std::to_string(socket));
  if (udp_port == 0) fail("INVALID_OPTION", "host.udp: ports must be in [1, 65535]");
  if (demux_[udp_port] != kNoSocket)
    fail("PORT_BUSY", "port '" + port_->name() + "': UDP port " + std::to_string(udp_port) + " has a socket already");
  demux_[udp_port] = socket;
}

bool Host::has_inline_socket() const {
  for (auto& s : sockets_)
    if (s.inline_mode) return true;
  return false;
}

void Host::set_slots(uint32_t n) {
  if (counters_.size() < n) {
    std::vector<HostCounters> c(n);
    for (size_t i = 0; i < counters_.size(); i++) c[i] = counters_[i];
    counters_.swap(c);
  }
  for (auto& s : sockets_)
    if (s.slots.size() < n) {
      std::vector<SocketCounters> c(n);
      for (size_t i = 0; i < s.slots.size(); i++) c[i] = s.slots[i];
      s.slots.swap(c);
    }
}

bool Host::is_my_solicited6(const uint8_t ip[16]) const {
  if (!cfg_.has6) return false;
  uint8_t g[16];
  net::solicited_node(cfg_.ip6, g);
  return std::memcmp(ip, g, 16) == 0;
}

bool Host::next_hop(const IpAddr& dst, IpAddr* hop) const {
  if (dst.family == 4) {
    if (!cfg_.has4) return false;
    if (prefix_match(dst.b, cfg_.ip4, cfg_.prefix4)) {
      *hop = dst;
      return true;
    }
    if (!cfg_.has_gw4) return false;
    *hop = IpAddr{};
    hop->family = 4;
    std::memcpy(hop->b, cfg_.gw4, 4);
    return true;
  }
  if (dst.family == 6) {
    if (!cfg_.has6) return false;
    // Link-local destinations (fe80::/10) are on-link by definition (RFC 4291 section 2.5.6).
    if (prefix_match(dst.b, cfg_.ip6, cfg_.prefix6) || (dst.b[0] == 0xfe && (dst.b[1] & 0xc0) == 0x80)) {
      *hop = dst;
      return true;
    }
    if (!cfg_.has_gw6) return false;
    *hop = IpAddr{};
    hop->family = 6;
    std::memcpy(hop->b, cfg_.gw6, 16);
    return true;
  }
  return false;
}

bool Host::tick_due(uint64_t now_ns) {
  uint64_t due = next_tick_ns_.load(std::memory_order_relaxed);
  if (now_ns < due) return false;
  return next_tick_ns_.compare_exchange_strong(due, now_ns + 10'000'000, std::memory_order_relaxed);
}

bool Host::icmp_error_allowed(uint64_t now_ns) {
  // 1000 ICMP errors a second with bursts of 50 (Linux's icmp_msgs_per_sec and
  // icmp_msgs_burst defaults), as a generic cell rate algorithm: next_icmp_ns_ is
  // the theoretical arrival time; one CAS, no lock.
  constexpr uint64_t kInterval = 1'000'000, kBurst = 50 * kInterval;
  uint64_t tat = next_icmp_ns_.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t base = tat > now_ns ? tat : now_ns;
    if (base - now_ns >= kBurst) return false;
    if (next_icmp_ns_.compare_exchange_weak(tat, base + kInterval, std::memory_order_relaxed)) return true;
  }
}

}  // namespace lr::host
