#include "pipeline/match.h"

#include "core/net.h"

namespace lr {

bool Match::operator()(const Mbuf* m) const {
  using namespace net;
  if (empty()) return true;
  const uint8_t* d = m->data();
  const uint32_t len = m->data_len;
  if (len < sizeof(EthHdr)) return false;
  uint32_t off = 12;
  uint16_t type = uint16_t(d[off] << 8 | d[off + 1]);
  off += 2;
  if (type == kEtherTypeVlan && len >= off + 4) {
    type = uint16_t(d[off + 2] << 8 | d[off + 3]);
    off += 4;
  }
  if (ethertype >= 0 && type != uint16_t(ethertype)) return false;
  const bool want_l4 = ip_proto >= 0 || udp_dst_port >= 0 || tcp_dst_port >= 0 || dst_port >= 0;
  if (!want_l4) return true;
  uint8_t proto;
  uint32_t l4;
  bool ports_here;
  if (type == kEtherTypeIPv4 && len >= off + sizeof(Ipv4Hdr)) {
    auto* ip = reinterpret_cast<const Ipv4Hdr*>(d + off);
    const uint32_t ihl = uint32_t(ip->ver_ihl & 0xf) * 4;
    if (ihl < 20) return false;
    proto = ip->proto;
    l4 = off + ihl;
    // Later fragments carry no ports (RFC 791 section 3.2: fragment offset != 0).
    ports_here = (ntohs(ip->frag) & 0x1fff) == 0;
  } else if (type == kEtherTypeIPv6 && len >= off + sizeof(Ipv6Hdr)) {
    auto* ip = reinterpret_cast<const Ipv6Hdr*>(d + off);
    proto = ip->next;
    l4 = off + sizeof(Ipv6Hdr);
    ports_here = true;
  } else {
    return false;
  }
  if (ip_proto >= 0 && proto != uint8_t(ip_proto)) return false;
  const bool want_port = udp_dst_port >= 0 || tcp_dst_port >= 0 || dst_port >= 0;
  if (!want_port) return true;
  if (!ports_here || len < l4 + 4) return false;
  const uint16_t dport = uint16_t(d[l4 + 2] << 8 | d[l4 + 3]);
  if (udp_dst_port >= 0 && !(proto == kProtoUdp && dport == udp_dst_port)) return false;
  if (tcp_dst_port >= 0 && !(proto == kProtoTcp && dport == tcp_dst_port)) return false;
  if (dst_port >= 0 && !((proto == kProtoUdp || proto == kProtoTcp) && dport == dst_port)) return false;
  return true;
}

}  // namespace lr
