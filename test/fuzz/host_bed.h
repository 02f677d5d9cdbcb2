// The host the host-layer harnesses share (host_input_fuzz, host_output_fuzz):
// 198.18.0.1/24 via 198.18.0.254 and fd00:198:18::1/64 via fd00:198:18::fe
// (benchmarking and unique-local ranges), UDP sockets on ports 53 and 7, one
// static neighbour (198.18.0.2), on sink ports over the guarded pool.
//
// A Host costs a 128 KiB demux table; built per input under ASan that is a
// fresh mapping and page faults each time, a hundredfold slowdown. So one Host
// per configuration byte is kept and put back to a known state before each
// input: its neighbour table emptied (held packets freed first) and the static
// entry restored. Its timers and rate limits run on the clock, as in service.
#pragma once
#include <cstring>
#include <map>
#include <memory>

#include "fuzz_bed.h"
#include "core/net_arp_icmp.h"
#include "pipeline/host/host.h"

namespace fuzz {

// Makes the checksums of a frame right, as far as its bytes go: the IPv4 header
// checksum (RFC 791 section 3.1), the ICMP, ICMPv6 (RFC 4443 section 2.3) and
// UDP (RFC 768, RFC 8200 section 8.1) checksums over the lengths the headers
// claim, cut to what is present. Random mutation almost never gets a checksum
// right, and the host drops what fails one before any deeper parsing: with this
// step (a bit of the input asks for it) the fuzzer reaches echo, ND and UDP.
inline void fix_checksums(uint8_t* f, size_t len) {
  using namespace lr::net;
  if (len < 14) return;
  size_t l3 = 14;
  uint16_t type = uint16_t(f[12] << 8 | f[13]);
  if (type == 0x8100) {
    if (len < 18) return;
    type = uint16_t(f[16] << 8 | f[17]);
    l3 = 18;
  }
  if (type == kEtherTypeIPv4 && len >= l3 + sizeof(Ipv4Hdr)) {
    auto* ip = reinterpret_cast<Ipv4Hdr*>(f + l3);
    const size_t ihl = size_t(ip->ver_ihl & 0xf) * 4;
    if (ihl < 20 || len < l3 + ihl) return;
    size_t total = ntohs(ip->total_len);
    if (total > len - l3) total = len - l3;
    if (total < ihl) return;
    uint8_t* l4 = f + l3 + ihl;
    const size_t plen = total - ihl;
    if (ip->proto == kProtoIcmp && plen >= 4) {
      l4[2] = l4[3] = 0;
      const uint16_t c = htons(uint16_t(~csum_fold(csum_partial(l4, plen))));
      std::memcpy(l4 + 2, &c, 2);
    } else if (ip->proto == kProtoUdp && plen >= sizeof(UdpHdr)) {
      auto* udp = reinterpret_cast<UdpHdr*>(l4);
      size_t ulen = ntohs(udp->len);
      if (ulen < sizeof(UdpHdr) || ulen > plen) ulen = plen;
      udp->csum = udp4_csum(ip, udp, ulen);
    }
    ip->csum = ipv4_header_csum(ip);
  } else if (type == kEtherTypeIPv6 && len >= l3 + sizeof(Ipv6Hdr)) {
    auto* ip = reinterpret_cast<Ipv6Hdr*>(f + l3);
    size_t plen = ntohs(ip->payload_len);
    if (plen > len - l3 - sizeof(Ipv6Hdr)) plen = len - l3 - sizeof(Ipv6Hdr);
    uint8_t* l4 = f + l3 + sizeof(Ipv6Hdr);
    if (ip->next == kProtoIcmp6 && plen >= 4) {
      const uint16_t c = icmp6_csum(ip, l4, plen);
      std::memcpy(l4 + 2, &c, 2);
    } else if (ip->next == kProtoUdp && plen >= sizeof(UdpHdr)) {
      auto* udp = reinterpret_cast<UdpHdr*>(l4);
      size_t ulen = ntohs(udp->len);
      if (ulen < sizeof(UdpHdr) || ulen > plen) ulen = plen;
      udp->csum = udp6_csum(ip, udp, ulen);
    }
  }
}

inline lr::host::HostConfig host_config(uint8_t bits) {
  lr::host::HostConfig c;
  c.has4 = (bits & 1) || !(bits & 2);
  c.has6 = bits & 2;
  const uint8_t ip4[4] = {198, 18, 0, 1}, gw4[4] = {198, 18, 0, 254};
  const uint8_t ip6[16] = {0xfd, 0, 0x01, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::memcpy(c.ip4, ip4, 4);
  c.prefix4 = 24;
  std::memcpy(c.ip6, ip6, 16);
  c.prefix6 = 64;
  c.has_gw4 = c.has_gw6 = !(bits & 64);
  std::memcpy(c.gw4, gw4, 4);
  std::memcpy(c.gw6, ip6, 16);
  c.gw6[15] = 0xfe;
  c.owner = bits & 4 ? lr::host::Owner::Kernel : lr::host::Owner::Linerate;
  c.vlan = bits & 8 ? 5 : 0;
  c.icmp_unreachable = bits & 16;
  c.neigh.capacity = 16;
  c.neigh.hash_seed = 1;
  return c;
}

inline const uint8_t kStaticPeer4[4] = {198, 18, 0, 2};
inline const uint8_t kStaticPeerMac[6] = {0x02, 0, 0, 0, 0, 2};

struct HostBed {
  GuardedPool pool;
  SinkDriver* wire = nullptr;    // the host's port
  SinkDriver* kernel = nullptr;  // the exception path's port
  std::unique_ptr<lr::Port> port, kport;
  std::map<uint8_t, std::unique_ptr<lr::host::Host>> hosts;

  HostBed() {
    port = sink_port(&pool.pool(), &wire, true);
    kport = sink_port(&pool.pool(), &kernel, false);
  }

  // The host for configuration `bits` (bits 5 and 7 are the harness's, not the host's), reset.
  lr::host::Host& host(uint8_t bits) {
    bits &= uint8_t(~(32 | 128));
    auto& h = hosts[bits];
    if (!h) {
      h = std::make_unique<lr::host::Host>(host_config(bits), port.get());
      h->add_socket(53, false, nullptr);
      h->add_socket(7, false, nullptr);
      h->set_slots(1);
    }
    release_held(*h);
    for (auto& e : h->neighbours().snapshot(0)) h->neighbours().remove(e.ip);
    h->neighbours().add_static(lr::host::IpAddr::v4(kStaticPeer4), kStaticPeerMac);
    wire->sent.clear();
    kernel->sent.clear();
    return *h;
  }

  // What send() left waiting for a neighbour goes back to the pool, as at stop.
  void release_held(lr::host::Host& h) {
    lr::Mbuf* held[16];
    while (uint32_t k = h.neighbours().drain(held, 16)) pool.pool().free_bulk(nullptr, held, k);
  }
};

inline HostBed& host_bed() {
  static HostBed b;
  return b;
}

}  // namespace fuzz
