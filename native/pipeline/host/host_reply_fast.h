// The reply fast path: a handler's reply to an untagged datagram on a port
// without checksum offload (the shape nearly all of a UDP service's replies
// have), built in one straight line per family. It must send exactly the bytes
// HostOut's general path (checked_l4, turn_around, finish_udp) sends, and it
// only ever decides "send": anything else, or anything it is not sure of,
// returns false with nothing changed, and the general path decides and counts.
// test/native/host_reply_fast_test compares the two, byte for byte.
//
// Why: the general path stores into the packet through byte pointers, which
// may alias anything, so GCC reloaded the host's configuration after every
// store, for every datagram (perf, bench/udp's null run: about half of the
// reply's instructions). Here what the host gives is read once per burst
// (ReplyFast::of) and stays in registers, the request's fields are loaded as
// words, and every store comes after the last load.
#pragma once
#include <cstdint>
#include <cstring>

#include "core/checksum.h"
#include "core/mbuf.h"
#include "core/net.h"
#include "pipeline/host/host.h"

namespace lr::host {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the reply fast path builds wire headers as little-endian words");

struct ReplyFast {
  uint64_t eth0;     // bytes 0-7 of the Ethernet header: our MAC's first two bytes at 6-7 (the peer's MAC is or-ed in)
  uint64_t eth6_4;   // bytes 6-13: our MAC and EtherType IPv4 (IEEE 802.3 clause 3.2)
  uint64_t eth6_6;   // the same with EtherType IPv6
  uint64_t ip6[2];   // our IPv6 address as stored
  uint32_t ip4;      // our IPv4 address as stored (network order)
  uint32_t ttl;      // TTL and hop limit
  uint32_t nsock;    // sockets: a HostMeta::socket below this is one
  uint32_t slot;     // the pool's slot size: a packet must end inside its slot

  static ReplyFast of(const Host& host, uint32_t slot_size) {
    ReplyFast r{};
    uint64_t m8 = 0;
    std::memcpy(&m8, host.mac().data(), 6);
    r.eth0 = m8 << 48;
    r.eth6_4 = m8 | uint64_t(net::htons(net::kEtherTypeIPv4)) << 48;
    r.eth6_6 = m8 | uint64_t(net::htons(net::kEtherTypeIPv6)) << 48;
    const HostConfig& cfg = host.config();
    std::memcpy(r.ip6, cfg.ip6, 16);
    std::memcpy(&r.ip4, cfg.ip4, 4);
    r.ttl = cfg.ttl;
    r.nsock = uint32_t(host.sockets().size());
    r.slot = slot_size;
    return r;
  }
};

// Checks common to both families (checked_l4's): the HostMeta JS may have
// written, the packet inside its slot, room for the UDP header at l4; and the
// sender's MAC, which must not be a group address. Returns that MAC (its six
// bytes in the low bits) through peer_mac.
[[gnu::always_inline]] inline bool reply_fast_checks(const Mbuf* m, const ReplyFast& r, uint32_t l4, uint64_t* peer_mac) {
  const HostMeta* mt = meta(m);
  if (mt->l3_off != 14 || mt->socket >= r.nsock) return false;
  const uint32_t len = m->data_len;
  if (m->data_off < kMbufHeaderSize || uint32_t(m->data_off) + len > r.slot) return false;
  if (len < l4 + sizeof(net::UdpHdr)) return false;  // (data_len is 16 bits: the IP length fields cannot overflow)
  uint64_t mac;  // bytes 6-13 as loaded: the sender's MAC in the low six bytes
  std::memcpy(&mac, m->data() + 6, 8);
  if (mac & 1) return false;  // a group source (IEEE 802 I/G bit) is not one to answer
  *peer_mac = mac & 0xffffffffffffull;
  return true;
}

// The UDP header of a reply (our port, the sender's, the length) and its
// checksum's sum so far: pseudo-header length and protocol (RFC 768; RFC 8200
// section 8.1), the header, and the payload. Addresses are the caller's to add.
[[gnu::always_inline]] inline uint64_t reply_udp(const uint8_t* udp, uint32_t ulen, uint64_t* uh) {
  uint32_t ports;
  std::memcpy(&ports, udp, 4);  // the sender's port, then ours
  const uint32_t swapped = ports >> 16 | ports << 16;
  const uint16_t ulen_be = net::htons(uint16_t(ulen));
  *uh = uint64_t(swapped) | uint64_t(ulen_be) << 32;
  const uint64_t acc = uint64_t(ulen_be) + net::htons(net::kProtoUdp) + swapped + ulen_be;
  return net::csum_acc(udp + sizeof(net::UdpHdr), ulen - sizeof(net::UdpHdr), acc);
}

// The folded UDP checksum into the header word; a computed zero is sent as all
// ones: zero means "no checksum" (RFC 768), and UDP over IPv6 must never carry it
// (RFC 8200 section 8.1).
[[gnu::always_inline]] inline uint64_t with_udp_csum(uint64_t uh, uint64_t acc) {
  uint16_t c = uint16_t(~net::csum_acc_fold(acc));
  if (c == 0) c = 0xffff;
  return uh | uint64_t(c) << 48;
}

[[gnu::always_inline]] inline bool reply4(Mbuf* m, const ReplyFast& r) {
  constexpr uint32_t kL3 = 14, kL4 = 34;
  uint64_t peer_mac;
  if (!reply_fast_checks(m, r, kL4, &peer_mac)) return false;
  uint8_t* d = m->data();
  const uint32_t len = m->data_len;
  uint32_t peer_ip;
  const uint8_t tos = d[kL3 + 1];
  std::memcpy(&peer_ip, d + kL3 + 12, 4);  // the sender's address (RFC 791 section 3.1)
  uint64_t uh;
  uint64_t acc = reply_udp(d + kL4, len - kL4, &uh);
  acc += uint64_t(r.ip4) + peer_ip;
  // IPv4 header words as in finish_udp: version/IHL 0x45, TOS kept, total
  // length, ID 0 and DF (RFC 6864 section 4.1), TTL, protocol, checksum, source.
  const uint64_t w0 = 0x45u | uint64_t(tos) << 8 | uint64_t(net::htons(uint16_t(len - kL3))) << 16 |
                      uint64_t(net::htons(0x4000)) << 48;
  uint64_t w1 = uint64_t(r.ttl) | uint64_t(net::kProtoUdp) << 8 | uint64_t(r.ip4) << 32;
  const uint64_t hacc = (w0 & 0xffffffffu) + (w0 >> 32) + (w1 & 0xffffffffu) + (w1 >> 32) + peer_ip;
  w1 |= uint64_t(uint16_t(~net::csum_acc_fold(hacc))) << 16;
  uh = with_udp_csum(uh, acc);
  const uint64_t e0 = peer_mac | r.eth0;
  std::memcpy(d, &e0, 8);
  std::memcpy(d + 6, &r.eth6_4, 8);
  std::memcpy(d + kL3, &w0, 8);
  std::memcpy(d + kL3 + 8, &w1, 8);
  std::memcpy(d + kL3 + 16, &peer_ip, 4);
  std::memcpy(d + kL4, &uh, 8);
  return true;
}

[[gnu::always_inline]] inline bool reply6(Mbuf* m, const ReplyFast& r) {
  constexpr uint32_t kL3 = 14, kL4 = 54;
  uint64_t peer_mac;
  if (!reply_fast_checks(m, r, kL4, &peer_mac)) return false;
  uint8_t* d = m->data();
  const uint32_t len = m->data_len;
  uint64_t peer[2];
  std::memcpy(peer, d + kL3 + 8, 16);  // the sender's address (RFC 8200 section 3)
  uint64_t uh;
  uint64_t acc = reply_udp(d + kL4, len - kL4, &uh);
  for (uint64_t w : {r.ip6[0], r.ip6[1], peer[0], peer[1]}) acc += (w & 0xffffffffu) + (w >> 32);
  // Bytes 0-7 as in finish_udp: version 6, traffic class and flow label 0,
  // payload length, next header UDP, hop limit.
  const uint64_t w0 = uint64_t(net::htonl(6u << 28)) | uint64_t(net::htons(uint16_t(len - kL4))) << 32 |
                      uint64_t(net::kProtoUdp) << 48 | uint64_t(r.ttl & 0xff) << 56;
  uh = with_udp_csum(uh, acc);
  const uint64_t e0 = peer_mac | r.eth0;
  std::memcpy(d, &e0, 8);
  std::memcpy(d + 6, &r.eth6_6, 8);
  std::memcpy(d + kL3, &w0, 8);
  std::memcpy(d + kL3 + 8, r.ip6, 16);
  std::memcpy(d + kL3 + 24, peer, 16);
  std::memcpy(d + kL4, &uh, 8);
  return true;
}

// One reply: the family's fast path, or false for the general path. Families:
// the host's, as for fast_udp (4 or 6: that one only; 0: both). A datagram of a
// family the host does not have is the general path's to drop and count.
template <int Families>
[[gnu::always_inline]] inline bool reply_fast(Mbuf* m, const ReplyFast& r) {
  const uint8_t family = meta(m)->family;
  bool done = false;
  if (Families != 6 && family == 4) done = reply4(m, r);
  else if (Families != 4 && family == 6) done = reply6(m, r);
  if (done) m->flags &= ~kMbufHostDatagram;
  return done;
}

}  // namespace lr::host
