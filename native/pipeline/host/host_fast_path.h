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

// d: the frame, len: its length. mac: our MAC; ip4: our address as stored
// (network order), valid only when the host has IPv4 and no VLAN (the caller checks).
inline bool fast_udp4(const Host& host, const uint8_t* d, uint32_t len, const uint8_t mac[6], uint32_t ip4,
                      FastUdp4* out) {
  constexpr uint32_t kL3 = 14, kL4 = 34;
  if (len < kL4 + 8) return false;
  // EtherType IPv4 (not a VLAN tag), and our unicast MAC (a group address takes the general path).
  if (d[12] != 0x08 || d[13] != 0x00 || std::memcmp(d, mac, 6) != 0) return false;
  const uint8_t* ip = d + kL3;
  uint64_t w0, w1;
  uint32_t w2;
  std::memcpy(&w0, ip, 8);       // version/IHL, TOS, total length, ID, flags/fragment offset
  std::memcpy(&w1, ip + 8, 8);   // TTL, protocol, header checksum, source
  std::memcpy(&w2, ip + 16, 4);  // destination
  // Version 4, IHL 5 (no options: RFC 791 section 3.1), protocol UDP.
  if ((w0 & 0xff) != 0x45 || ((w1 >> 8) & 0xff) != net::kProtoUdp) return false;
  // Not a fragment: MF clear and offset 0 (the big-endian field's low 14 bits, 0xff3f as loaded).
  if ((w0 >> 48) & 0xff3f) return false;
  const uint32_t total = net::ntohs(uint16_t(w0 >> 16));
  if (total < 28 || kL3 + total > len) return false;
  // To us, from a source that can be one (not 0/8, multicast or reserved, or ourselves: RFC 1122 section 3.2.1.3).
  const uint32_t src = uint32_t(w1 >> 32);
  if (w2 != ip4 || src == ip4 || (src & 0xff) == 0 || (src & 0xff) >= 224) return false;
  // The header, its checksum included, sums to all ones (RFC 791 section 3.1, RFC 1071).
  const uint64_t hsum = (w0 & 0xffffffffu) + (w0 >> 32) + (w1 & 0xffffffffu) + (w1 >> 32) + w2;
  if (net::csum_acc_fold(hsum) != 0xffff) return false;
  const uint8_t* udp = d + kL4;
  uint16_t ulen_be, dport_be, csum;
  std::memcpy(&dport_be, udp + 2, 2);
  std::memcpy(&ulen_be, udp + 4, 2);
  std::memcpy(&csum, udp + 6, 2);
  const uint32_t ulen = net::ntohs(ulen_be);
  if (ulen < 8 || kL4 + ulen > kL3 + total) return false;
  const uint16_t s = host.socket_for(net::ntohs(dport_be));
  if (s == Host::kNoSocket) return false;
  // The UDP checksum (RFC 768): zero means the sender computed none; otherwise the
  // pseudo-header (addresses from the words above, protocol, length), header and
  // data sum to all ones.
  if (csum != 0) {
    const uint64_t pseudo = uint64_t(src) + w2 + net::htons(net::kProtoUdp) + ulen_be;
    if (net::csum_acc_fold(net::csum_acc(udp, ulen, pseudo)) != 0xffff) return false;
  }
  out->socket = s;
  out->data_len = uint16_t(kL4 + ulen);
  return true;
}

}  // namespace lr::host
