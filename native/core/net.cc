#include "core/net.h"

#include <cstring>

namespace lr::net {

uint32_t csum_partial(const void* data, size_t len, uint32_t sum) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  // The sum of 16-bit big-endian words, an odd last byte padded with zero (RFC 1071
  // section 4.1). Taken here 64 bits at a time in the machine's byte order into a
  // 64-bit accumulator (two 32-bit halves per step, so no carry is lost), folded to
  // 16 bits and swapped to big-endian at the end: the one's complement sum does not
  // depend on byte order (RFC 1071 section 2(B)) and may be accumulated with deferred
  // carries (section 2(C)). Eight bytes a step instead of two: the host layer sums
  // every datagram twice (verify, then the reply's checksum).
  uint64_t acc = 0;
  while (len >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    acc += (w & 0xffffffffu) + (w >> 32);
    p += 8;
    len -= 8;
  }
  if (len >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    acc += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    acc += w;
    p += 2;
    len -= 2;
  }
  if (len) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    acc += p[0];  // [p0, 0] read in little-endian order
#else
    acc += uint32_t(p[0]) << 8;
#endif
  }
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  acc = ((acc & 0xff) << 8) | (acc >> 8);
#endif
  // Callers add small values to the result and pass it back in: keep it below 2^31.
  uint64_t total = uint64_t(sum) + acc;
  while (total >> 31) total = (total & 0xffff) + (total >> 16);
  return uint32_t(total);
}

uint16_t ipv4_header_csum(const Ipv4Hdr* ip) {
  Ipv4Hdr copy;
  const size_t hl = size_t(ip->ver_ihl & 0xf) * 4;
  std::memcpy(&copy, ip, sizeof copy);
  copy.csum = 0;
  uint32_t s = csum_partial(&copy, sizeof copy);
  if (hl > sizeof copy) s = csum_partial(reinterpret_cast<const uint8_t*>(ip) + sizeof copy, hl - sizeof copy, s);
  return htons(uint16_t(~csum_fold(s)));
}

// A computed zero is sent as all ones: zero means "no checksum" (RFC 768).
static uint16_t udp_finish(uint32_t s) { return htons(l4_csum_value(s)); }

void finish_l4_csum(uint8_t* l4, size_t len, size_t field, uint32_t seed) {
  const uint16_t c = l4_csum_value(csum_partial(l4, len, seed));
  l4[field] = uint8_t(c >> 8);
  l4[field + 1] = uint8_t(c);
}

uint16_t udp4_csum(const Ipv4Hdr* ip, const UdpHdr* udp, size_t udp_len) {
  uint32_t s = csum_partial(ip->src, 8);
  s += kProtoUdp;
  s += uint32_t(udp_len);
  UdpHdr h = *udp;
  h.csum = 0;
  s = csum_partial(&h, sizeof h, s);
  s = csum_partial(reinterpret_cast<const uint8_t*>(udp) + sizeof h, udp_len - sizeof h, s);
  return udp_finish(s);
}

uint16_t udp6_csum(const Ipv6Hdr* ip, const UdpHdr* udp, size_t udp_len) {
  uint32_t s = csum_partial(ip->src, 32);
  s += uint32_t(udp_len >> 16) + uint32_t(udp_len & 0xffff);
  s += kProtoUdp;
  UdpHdr h = *udp;
  h.csum = 0;
  s = csum_partial(&h, sizeof h, s);
  s = csum_partial(reinterpret_cast<const uint8_t*>(udp) + sizeof h, udp_len - sizeof h, s);
  return udp_finish(s);
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
