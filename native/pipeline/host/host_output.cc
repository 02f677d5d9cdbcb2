#include "pipeline/host/host_output.h"

#include <cstring>

#include "core/net_arp_icmp.h"
#include "pipeline/host/host_clock.h"

namespace lr::host {

using namespace net;

void HostOut::drop(Mbuf* m, Counter& why) {
  why.add(1);
  pool_->free_one(cache_, m);
}

uint32_t HostOut::checked_l4(Mbuf* m) const {
  const HostMeta* mt = meta(m);
  const HostConfig& cfg = host_->config();
  const uint32_t l3 = cfg.vlan ? 18 : 14;
  if (mt->l3_off != l3 || mt->socket >= host_->sockets().size()) return 0;
  uint32_t l4;
  if (mt->family == 4 && cfg.has4) l4 = l3 + sizeof(Ipv4Hdr);
  else if (mt->family == 6 && cfg.has6) l4 = l3 + sizeof(Ipv6Hdr);
  else return 0;
  // The packet must lie inside its own slot: JS sets data_len (and could set data_off).
  if (m->data_off < kMbufHeaderSize || uint32_t(m->data_off) + m->data_len > pool_->slot_size()) return 0;
  if (m->data_len < l4 + sizeof(UdpHdr)) return 0;
  // IPv4's total length and IPv6's payload length are 16 bits (RFC 791, RFC 8200; no jumbograms).
  if (m->data_len - l3 > 0xffff) return 0;
  return l4;
}

void HostOut::finish_udp(Mbuf* m, uint32_t l3, uint32_t l4, uint8_t family) {
  uint8_t* d = m->data();
  const HostConfig& cfg = host_->config();
  auto* udp = reinterpret_cast<UdpHdr*>(d + l4);
  const uint32_t ulen = m->data_len - l4;
  udp->len = htons(uint16_t(ulen));
  if (family == 4) {
    auto* ip = reinterpret_cast<Ipv4Hdr*>(d + l3);
    ip->ver_ihl = 0x45;
    ip->total_len = htons(uint16_t(m->data_len - l3));
    // An atomic datagram (DF set, never fragmented): its ID carries no meaning (RFC 6864 section 4.1).
    ip->id = 0;
    ip->frag = htons(0x4000);
    ip->ttl = cfg.ttl;
    ip->proto = kProtoUdp;
    std::memcpy(ip->src, cfg.ip4, 4);
    ip->csum = ipv4_header_csum(ip);
    udp->csum = udp4_csum(ip, udp, ulen);
  } else {
    auto* ip = reinterpret_cast<Ipv6Hdr*>(d + l3);
    ip->vtc_flow = htonl(6u << 28);
    ip->payload_len = htons(uint16_t(ulen));
    ip->next = kProtoUdp;
    ip->hop_limit = cfg.ttl;
    std::memcpy(ip->src, cfg.ip6, 16);
    udp->csum = udp6_csum(ip, udp, ulen);  // never zero over IPv6: udp_finish writes 0xffff (RFC 8200 section 8.1)
  }
}

void HostOut::reply(Mbuf* m) {
  const uint32_t l4 = checked_l4(m);
  if (!l4) return drop(m, c_->udp_bad_send);
  const HostMeta* mt = meta(m);
  const uint32_t l3 = mt->l3_off;
  uint8_t* d = m->data();
  // Back to the sender: its MAC, address and port become the destination. The
  // handler may have written over the headers; only the sender's fields are read.
  uint8_t peer_mac[6];
  std::memcpy(peer_mac, d + 6, 6);
  if (is_group_mac(peer_mac)) return drop(m, c_->udp_bad_send);
  build_eth(d, peer_mac, host_->mac().data(), host_->config().vlan, mt->family == 4 ? kEtherTypeIPv4 : kEtherTypeIPv6);
  auto* udp = reinterpret_cast<UdpHdr*>(d + l4);
  const uint16_t sport = udp->sport;
  udp->sport = udp->dport;
  udp->dport = sport;
  if (mt->family == 4) {
    auto* ip = reinterpret_cast<Ipv4Hdr*>(d + l3);
    std::memcpy(ip->dst, ip->src, 4);
  } else {
    auto* ip = reinterpret_cast<Ipv6Hdr*>(d + l3);
    std::memcpy(ip->dst, ip->src, 16);
  }
  finish_udp(m, l3, l4, mt->family);
  m->flags &= ~kMbufHostDatagram;
  c_->udp_replies.add(1);
  host_->sockets()[mt->socket].slots[slot_].replies.add(1);
  tx_->push(&m, 1);
}

void HostOut::send(Mbuf* m) {
  const uint32_t l4 = checked_l4(m);
  if (!l4) return drop(m, c_->udp_bad_send);
  const HostMeta* mt = meta(m);
  const uint32_t l3 = mt->l3_off;
  uint8_t* d = m->data();
  IpAddr dst{};
  dst.family = mt->family;
  if (mt->family == 4) {
    std::memcpy(dst.b, reinterpret_cast<Ipv4Hdr*>(d + l3)->dst, 4);
    // Unicast only: not 0/8, not multicast or reserved (224/4, 240/4) (RFC 1122 section 3.2.1.3, RFC 5771).
    if (dst.b[0] == 0 || dst.b[0] >= 224) return drop(m, c_->udp_bad_send);
  } else {
    std::memcpy(dst.b, reinterpret_cast<Ipv6Hdr*>(d + l3)->dst, 16);
    // Not multicast (ff00::/8) and not the unspecified address (RFC 4291 section 2.5.2).
    if (dst.b[0] == 0xff || is_zero(dst.b, 16)) return drop(m, c_->udp_bad_send);
  }
  IpAddr hop;
  if (!host_->next_hop(dst, &hop)) return drop(m, c_->no_route);
  const uint16_t socket = mt->socket;
  static const uint8_t zero_mac[6] = {};
  build_eth(d, zero_mac, host_->mac().data(), host_->config().vlan, mt->family == 4 ? kEtherTypeIPv4 : kEtherTypeIPv6);
  // From the socket's port; a socket serving several (Host::alias_socket) sends
  // from the one the datagram names when it is one of them.
  auto* udp = reinterpret_cast<UdpHdr*>(d + l4);
  if (host_->socket_for(ntohs(udp->sport)) != socket) udp->sport = htons(host_->sockets()[socket].port);
  finish_udp(m, l3, l4, mt->family);
  m->flags &= ~kMbufHostDatagram;
  c_->udp_sends.add(1);
  host_->sockets()[socket].slots[slot_].sends.add(1);
  const uint64_t now = host_now_ns();
  uint8_t mac[6];
  bool refresh = false;
  if (host_->neighbours().lookup(hop, mac, now, &refresh)) {
    std::memcpy(d, mac, 6);
    tx_->push(&m, 1);
    if (refresh) probe(hop);
    return;
  }
  c_->neighbor_misses.add(1);
  bool probe_now = false;
  switch (host_->neighbours().hold(hop, m, now, &probe_now, mac)) {
    case NeighbourTable::Hold::Dropped:  // counted by the table (NeighbourCounters::hold_drops)
      pool_->free_one(cache_, m);
      return;
    case NeighbourTable::Hold::Resolved:  // learned between the lookup and the hold
      std::memcpy(d, mac, 6);
      tx_->push(&m, 1);
      return;
    case NeighbourTable::Hold::Held:
      break;
  }
  if (probe_now) probe(hop);
}

void HostOut::learn(const IpAddr& ip, const uint8_t mac[6], bool create, uint64_t now_ns, bool confirmed) {
  Mbuf* rel[16];  // >= NeighbourOptions::hold's maximum: one call releases all
  const uint32_t n = host_->neighbours().learn(ip, mac, create, now_ns, rel, 16, confirmed);
  if (!n) return;
  for (uint32_t i = 0; i < n; i++) std::memcpy(rel[i]->data(), mac, 6);
  c_->held_sent.add(n);
  tx_->push(rel, uint16_t(n));
}

void HostOut::probe(const IpAddr& target) {
  const HostConfig& cfg = host_->config();
  if (KernelNeighbourWatch* k = host_->kernel_watch()) {
    // The kernel owns the address and gets the answers: it resolves, and the
    // watch brings the result (one netlink round trip; probes are rate limited by the table).
    c_->probes_out.add(1);
    k->request_resolution(target.family, target.b);
    return;
  }
  Mbuf* m;
  if (!pool_->alloc_bulk(cache_, &m, 1)) return;
  size_t len = 0;
  if (target.family == 4 && cfg.has4) len = build_arp_request(m->data(), host_->mac().data(), cfg.ip4, target.b, cfg.vlan);
  else if (target.family == 6 && cfg.has6) len = build_neighbour_solicit(m->data(), host_->mac().data(), cfg.ip6, target.b, cfg.vlan);
  if (!len) {
    pool_->free_one(cache_, m);
    return;
  }
  m->data_len = uint16_t(len);
  m->port = host_->port()->id();
  c_->probes_out.add(1);
  tx_->push(&m, 1);
}

void HostOut::announce() {
  const HostConfig& cfg = host_->config();
  if (cfg.owner != Owner::Linerate) return;  // the kernel announces its own addresses
  for (int fam : {4, 6}) {
    if ((fam == 4 && !cfg.has4) || (fam == 6 && !cfg.has6)) continue;
    Mbuf* m;
    if (!pool_->alloc_bulk(cache_, &m, 1)) return;
    // A gratuitous ARP is a request for our own address (RFC 5227 section 3);
    // IPv6 announces with an unsolicited NA to all nodes (RFC 4861 section 7.2.6).
    const size_t len = fam == 4 ? build_arp_request(m->data(), host_->mac().data(), cfg.ip4, cfg.ip4, cfg.vlan)
                                : build_unsolicited_na(m->data(), host_->mac().data(), cfg.ip6, cfg.vlan);
    m->data_len = uint16_t(len);
    m->port = host_->port()->id();
    c_->announces_out.add(1);
    tx_->push(&m, 1);
  }
}

void HostOut::tick(uint64_t now_ns) {
  if (!host_->tick_due(now_ns)) return;
  IpAddr probes[16];
  Mbuf* expired[64];
  uint32_t np = 0, ne = 0;
  if (!host_->neighbours().tick(now_ns, probes, 16, &np, expired, 64, &ne)) return;
  if (ne) pool_->free_bulk(cache_, expired, ne);  // counted by the table
  for (uint32_t i = 0; i < np; i++) probe(probes[i]);
}

}  // namespace lr::host
