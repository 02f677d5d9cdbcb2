// The receive fast path: the shape nearly all of a UDP service's traffic has
// (untagged IPv4 with a 20-byte header, not a fragment, or IPv6 with UDP as its
// first next header; UDP to a bound port, checksums right), checked in one
// straight line with each header word loaded once. It only ever decides "deliver": anything else, including anything it
// is not sure of, returns false with nothing changed, and HostStage::input does
// every check again and counts what it drops. So it must accept nothing input()
// would not deliver; test/native/host_fast_path_test compares the two.
//
// Why: the general path went through five calls per datagram (input, ipv4_in,
// udp_in, the checksum helpers, deliver), each re-reading the header it needed
// and summing the IPv4 header and the pseudo-header's addresses separately
// (perf, bench/udp's null run: ~40% of the host layer's cost per packet).
#pragma once
#include <cstdint>
#include <cstring>

#include "core/checksum.h"
#include "core/net.h"
#include "pipeline/host/host.h"

namespace lr::host {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "fast_udp reads wire headers as little-endian words");

struct FastUdp {
  uint16_t socket;
  uint16_t data_len;  // Ethernet + IP + the UDP length: what input() trims the packet to
  uint8_t family;     // 4 or 6
};

// What the checks need from the host, read once per burst into registers (the
// packet's bytes are read through byte pointers, which may alias anything, so
// members would be reloaded for every datagram).
struct FastRx {
  uint64_t mac;            // our MAC in the low six bytes, as loaded from the wire
  uint64_t ip6[2];         // our IPv6 address as stored
  uint32_t ip4;            // our IPv4 address as stored (network order)
  const uint16_t* demux;   // Host::demux(): UDP port -> socket
  static FastRx of(const Host& host) {
    FastRx r{};
    std::memcpy(&r.mac, host.mac().data(), 6);
    std::memcpy(r.ip6, host.config().ip6, 16);
    std::memcpy(&r.ip4, host.config().ip4, 4);
    r.demux = host.demux();
    return r;
  }
};

// IPv4 (the frame is untagged, to our MAC, EtherType IPv4: fast_udp checked).
[[gnu::always_inline]] inline bool fast_udp4(const FastRx& h, const uint8_t* d, uint32_t len, FastUdp* out) {
  constexpr uint32_t kL3 = 14, kL4 = 34;
  if (len < kL4 + 8) return false;
  const uint8_t* ip = d + kL3;
  uint64_t w0, w1;
  uint32_t w2;
  std::memcpy(&w0, ip, 8);       // version/IHL, TOS, total length, ID, flags/fragment offset
  std::memcpy(&w1, ip + 8, 8);   // TTL, protocol, header checksum, source
  std::memcpy(&w2, ip + 16, 4);  // destination
  // Version 4 and IHL 5 (no options: RFC 791 section 3.1), and not a fragment:
  // MF clear and offset 0 (the big-endian field's low 14 bits, 0xff3f as loaded).
  if ((w0 & 0xff3f0000000000ffull) != 0x45) return false;
  if (((w1 >> 8) & 0xff) != net::kProtoUdp) return false;
  const uint32_t total = net::ntohs(uint16_t(w0 >> 16));
  if (total < 28 || kL3 + total > len) return false;
  // To us, from a source that can be one (not 0/8, multicast or reserved, or ourselves: RFC 1122 section 3.2.1.3).
  const uint32_t src = uint32_t(w1 >> 32);
  if (w2 != h.ip4 || src == h.ip4 || uint8_t(src - 1) >= 223) return false;
  // The header, its checksum included, sums to all ones (RFC 791 section 3.1, RFC 1071).
  const uint64_t hsum = (w0 & 0xffffffffu) + (w0 >> 32) + (w1 & 0xffffffffu) + (w1 >> 32) + w2;
  if (net::csum_acc_fold(hsum) != 0xffff) return false;
  const uint8_t* udp = d + kL4;
  uint64_t uh;  // source port, destination port, length, checksum (RFC 768)
  std::memcpy(&uh, udp, 8);
  const uint16_t ulen_be = uint16_t(uh >> 32);
  const uint32_t ulen = net::ntohs(ulen_be);
  if (ulen < 8 || kL4 + ulen > kL3 + total) return false;
  const uint16_t s = h.demux[net::ntohs(uint16_t(uh >> 16))];
  if (s == Host::kNoSocket) return false;
  // The UDP checksum (RFC 768): zero means the sender computed none; otherwise the
  // pseudo-header (addresses from the words above, protocol, length), header and
  // data sum to all ones.
  if (uh >> 48) {
    const uint64_t pseudo = uint64_t(src) + w2 + net::htons(net::kProtoUdp) + ulen_be;
    if (net::csum_acc_fold(net::csum_acc(udp, ulen, pseudo)) != 0xffff) return false;
  }
  *out = {s, uint16_t(kL4 + ulen), 4};
  return true;
}

// IPv6 with UDP as the first next header (no extension headers), to our
// unicast address (the frame is untagged, to our MAC, EtherType IPv6).
[[gnu::always_inline]] inline bool fast_udp6(const FastRx& h, const uint8_t* d, uint32_t len, FastUdp* out) {
  constexpr uint32_t kL3 = 14, kL4 = 54;
  if (len < kL4 + 8) return false;
  const uint8_t* ip = d + kL3;
  uint64_t w0, src[2], dst[2];
  std::memcpy(&w0, ip, 8);        // version/traffic class/flow label, payload length, next header, hop limit
  std::memcpy(src, ip + 8, 16);
  std::memcpy(dst, ip + 24, 16);
  // Version 6 (RFC 8200 section 3), next header UDP.
  if ((w0 & 0xf0) != 0x60 || ((w0 >> 48) & 0xff) != net::kProtoUdp) return false;
  const uint32_t plen = net::ntohs(uint16_t(w0 >> 32));
  if (kL4 + plen > len) return false;
  // To our unicast address, from a source that is not multicast (RFC 4291 section 2.7).
  if (dst[0] != h.ip6[0] || dst[1] != h.ip6[1] || (src[0] & 0xff) == 0xff) return false;
  const uint8_t* udp = d + kL4;
  uint64_t uh;
  std::memcpy(&uh, udp, 8);
  const uint16_t ulen_be = uint16_t(uh >> 32);
  const uint32_t ulen = net::ntohs(ulen_be);
  if (ulen < 8 || ulen > plen) return false;
  const uint16_t s = h.demux[net::ntohs(uint16_t(uh >> 16))];
  if (s == Host::kNoSocket) return false;
  // The UDP checksum is mandatory over IPv6 (RFC 8200 section 8.1): a zero one is
  // the general path's to count. Pseudo-header: both addresses, length, next header.
  if (!(uh >> 48)) return false;
  uint64_t pseudo = uint64_t(ulen_be) + net::htons(net::kProtoUdp);
  for (uint64_t w : {src[0], src[1], dst[0], dst[1]}) pseudo += (w & 0xffffffffu) + (w >> 32);
  if (net::csum_acc_fold(net::csum_acc(udp, ulen, pseudo)) != 0xffff) return false;
  *out = {s, uint16_t(kL4 + ulen), 6};
  return true;
}

// d: the frame, len: its length. Valid only when the host has no VLAN (the caller checks).
// Families: 4 or 6 for a host with only that family (the other's branch is not
// compiled in: a single-family host, the usual one, pays nothing for it), 0 for both.
template <int Families>
[[gnu::always_inline]] inline bool fast_udp(const FastRx& h, const uint8_t* d, uint32_t len, FastUdp* out) {
  if (len < 14) return false;
  // Our unicast MAC (a group address takes the general path), then the EtherType (a VLAN tag is not either).
  uint64_t e0;
  uint16_t type;
  std::memcpy(&e0, d, 8);
  std::memcpy(&type, d + 12, 2);
  if ((e0 & 0xffffffffffffull) != h.mac) return false;
  if (Families != 6 && type == 0x0008) return fast_udp4(h, d, len, out);  // 0x0800 as loaded
  if (Families != 4 && type == 0xdd86) return fast_udp6(h, d, len, out);  // 0x86dd as loaded
  return false;
}

}  // namespace lr::host
