// The receive fast path: the one shape nearly all of a UDP service's traffic
// has (untagged IPv4 with a 20-byte header, not a fragment, UDP to a bound port,
// checksums right), checked in one straight line with each header word loaded
// once. It only ever decides "deliver": anything else, including anything it
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

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "fast_udp4 reads wire headers as little-endian words");

struct FastUdp4 {
  uint16_t socket;
  uint16_t data_len;  // Ethernet + IP + the UDP length: what input() trims the packet to
};

// What the checks need from the host, read once per burst into registers (the
// packet's bytes are read through byte pointers, which may alias anything, so
// members would be reloaded for every datagram).
struct FastRx4 {
  uint64_t mac;            // our MAC in the low six bytes, as loaded from the wire
  uint32_t ip4;            // our address as stored (network order)
  const uint16_t* demux;   // Host::demux(): UDP port -> socket
  static FastRx4 of(const Host& host) {
    FastRx4 r{};
    std::memcpy(&r.mac, host.mac().data(), 6);
    std::memcpy(&r.ip4, host.config().ip4, 4);
    r.demux = host.demux();
    return r;
  }
};

// d: the frame, len: its length. Valid only when the host has IPv4 and no VLAN
// (the caller checks).
[[gnu::always_inline]] inline bool fast_udp4(const FastRx4& h, const uint8_t* d, uint32_t len, FastUdp4* out) {
  constexpr uint32_t kL3 = 14, kL4 = 34;
  if (len < kL4 + 8) return false;
  // Our unicast MAC (a group address takes the general path), and EtherType IPv4 (not a VLAN tag).
  uint64_t e0;
  uint16_t type;
  std::memcpy(&e0, d, 8);
  std::memcpy(&type, d + 12, 2);
  if ((e0 & 0xffffffffffffull) != h.mac || type != 0x0008) return false;
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
  out->socket = s;
  out->data_len = uint16_t(kL4 + ulen);
  return true;
}

}  // namespace lr::host
