#include "pipeline/host/host_output.h"

#include <cstring>

#include "core/net_arp_icmp.h"
#include "pipeline/host/host_clock.h"
#include "pipeline/host/host_reply_fast.h"

namespace lr::host {

using namespace net;

void HostOut::drop(Mbuf* m, Counter& why) {
  why.add(1);
  pool_->free_one(cache_, m);
}

inline uint32_t HostOut::checked_l4(Mbuf* m) const {
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

// Headers are built as little-endian words in registers and stored whole, and
// the checksums are summed from those registers, not read back: reading 8 bytes
// that were just written as 1- and 2-byte fields stalls on store forwarding
// (the load spans several stores), which made ipv4_header_csum alone 16% of a
// reply's cost (perf, bench/udp null run). Only the payload is summed from memory.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "finish_udp builds wire headers as little-endian words");

inline void HostOut::finish_udp(Mbuf* m, uint32_t l3, uint32_t l4, uint8_t family, uint16_t sport, uint16_t dport) {
  uint8_t* d = m->data();
  const HostConfig& cfg = host_->config();
  const uint32_t ulen = m->data_len - l4;
  const uint16_t ulen_be = htons(uint16_t(ulen));
  // UDP header (RFC 768): source port, destination port, length, checksum (zero while summing).
  // Ports arrive as stored (network order).
  uint64_t uh = uint64_t(sport) | uint64_t(dport) << 16 | uint64_t(ulen_be) << 32;
  // Pseudo-header length and protocol (RFC 768; RFC 8200 section 8.1, whose
  // 32-bit length has a zero upper half here), then (unless the device sums
  // them, see below) the header and the data.
  uint64_t acc = uint64_t(ulen_be) + htons(kProtoUdp);
  const bool offload = host_->tx_csum_offload();
  if (!offload) acc = csum_acc(d + l4 + sizeof(UdpHdr), ulen - sizeof(UdpHdr), acc + (uh & 0xffffffffu) + (uh >> 32));
  if (family == 4) {
    auto* ip = reinterpret_cast<Ipv4Hdr*>(d + l3);
    uint32_t src, dst;
    std::memcpy(&src, cfg.ip4, 4);
    std::memcpy(&dst, ip->dst, 4);
    acc += uint64_t(src) + dst;
    // RFC 791 section 3.1, bytes 0-7: version 4 and IHL 5, TOS (kept), total
    // length, ID 0 (an atomic datagram, DF set and never fragmented, carries
    // no meaningful ID: RFC 6864 section 4.1), flags DF (0x4000) and offset 0.
    const uint64_t w0 = 0x45u | uint64_t(ip->tos) << 8 | uint64_t(htons(uint16_t(m->data_len - l3))) << 16 |
                        uint64_t(htons(0x4000)) << 48;
    // Bytes 8-15: TTL, protocol, checksum (zero while summing), source.
    uint64_t w1 = uint64_t(cfg.ttl) | uint64_t(kProtoUdp) << 8 | uint64_t(src) << 32;
    const uint64_t hacc = (w0 & 0xffffffffu) + (w0 >> 32) + (w1 & 0xffffffffu) + (w1 >> 32) + dst;
    w1 |= uint64_t(uint16_t(~csum_acc_fold(hacc))) << 16;
    std::memcpy(ip, &w0, 8);
    std::memcpy(reinterpret_cast<uint8_t*>(ip) + 8, &w1, 8);
  } else {
    auto* ip = reinterpret_cast<Ipv6Hdr*>(d + l3);
    ip->vtc_flow = htonl(6u << 28);
    ip->payload_len = ulen_be;
    ip->next = kProtoUdp;
    ip->hop_limit = cfg.ttl;
    std::memcpy(ip->src, cfg.ip6, 16);
    acc = csum_acc(cfg.ip6, 16, csum_acc(ip->dst, 16, acc));
  }
  uint16_t c;
  if (offload) {
    // The device sums from the UDP header to the end and stores the complement
    // (virtio 1.2 section 5.1.6.2; mbuf.h kMbufTxL4Csum): the field holds the
    // pseudo-header's sum, folded and not complemented, so that the device's
    // sum over it, the header and the data is the whole one. A device that
    // computes zero sends all ones for UDP, as Linux's skb_checksum_help does.
    c = csum_acc_fold(acc);
    m->flags |= kMbufTxL4Csum;
    m->tx_csum_start = uint16_t(l4);
    m->tx_csum_offset = 6;  // UdpHdr::csum (RFC 768)
  } else {
    // A computed zero is sent as all ones: zero means "no checksum" (RFC 768),
    // and UDP over IPv6 must never carry it (RFC 8200 section 8.1).
    c = uint16_t(~csum_acc_fold(acc));
    if (c == 0) c = 0xffff;
  }
  uh |= uint64_t(c) << 48;
  std::memcpy(d + l4, &uh, 8);
}

inline bool HostOut::turn_around(Mbuf* m) {
  const uint32_t l4 = checked_l4(m);
  if (!l4) {
    drop(m, c_->udp_bad_send);
    return false;
  }
  const HostMeta* mt = meta(m);
  const uint32_t l3 = mt->l3_off;
  uint8_t* d = m->data();
  // Back to the sender: its MAC, address and port become the destination. The
  // handler may have written over the headers; only the sender's fields are read.
  uint8_t peer_mac[6];
  std::memcpy(peer_mac, d + 6, 6);
  if (is_group_mac(peer_mac)) {
    drop(m, c_->udp_bad_send);
    return false;
  }
  build_eth(d, peer_mac, host_->mac().data(), host_->config().vlan, mt->family == 4 ? kEtherTypeIPv4 : kEtherTypeIPv6);
  // The sender's port becomes the destination; ours (the one it sent to) the source.
  const auto* udp = reinterpret_cast<const UdpHdr*>(d + l4);
  const uint16_t peer_port = udp->sport, our_port = udp->dport;
  if (mt->family == 4) {
    auto* ip = reinterpret_cast<Ipv4Hdr*>(d + l3);
    std::memcpy(ip->dst, ip->src, 4);
  } else {
    auto* ip = reinterpret_cast<Ipv6Hdr*>(d + l3);
    std::memcpy(ip->dst, ip->src, 16);
  }
  finish_udp(m, l3, l4, mt->family, our_port, peer_port);
  m->flags &= ~kMbufHostDatagram;
  return true;
}

void HostOut::reply_burst(Mbuf* const* ms, uint32_t n) {
  const HostConfig& cfg = host_->config();
  if (!fast_ || cfg.vlan != 0 || host_->tx_csum_offload()) return replies<-1>(ms, n);
  if (cfg.has4 && cfg.has6) return replies<0>(ms, n);
  if (cfg.has4) return replies<4>(ms, n);
  if (cfg.has6) return replies<6>(ms, n);
  replies<-1>(ms, n);
}

template <int Families>
void HostOut::replies(Mbuf* const* ms, uint32_t n) {
  Mbuf* out[TxBuffer::kMax];
  uint32_t k = 0;
  // Replies per socket, counted per run of one socket (a burst is usually one run).
  uint16_t run_socket = 0;
  uint32_t run = 0;
  auto count_run = [&] {
    if (run) host_->sockets()[run_socket].slots[slot_].replies.add(run);
  };
  // Read once per burst, and only when a fast path will use it.
  const ReplyFast r = Families >= 0 ? ReplyFast::of(*host_, pool_->slot_size()) : ReplyFast{};
  for (uint32_t i = 0; i < n; i++) {
    Mbuf* m = ms[i];
    // Families -1: no fast path (a VLAN, checksum offload, or the test hook).
    if (!(Families >= 0 && reply_fast<Families < 0 ? 0 : Families>(m, r)) && !turn_around(m)) continue;
    // checked_l4 (in both) proved the socket index is in range.
    const uint16_t s = meta(m)->socket;
    if (s != run_socket) {
      count_run();
      run_socket = s;
      run = 0;
    }
    run++;
    out[k++] = m;
    if (k == TxBuffer::kMax) {
      c_->udp_replies.add(k);
      tx_->push(out, uint16_t(k));
      k = 0;
    }
  }
  count_run();
  if (k) {
    c_->udp_replies.add(k);
    tx_->push(out, uint16_t(k));
  }
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
  const auto* udp = reinterpret_cast<const UdpHdr*>(d + l4);
  uint16_t sport = udp->sport;
  if (host_->socket_for(ntohs(sport)) != socket) sport = htons(host_->sockets()[socket].port);
  finish_udp(m, l3, l4, mt->family, sport, udp->dport);
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
