#include "core/net.h"

#include <cstring>

namespace lr::net {

// The checksum field counts as zero (RFC 791 section 3.1). Adding its
// complement cancels it (x + ~x is all ones, one's-complement zero, RFC 1624
// section 3) without a copy of the header; the two zeros would only differ if
// the rest summed to zero, which a header with version 4 and a protocol number
// (or a pseudo-header with one, below) never does.
uint16_t ipv4_header_csum(const Ipv4Hdr* ip) {
  const size_t hl = size_t(ip->ver_ihl & 0xf) * 4;
  uint64_t acc = csum_acc(ip, hl > sizeof(Ipv4Hdr) ? hl : sizeof(Ipv4Hdr));
  acc += uint16_t(~ip->csum);
  return uint16_t(~csum_acc_fold(acc));  // machine order: stored as it is
}

void finish_l4_csum(uint8_t* l4, size_t len, size_t field, uint32_t seed) {
  const uint16_t c = l4_csum_value(csum_partial(l4, len, seed));
  l4[field] = uint8_t(c >> 8);
  l4[field + 1] = uint8_t(c);
}

// A computed zero is sent as all ones: zero means "no checksum" (RFC 768).
// Machine order, so the test for zero and the value are the wire's.
static uint16_t udp_field(uint64_t acc) {
  const uint16_t c = uint16_t(~csum_acc_fold(acc));
  return c ? c : 0xffff;
}

uint64_t pseudo4_acc(const Ipv4Hdr* ip, size_t len, uint8_t proto) {
  // RFC 768: source, destination, zero, protocol, UDP length.
  return csum_acc_u16(uint16_t(len), csum_acc_u16(proto, csum_acc(ip->src, 8)));
}

uint64_t pseudo6_acc(const Ipv6Hdr* ip, size_t len, uint8_t next) {
  // RFC 8200 section 8.1: addresses, 32-bit upper-layer length, zeros, next header.
  uint64_t acc = csum_acc(ip->src, 32);
  acc = csum_acc_u16(uint16_t(len >> 16), acc);
  acc = csum_acc_u16(uint16_t(len), acc);
  return csum_acc_u16(next, acc);
}

uint16_t udp4_csum(const Ipv4Hdr* ip, const UdpHdr* udp, size_t udp_len) {
  uint64_t acc = csum_acc(udp, udp_len, pseudo4_acc(ip, udp_len, kProtoUdp));
  acc += uint16_t(~udp->csum);  // the field counts as zero (see ipv4_header_csum)
  return udp_field(acc);
}

uint16_t udp6_csum(const Ipv6Hdr* ip, const UdpHdr* udp, size_t udp_len) {
  uint64_t acc = csum_acc(udp, udp_len, pseudo6_acc(ip, udp_len, kProtoUdp));
  acc += uint16_t(~udp->csum);
  return udp_field(acc);  // never zero over IPv6 (RFC 8200 section 8.1)
}

std::vector<uint8_t> udp4_frame(uint16_t frame_len, const uint8_t src_mac[6], const uint8_t dst_mac[6]) {
  if (frame_len < 42) frame_len = 42;
  std::vector<uint8_t> f(frame_len, 0);
  auto* eth = reinterpret_cast<EthHdr*>(f.data());
  std::memcpy(eth->dst, dst_mac, 6);
  std::memcpy(eth->src, src_mac, 6);
  eth->type = htons(kEtherTypeIPv4);
  auto* ip = reinterpret_cast<Ipv4Hdr*>(f.data() + 14);
  ip->ver_ihl = 0x45;
  ip->total_len = htons(uint16_t(frame_len - 14));
  ip->ttl = 64;
  ip->proto = kProtoUdp;
  const uint8_t src[4] = {198, 18, 0, 1}, dst[4] = {198, 18, 0, 2};
  std::memcpy(ip->src, src, 4);
  std::memcpy(ip->dst, dst, 4);
  ip->csum = ipv4_header_csum(ip);
  auto* udp = reinterpret_cast<UdpHdr*>(f.data() + 34);
  udp->sport = htons(9);
  udp->dport = htons(9);
  udp->len = htons(uint16_t(frame_len - 34));
  for (size_t i = 42; i < frame_len; i++) f[i] = uint8_t(i);
  udp->csum = udp4_csum(ip, udp, frame_len - 34);
  return f;
}

}  // namespace lr::net
