#include "core/net_arp_icmp.h"

#include <cstring>

namespace lr::net {


uint16_t icmp6_csum(const Ipv6Hdr* ip, const uint8_t* msg, size_t len) {
  // The checksum field itself (bytes 2-3) counts as zero.
  uint64_t acc = csum_acc(msg, 2, pseudo6_acc(ip, len, kProtoIcmp6));
  if (len > 4) acc = csum_acc(msg + 4, len - 4, acc);
  return uint16_t(~csum_acc_fold(acc));  // machine order: stored as it is
}

bool icmp6_csum_ok(const Ipv6Hdr* ip, const uint8_t* msg, size_t len) {
  // A message that includes its own checksum sums to all ones (RFC 1071 section 1).
  return csum_acc_fold(csum_acc(msg, len, pseudo6_acc(ip, len, kProtoIcmp6))) == 0xffff;
}

bool udp4_csum_ok(const Ipv4Hdr* ip, const UdpHdr* udp, size_t udp_len) {
  if (udp->csum == 0) return true;  // the sender computed none (RFC 768)
  return csum_acc_fold(csum_acc(udp, udp_len, pseudo4_acc(ip, udp_len, kProtoUdp))) == 0xffff;
}

bool udp6_csum_ok(const Ipv6Hdr* ip, const UdpHdr* udp, size_t udp_len) {
  if (udp->csum == 0) return false;  // mandatory over IPv6 (RFC 8200 section 8.1)
  return csum_acc_fold(csum_acc(udp, udp_len, pseudo6_acc(ip, udp_len, kProtoUdp))) == 0xffff;
}

void solicited_node(const uint8_t addr[16], uint8_t out[16]) {
  static const uint8_t prefix[13] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
  std::memcpy(out, prefix, 13);
  std::memcpy(out + 13, addr + 13, 3);
}

void ipv6_multicast_mac(const uint8_t group[16], uint8_t mac[6]) {
  mac[0] = 0x33;
  mac[1] = 0x33;
  std::memcpy(mac + 2, group + 12, 4);
}

const uint8_t* nd_find_lladdr(const uint8_t* opts, size_t len, uint8_t type, bool* bad) {
  *bad = false;
  const uint8_t* found = nullptr;
  while (len >= 2) {
    const size_t olen = size_t(opts[1]) * 8;
    if (olen == 0 || olen > len) {
      *bad = true;  // RFC 4861 section 4.6: a zero-length option means drop the packet
      return nullptr;
    }
    // Ethernet's link-layer address option is 8 bytes: type, length 1, the MAC (RFC 2464 section 8).
    if (opts[0] == type && olen == 8 && !found) found = opts + 2;
    opts += olen;
    len -= olen;
  }
  return found;
}

size_t build_arp_request(uint8_t* f, const uint8_t mac[6], const uint8_t ip[4], const uint8_t target[4], uint16_t vlan) {
  static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  const size_t l3 = build_eth(f, bcast, mac, vlan, kEtherTypeArp);
  auto* a = reinterpret_cast<ArpHdr*>(f + l3);
  a->htype = htons(1);
  a->ptype = htons(kEtherTypeIPv4);
  a->hlen = 6;
  a->plen = 4;
  a->op = htons(kArpRequest);
  std::memcpy(a->sha, mac, 6);
  std::memcpy(a->spa, ip, 4);
  std::memset(a->tha, 0, 6);
  std::memcpy(a->tpa, target, 4);
  // Pad to the 60-byte Ethernet minimum (IEEE 802.3 clause 3.2.8), as drivers do not.
  const size_t len = l3 + sizeof(ArpHdr);
  if (len < 60) std::memset(f + len, 0, 60 - len);
  return len < 60 ? 60 : len;
}

namespace {
size_t build_nd(uint8_t* f, const uint8_t mac[6], const uint8_t src[16], const uint8_t dst[16], uint16_t vlan, uint8_t type,
                uint32_t flags, const uint8_t target[16], uint8_t opt) {
  uint8_t dmac[6];
  ipv6_multicast_mac(dst, dmac);
  const size_t l3 = build_eth(f, dmac, mac, vlan, kEtherTypeIPv6);
  auto* ip = reinterpret_cast<Ipv6Hdr*>(f + l3);
  ip->vtc_flow = htonl(6u << 28);
  ip->payload_len = htons(uint16_t(kNdMessageLen));
  ip->next = kProtoIcmp6;
  ip->hop_limit = kNdHopLimit;
  std::memcpy(ip->src, src, 16);
  std::memcpy(ip->dst, dst, 16);
  uint8_t* msg = f + l3 + sizeof(Ipv6Hdr);
  auto* icmp = reinterpret_cast<IcmpHdr*>(msg);
  icmp->type = type;
  icmp->code = 0;
  icmp->csum = 0;
  auto* body = reinterpret_cast<NdBody*>(msg + sizeof(IcmpHdr));
  body->flags = htonl(flags);
  std::memcpy(body->target, target, 16);
  uint8_t* o = msg + sizeof(IcmpHdr) + sizeof(NdBody);
  o[0] = opt;
  o[1] = 1;
  std::memcpy(o + 2, mac, 6);
  icmp->csum = icmp6_csum(ip, msg, kNdMessageLen);
  return l3 + sizeof(Ipv6Hdr) + kNdMessageLen;
}
}  // namespace

size_t build_neighbour_solicit(uint8_t* f, const uint8_t mac[6], const uint8_t ip[16], const uint8_t target[16], uint16_t vlan) {
  uint8_t group[16];
  solicited_node(target, group);
  return build_nd(f, mac, ip, group, vlan, kNdNeighbourSolicit, 0, target, kNdOptSourceLl);
}

size_t build_unsolicited_na(uint8_t* f, const uint8_t mac[6], const uint8_t ip[16], uint16_t vlan) {
  static const uint8_t all_nodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
  return build_nd(f, mac, ip, all_nodes, vlan, kNdNeighbourAdvert, kNaOverride, ip, kNdOptTargetLl);
}

}  // namespace lr::net
