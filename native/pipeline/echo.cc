#include "pipeline/echo.h"

#include <algorithm>
#include <cstring>

#include "core/net.h"

namespace lr {

namespace {
template <size_t N>
void swap_bytes(uint8_t* a, uint8_t* b) {
  uint8_t t[N];
  std::memcpy(t, a, N);
  std::memcpy(a, b, N);
  std::memcpy(b, t, N);
}
}  // namespace

EchoResult echo_rewrite(uint8_t* data, uint32_t len) {
  using namespace net;
  if (len < sizeof(EthHdr)) return EchoResult::Runt;
  // I/G bit, the least significant bit of the first octet (IEEE 802-2014 clause
  // 8.2.2): set in broadcast and multicast destinations. Swapped, it would
  // become the reply's source, which must be an individual address (a group
  // address is never a frame's source, IEEE 802.3 clause 3.2.3).
  if (data[0] & 1) return EchoResult::GroupDst;
  swap_bytes<6>(data, data + 6);
  uint32_t off = 12;
  uint16_t type = uint16_t(data[off] << 8 | data[off + 1]);
  off += 2;
  // One 802.1Q tag (IEEE 802.1Q clause 9.3): TPID 0x8100, then TCI, then the type.
  if (type == kEtherTypeVlan && len >= off + 4) {
    type = uint16_t(data[off + 2] << 8 | data[off + 3]);
    off += 4;
  }
  if (type == kEtherTypeIPv4 && len >= off + sizeof(Ipv4Hdr)) {
    auto* ip = reinterpret_cast<Ipv4Hdr*>(data + off);
    const uint32_t ihl = uint32_t(ip->ver_ihl & 0xf) * 4;
    if ((ip->ver_ihl >> 4) != 4 || ihl < 20 || len < off + ihl) return EchoResult::Ok;
    swap_bytes<4>(ip->src, ip->dst);
    // The UDP header is in the fragment at offset 0, whether MF is set (a first
    // fragment) or not (an unfragmented datagram); a non-zero fragment offset
    // (the low 13 bits, RFC 791 section 3.1) means the bytes after the IP header
    // are data. Every fragment but the last carries a multiple of 8 bytes, so a
    // first fragment holds the whole 8-byte header. Swapping its ports keeps the
    // datagram's checksum valid, as every swap here does (echo.h).
    const uint16_t frag = ntohs(ip->frag);
    if (ip->proto == kProtoUdp && (frag & 0x1fff) == 0 && len >= off + ihl + sizeof(UdpHdr)) {
      auto* udp = reinterpret_cast<UdpHdr*>(data + off + ihl);
      const uint16_t t = udp->sport;
      udp->sport = udp->dport;
      udp->dport = t;
    }
  } else if (type == kEtherTypeIPv6 && len >= off + sizeof(Ipv6Hdr)) {
    auto* ip = reinterpret_cast<Ipv6Hdr*>(data + off);
    if ((data[off] >> 4) != 6) return EchoResult::Ok;
    swap_bytes<16>(ip->src, ip->dst);
    // Extension headers are not walked: UDP directly after the fixed header only.
    if (ip->next == kProtoUdp && len >= off + sizeof(Ipv6Hdr) + sizeof(UdpHdr)) {
      auto* udp = reinterpret_cast<UdpHdr*>(data + off + sizeof(Ipv6Hdr));
      const uint16_t t = udp->sport;
      udp->sport = udp->dport;
      udp->dport = t;
    }
  }
  return EchoResult::Ok;
}

void EchoStage::process(Mbuf** m, uint16_t n) {
  uint16_t keep = 0;
  for (uint16_t i = 0; i < n; i++) {
    const EchoResult r = echo_rewrite(m[i]->data(), m[i]->data_len);
    if (r != EchoResult::Ok) {
      (r == EchoResult::Runt ? tx_.stats()->malformed : tx_.stats()->group_dst).add(1);
      pool_->free_one(tx_.cache(), m[i]);
      continue;
    }
    m[keep++] = m[i];
  }
  tx_.push(m, keep);
}

}  // namespace lr
