// The host layer: a port that owns IPv4/IPv6 addresses (docs/host.md).
//
// A Host sits on one port. On the lcores (HostStage, host_stage.h) it answers
// ARP (RFC 826), neighbour solicitations (RFC 4861) and echo requests (RFC 792,
// RFC 4443) itself, checks IPv4/IPv6/UDP headers and checksums, and hands the
// UDP datagrams addressed to a bound port to that socket's JS handler. After the
// handler, HostOut (host_output.cc) finishes what JS wrote: lengths, TTL, the
// IPv4 header checksum and the UDP checksum, and for new datagrams the Ethernet
// and IP headers, resolving the next hop through the neighbour table.
//
// What JS sees of a datagram is in the mbuf header's reserved bytes (layout
// version 1 additions, docs/memory-format.md): HostMeta below. JS can write the
// whole header, so everything read back from it is checked before use.
#pragma once
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/counter.h"
#include "core/mbuf.h"
#include "drivers/driver.h"
#include "pipeline/host/neighbours.h"

namespace lr {
struct PortHandler;
class Port;
}  // namespace lr

namespace lr::host {

// Mbuf::flags bit: the mbuf carries a host datagram described by HostMeta.
constexpr uint32_t kMbufHostDatagram = 1u << 2;
// Mbuf::verdict: send the datagram to the address and port written in its IP and
// UDP headers (host datagrams only; the host builds the rest of the headers).
constexpr uint16_t kVerdictSend = 3;

// Mbuf header bytes 44..47 (reserved in layout version 1; zero = not a datagram).
struct HostMeta {
  uint8_t family;   // 44: 4 or 6
  uint8_t l3_off;   // 45: where the IP header starts in the packet: 14, or 18 with a VLAN tag
  uint16_t socket;  // 46: index of the socket in its host
};
constexpr size_t kHostMetaOffset = 44;
inline HostMeta* meta(Mbuf* m) { return reinterpret_cast<HostMeta*>(reinterpret_cast<uint8_t*>(m) + kHostMetaOffset); }
inline const HostMeta* meta(const Mbuf* m) {
  return reinterpret_cast<const HostMeta*>(reinterpret_cast<const uint8_t*>(m) + kHostMetaOffset);
}
static_assert(sizeof(HostMeta) == 4, "mbuf ABI");

enum class Owner : uint8_t { Linerate, Kernel };

struct HostConfig {
  bool has4 = false, has6 = false;
  uint8_t ip4[4] = {};
  uint8_t prefix4 = 32;
  uint8_t ip6[16] = {};
  uint8_t prefix6 = 128;
  bool has_gw4 = false, has_gw6 = false;
  uint8_t gw4[4] = {};
  uint8_t gw6[16] = {};
  Owner owner = Owner::Linerate;
  uint16_t vlan = 0;  // 0: untagged
  uint8_t ttl = 64;   // IPv4 TTL and IPv6 hop limit of what the host sends (RFC 1700's default)
  bool icmp_unreachable = false;  // answer UDP to an unbound port with ICMP port unreachable (rate limited)
  std::vector<std::pair<IpAddr, MacAddr>> statics;
  NeighbourOptions neigh;
};

// Counters of one thread slot (an lcore, an inline worker, or the control path):
// one writer each; Host::totals() sums them.
#define LR_HOST_COUNTERS(X)                                                                                          \
  X(arp_requests_in) X(arp_replies_out) X(arp_replies_in) X(arp_other) X(arp_bad)                                    \
  X(nd_solicits_in) X(nd_adverts_out) X(nd_adverts_in) X(nd_bad) X(nd_other)                                         \
  X(icmp_echo_in) X(icmp_echo_out) X(icmp6_echo_in) X(icmp6_echo_out) X(icmp_other) X(icmp_bad_csum)                 \
  X(ip_bad_header) X(ip_bad_csum) X(ip_bad_length) X(ip_fragments) X(ip_options) X(ip_ext_headers) X(ip_other_proto) \
  X(not_ours) X(vlan_mismatch) X(malformed)                                                                          \
  X(udp_in) X(udp_bad_csum) X(udp_bad_length) X(udp_no_listener) X(icmp_unreach_out) X(udp_ring_full)                 \
  X(udp_replies) X(udp_sends) X(udp_bad_send) X(no_route)                                                            \
  X(to_kernel) X(neighbor_misses) X(probes_out) X(held_sent) X(announces_out)

struct alignas(64) HostCounters {
#define LR_X(name) Counter name;
  LR_HOST_COUNTERS(LR_X)
#undef LR_X
};

// Per socket, per thread slot.
struct alignas(64) SocketCounters {
  Counter rx, replies, sends, ring_full;
};

struct HostSocket {
  uint16_t port = 0;  // UDP port, host order
  bool inline_mode = false;
  std::shared_ptr<PortHandler> handler;
  std::vector<SocketCounters> slots;
};

class Host {
 public:
  static constexpr uint16_t kNoSocket = 0xffff;
  static constexpr size_t kMaxSockets = 64;

  Host(const HostConfig& cfg, Port* port);

  const HostConfig& config() const { return cfg_; }
  Port* port() const { return port_; }
  // The port's device finishes UDP checksums (Driver::tx_l4_csum_offload); asked once, at construction.
  bool tx_csum_offload() const { return tx_csum_offload_; }
  NeighbourTable& neighbours() { return neigh_; }
  const NeighbourTable& neighbours() const { return neigh_; }
  const MacAddr& mac() const { return mac_; }
  void set_mac(const MacAddr& m) { mac_ = m; }

  // Control path, before start.
  uint16_t add_socket(uint16_t udp_port, bool inline_mode, std::shared_ptr<PortHandler> h);
  // Another UDP port for an existing socket: one socket serving a range of ports
  // (a load generator's flows). Its sends keep a source port that is one of its own.
  void alias_socket(uint16_t socket, uint16_t udp_port);
  std::vector<HostSocket>& sockets() { return sockets_; }
  const std::vector<HostSocket>& sockets() const { return sockets_; }
  // Sizes the per-slot counters (start(): every slot that may touch this host).
  void set_slots(uint32_t n);
  HostCounters& counters(uint32_t slot) { return counters_[slot]; }
  const std::vector<HostCounters>& all_counters() const { return counters_; }

  // The socket bound to a UDP port (host order), or kNoSocket.
  uint16_t socket_for(uint16_t udp_port) const { return demux_[udp_port]; }
  // The whole table (65536 entries), for a loop that keeps it in a register.
  const uint16_t* demux() const { return demux_.data(); }
  bool has_inline_socket() const;

  // Addresses.
  // Inline: asked of every datagram, twice (destination, then the source must not be us).
  bool is_mine4(const uint8_t ip[4]) const { return cfg_.has4 && std::memcmp(ip, cfg_.ip4, 4) == 0; }
  bool is_mine6(const uint8_t ip[16]) const { return cfg_.has6 && std::memcmp(ip, cfg_.ip6, 16) == 0; }
  bool is_my_solicited6(const uint8_t ip[16]) const;  // our solicited-node multicast group
  // The next hop for a destination: itself when on-link, else the gateway. False: no route.
  bool next_hop(const IpAddr& dst, IpAddr* hop) const;

  // Timers: true for the one caller that should run them now (about every 10 ms).
  bool tick_due(uint64_t now_ns);

  // owner 'kernel' (docs/host.md): the kernel's neighbour table, mirrored while
  // the engine runs (drivers/netlink/neigh_watch.h); nullptr on a port whose
  // driver has none (then the host snoops ARP and NA on their way to the kernel).
  void set_kernel_watch(std::unique_ptr<KernelNeighbourWatch> w) { kernel_watch_ = std::move(w); }
  KernelNeighbourWatch* kernel_watch() const { return kernel_watch_.get(); }
  // Rate limit of ICMP errors (RFC 1812 section 4.3.2.8; RFC 4443 section 2.4 (f)): 1000/s, bursts of 50; any thread, no lock.
  bool icmp_error_allowed(uint64_t now_ns);

 private:
  HostConfig cfg_;
  Port* port_;
  MacAddr mac_{};
  bool tx_csum_offload_ = false;
  NeighbourTable neigh_;
  std::vector<HostSocket> sockets_;
  std::vector<uint16_t> demux_;  // 65536 entries: UDP port -> socket index
  std::vector<HostCounters> counters_;
  std::atomic<uint64_t> next_tick_ns_{0};
  std::atomic<uint64_t> next_icmp_ns_{0};
  std::unique_ptr<KernelNeighbourWatch> kernel_watch_;
};

// True for prefix-length matches of a and b (the first `bits` bits).
bool prefix_match(const uint8_t* a, const uint8_t* b, uint32_t bits);

}  // namespace lr::host
