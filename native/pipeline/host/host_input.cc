// The host layer's receive path (HostStage, host_stage.h): header checks,
// ARP, neighbour discovery, echo, and UDP demultiplexing to sockets.
#include <algorithm>
#include <cstring>

#include "core/net_arp_icmp.h"
#include "pipeline/handler.h"
#include "pipeline/host/host_clock.h"
#include "pipeline/host/host_fast_path.h"
#include "pipeline/host/host_stage.h"
#include "pipeline/js_channel.h"

namespace lr::host {

using namespace net;

namespace {
const uint8_t kAllNodes[16] = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
const uint8_t kAllNodesMac[6] = {0x33, 0x33, 0, 0, 0, 1};

IpAddr addr4(const uint8_t* b) {
  IpAddr a{};
  a.family = 4;
  std::memcpy(a.b, b, 4);
  return a;
}
IpAddr addr6(const uint8_t* b) {
  IpAddr a{};
  a.family = 6;
  std::memcpy(a.b, b, 16);
  return a;
}
// Ethernet's minimum frame without FCS (IEEE 802.3 clause 3.2.8): answers built
// in place are padded to it, since the wire needs it and drivers do not pad.
void pad_min(Mbuf* m) {
  if (m->data_len < 60) {
    std::memset(m->data() + m->data_len, 0, 60 - m->data_len);
    m->data_len = 60;
  }
}
}  // namespace

HostStage::HostStage(Host* host, TxBuffer tx, std::unique_ptr<TxBuffer> to_kernel, std::vector<SocketSink> sinks,
                     Mempool* pool, Mempool::Cache* cache, uint32_t slot)
    : host_(host), tx_(tx), kernel_(std::move(to_kernel)), sinks_(std::move(sinks)), pool_(pool), cache_(cache),
      slot_(slot), out_(host, &tx_, pool, cache, slot), c_(host->counters(slot)) {}

template <int Families>
uint32_t HostStage::fast_loop(Mbuf** m, uint16_t n, uint64_t now) {
  const FastRx h = FastRx::of(*host_);
  uint32_t delivered = 0;
  Run r = run_state_;
  for (uint16_t i = 0; i < n; i++) {
    FastUdp f;
    Mbuf* x = m[i];
    if (!fast_udp<Families>(h, x->data(), x->data_len, &f)) {
      run_state_ = r;  // input() may deliver too, after what this loop delivered
      input(x, now);
      r = run_state_;
      continue;
    }
    delivered++;
    to_socket(r, x, f.data_len, 14, f.family, f.socket);
  }
  run_state_ = r;
  return delivered;
}

void HostStage::process(Mbuf** m, uint16_t n) {
  const uint64_t now = host_now_ns();
  const HostConfig& cfg = host_->config();
  uint32_t delivered = 0;
  if (!fast_ || cfg.vlan != 0) {
    for (uint16_t i = 0; i < n; i++) input(m[i], now);
  } else if (cfg.has4 && cfg.has6) {
    delivered = fast_loop<0>(m, n, now);
  } else if (cfg.has4) {
    delivered = fast_loop<4>(m, n, now);
  } else if (cfg.has6) {
    delivered = fast_loop<6>(m, n, now);
  } else {
    for (uint16_t i = 0; i < n; i++) input(m[i], now);
  }
  if (delivered) c_.udp_in.add(delivered);
  flush_run(run_state_);
  out_.tick(now);
}

void HostStage::flush() {
  tx_.flush();
  if (kernel_) kernel_->flush();
  out_.tick(host_now_ns());
}

void HostStage::drain() {
  tx_.drop_all();
  if (kernel_) kernel_->drop_all();
  for (auto& s : sinks_)
    if (s.channel) s.channel->batcher.drop_all(*pool_);
}

void HostStage::pass(Mbuf* m, Counter& why) {
  why.add(1);
  if (kernel_) {
    c_.to_kernel.add(1);
    kernel_->push(&m, 1);
  } else {
    pool_->free_one(cache_, m);
  }
}

void HostStage::send_here(Mbuf* m) { tx_.push(&m, 1); }

void HostStage::flush_run(Run& r) {
  if (!r.n) return;
  const uint32_t n = r.n;
  r.n = 0;
  SocketSink& s = sinks_[r.socket];
  host_->sockets()[r.socket].slots[slot_].rx.add(n);
  if (s.channel) {
    uint32_t idx[64];
    for (uint32_t i = 0; i < n; i++) idx[i] = pool_->index_of(run_[i]);
    s.channel->batcher.add(*s.channel, *pool_, cache_, idx, n);
  } else if (s.inline_queue) {
    s.inline_queue->accept(run_, n);
  } else {
    // A socket with no consumer on this queue cannot happen once started; never leak.
    c_.udp_ring_full.add(n);
    pool_->free_bulk(cache_, run_, n);
  }
}

void HostStage::input(Mbuf* m, uint64_t now) {
  const uint8_t* d = m->data();
  const uint32_t len = m->data_len;
  if (len < sizeof(EthHdr)) return pass(m, c_.malformed);
  uint32_t l3 = 14;
  uint16_t type = uint16_t(d[12] << 8 | d[13]);
  uint16_t vid = 0;
  if (type == kEtherTypeVlan) {  // one 802.1Q tag (IEEE 802.1Q clause 9.6): VID is the TCI's low 12 bits
    if (len < 18) return pass(m, c_.malformed);
    vid = uint16_t((d[14] & 0x0f) << 8 | d[15]);
    type = uint16_t(d[16] << 8 | d[17]);
    l3 = 18;
  }
  // A priority-tagged frame (VID 0) on an untagged host counts as another VLAN: its
  // IP header is at 18 where the host's replies and its handlers' views put it at 14.
  if (vid != host_->config().vlan || (l3 == 18 && vid == 0)) return pass(m, c_.vlan_mismatch);
  // Our unicast MAC, or a group address (broadcast ARP, IPv6 multicast); the
  // IP checks below decide whether a group frame is ours.
  if (!is_group_mac(d) && std::memcmp(d, host_->mac().data(), 6) != 0) return pass(m, c_.not_ours);
  switch (type) {
    case kEtherTypeArp:
      return arp_in(m, l3, now);
    case kEtherTypeIPv4:
      return ipv4_in(m, l3);
    case kEtherTypeIPv6:
      return ipv6_in(m, l3, now);
    default:
      return pass(m, c_.not_ours);
  }
}

void HostStage::arp_in(Mbuf* m, uint32_t l3, uint64_t now) {
  const HostConfig& cfg = host_->config();
  if (!cfg.has4) return pass(m, c_.arp_other);
  if (m->data_len < l3 + sizeof(ArpHdr)) return pass(m, c_.arp_bad);
  uint8_t* d = m->data();
  auto* a = reinterpret_cast<ArpHdr*>(d + l3);
  if (cfg.owner == Owner::Kernel) {
    // The kernel answers; on its way there an ARP packet still tells us a MAC we are resolving.
    if (ntohs(a->htype) == 1 && ntohs(a->ptype) == kEtherTypeIPv4 && a->hlen == 6 && a->plen == 4 && !is_zero(a->spa, 4) &&
        !is_group_mac(a->sha))
      out_.learn(addr4(a->spa), a->sha, false, now);
    return pass(m, c_.arp_other);
  }
  const uint16_t op = ntohs(a->op);
  // Ethernet/IPv4 ARP only (RFC 826: ar$hrd 1, ar$pro 0x0800, 6- and 4-byte addresses).
  if (ntohs(a->htype) != 1 || ntohs(a->ptype) != kEtherTypeIPv4 || a->hlen != 6 || a->plen != 4 ||
      (op != kArpRequest && op != kArpReply) || is_group_mac(a->sha) || std::memcmp(a->sha, host_->mac().data(), 6) == 0)
    return pass(m, c_.arp_bad);
  const bool probe = is_zero(a->spa, 4);  // an address probe (RFC 5227 section 2.1.1): nothing to learn
  if (!host_->is_mine4(a->tpa)) {
    // RFC 826's merge step: refresh a sender we know, but add no one who does not address us.
    if (!probe) out_.learn(addr4(a->spa), a->sha, false, now, false);
    return pass(m, c_.arp_other);
  }
  if (!probe) out_.learn(addr4(a->spa), a->sha, true, now);
  if (op == kArpReply) {
    c_.arp_replies_in.add(1);
    pool_->free_one(cache_, m);
    return;
  }
  c_.arp_requests_in.add(1);
  // The reply, in place (RFC 826 "Packet Reception"): swap sender and target, our MAC as sender.
  uint8_t peer_mac[6], peer_ip[4];
  std::memcpy(peer_mac, a->sha, 6);
  std::memcpy(peer_ip, a->spa, 4);
  a->op = htons(kArpReply);
  std::memcpy(a->tha, peer_mac, 6);
  std::memcpy(a->tpa, peer_ip, 4);
  std::memcpy(a->sha, host_->mac().data(), 6);
  std::memcpy(a->spa, cfg.ip4, 4);
  build_eth(d, peer_mac, host_->mac().data(), cfg.vlan, kEtherTypeArp);
  m->data_len = uint16_t(l3 + sizeof(ArpHdr));
  pad_min(m);
  c_.arp_replies_out.add(1);
  send_here(m);
}

void HostStage::ipv4_in(Mbuf* m, uint32_t l3) {
  const HostConfig& cfg = host_->config();
  uint8_t* d = m->data();
  if (m->data_len < l3 + sizeof(Ipv4Hdr)) return pass(m, c_.ip_bad_header);
  auto* ip = reinterpret_cast<Ipv4Hdr*>(d + l3);
  const uint32_t ihl = uint32_t(ip->ver_ihl & 0xf) * 4;
  if ((ip->ver_ihl >> 4) != 4 || ihl < 20) return pass(m, c_.ip_bad_header);
  const uint32_t total = ntohs(ip->total_len);
  if (total < ihl || l3 + total > m->data_len) return pass(m, c_.ip_bad_length);
  // A header that includes its checksum sums to all ones (RFC 791 section 3.1, RFC 1071).
  if (!ipv4_header_ok(ip, ihl)) return pass(m, c_.ip_bad_csum);
  m->data_len = uint16_t(l3 + total);  // drop Ethernet padding
  if (!host_->is_mine4(ip->dst)) return pass(m, c_.not_ours);
  // Never answer a source that cannot be one: this network, multicast, broadcast,
  // or ourselves (RFC 1122 section 3.2.1.3, RFC 1812 section 5.3.7).
  if (ip->src[0] == 0 || ip->src[0] >= 224 || host_->is_mine4(ip->src)) return pass(m, c_.ip_bad_header);
  if (ihl > 20) return pass(m, c_.ip_options);
  // MF set or a fragment offset: part of a datagram; no reassembly here (RFC 791 section 3.2).
  if (ntohs(ip->frag) & 0x3fff) return pass(m, c_.ip_fragments);
  if (ip->proto == kProtoUdp) return udp_in(m, l3, l3 + ihl, 4);
  if (ip->proto == kProtoIcmp && cfg.owner == Owner::Linerate) return icmp_echo4(m, l3, ihl);
  pass(m, c_.ip_other_proto);
}

void HostStage::icmp_echo4(Mbuf* m, uint32_t l3, uint32_t ihl) {
  uint8_t* d = m->data();
  auto* ip = reinterpret_cast<Ipv4Hdr*>(d + l3);
  const uint32_t ilen = m->data_len - l3 - ihl;
  if (ilen < 8) return pass(m, c_.icmp_other);
  auto* icmp = reinterpret_cast<IcmpHdr*>(d + l3 + ihl);
  if (csum_fold(csum_partial(icmp, ilen)) != 0xffff) return pass(m, c_.icmp_bad_csum);
  if (icmp->type != kIcmpEchoRequest || icmp->code != 0) return pass(m, c_.icmp_other);
  c_.icmp_echo_in.add(1);
  // Echo reply (RFC 792): same identifier, sequence and data; type 0; addresses swapped.
  icmp->type = kIcmpEchoReply;
  icmp->csum = 0;
  icmp->csum = htons(uint16_t(~csum_fold(csum_partial(icmp, ilen))));
  uint8_t peer_mac[6];
  std::memcpy(peer_mac, d + 6, 6);
  std::memcpy(ip->dst, ip->src, 4);
  std::memcpy(ip->src, host_->config().ip4, 4);
  ip->ttl = host_->config().ttl;
  ip->frag = 0;
  ip->csum = 0;
  ip->csum = ipv4_header_csum(ip);
  build_eth(d, peer_mac, host_->mac().data(), host_->config().vlan, kEtherTypeIPv4);
  pad_min(m);
  c_.icmp_echo_out.add(1);
  send_here(m);
}

void HostStage::ipv6_in(Mbuf* m, uint32_t l3, uint64_t now) {
  uint8_t* d = m->data();
  if (m->data_len < l3 + sizeof(Ipv6Hdr)) return pass(m, c_.ip_bad_header);
  auto* ip = reinterpret_cast<Ipv6Hdr*>(d + l3);
  if ((d[l3] >> 4) != 6) return pass(m, c_.ip_bad_header);
  const uint32_t plen = ntohs(ip->payload_len);
  if (l3 + sizeof(Ipv6Hdr) + plen > m->data_len) return pass(m, c_.ip_bad_length);
  m->data_len = uint16_t(l3 + sizeof(Ipv6Hdr) + plen);
  const bool unicast = host_->is_mine6(ip->dst);
  const bool group = !unicast && (host_->is_my_solicited6(ip->dst) || std::memcmp(ip->dst, kAllNodes, 16) == 0);
  if (!unicast && !group) return pass(m, c_.not_ours);
  // A multicast source is never valid (RFC 4291 section 2.7).
  if (ip->src[0] == 0xff) return pass(m, c_.ip_bad_header);
  if (ip->next == kProtoIcmp6) return icmp6_in(m, l3, unicast, now);
  if (ip->next == kProtoUdp && unicast) return udp_in(m, l3, l3 + sizeof(Ipv6Hdr), 6);
  switch (ip->next) {
    case 0: case 43: case 44: case 50: case 51: case 60: case 135: case 139: case 140:  // RFC 8200 section 4; IANA ext headers
      return pass(m, c_.ip_ext_headers);
    default:
      return pass(m, c_.ip_other_proto);
  }
}

void HostStage::icmp6_in(Mbuf* m, uint32_t l3, bool unicast, uint64_t now) {
  const HostConfig& cfg = host_->config();
  uint8_t* d = m->data();
  auto* ip = reinterpret_cast<Ipv6Hdr*>(d + l3);
  uint8_t* msg = d + l3 + sizeof(Ipv6Hdr);
  const uint32_t mlen = m->data_len - l3 - sizeof(Ipv6Hdr);
  if (mlen < sizeof(IcmpHdr)) return pass(m, c_.icmp_other);
  if (!icmp6_csum_ok(ip, msg, mlen)) return pass(m, c_.icmp_bad_csum);
  auto* icmp = reinterpret_cast<IcmpHdr*>(msg);
  if (cfg.owner == Owner::Kernel) {
    // The kernel answers; a valid advertisement on its way there updates an entry we are resolving.
    if (icmp->type == kNdNeighbourAdvert && ip->hop_limit == kNdHopLimit && mlen >= sizeof(IcmpHdr) + sizeof(NdBody)) {
      bool bad = false;
      auto* body = reinterpret_cast<NdBody*>(msg + sizeof(IcmpHdr));
      const uint8_t* ll = nd_find_lladdr(msg + sizeof(IcmpHdr) + sizeof(NdBody), mlen - sizeof(IcmpHdr) - sizeof(NdBody), kNdOptTargetLl, &bad);
      if (ll && !bad) out_.learn(addr6(body->target), ll, false, now, (ntohl(body->flags) & kNaSolicited) != 0);
    }
    return pass(m, c_.icmp_other);
  }
  const bool nd = icmp->type == kNdNeighbourSolicit || icmp->type == kNdNeighbourAdvert;
  if (nd) {
    // Validation common to NS and NA (RFC 4861 sections 7.1.1 and 7.1.2): hop
    // limit 255 (the sender is on-link), code 0, at least 24 bytes, options well formed.
    if (ip->hop_limit != kNdHopLimit || icmp->code != 0 || mlen < sizeof(IcmpHdr) + sizeof(NdBody)) return pass(m, c_.nd_bad);
    auto* body = reinterpret_cast<NdBody*>(msg + sizeof(IcmpHdr));
    bool bad = false;
    const uint8_t* opts = msg + sizeof(IcmpHdr) + sizeof(NdBody);
    const size_t olen = mlen - sizeof(IcmpHdr) - sizeof(NdBody);
    const bool solicit = icmp->type == kNdNeighbourSolicit;
    const uint8_t* ll = nd_find_lladdr(opts, olen, solicit ? kNdOptSourceLl : kNdOptTargetLl, &bad);
    if (bad || body->target[0] == 0xff) return pass(m, c_.nd_bad);
    if (!solicit) {
      c_.nd_adverts_in.add(1);
      // An advertisement updates an entry we have (or are resolving); it creates none (RFC 4861 section 7.2.5).
      if (ll) out_.learn(addr6(body->target), ll, false, now, (ntohl(body->flags) & kNaSolicited) != 0);
      pool_->free_one(cache_, m);
      return;
    }
    const bool dad = is_zero(ip->src, 16);
    // From the unspecified address: a duplicate address check, which must go to the
    // solicited-node group and carry no source link-layer option (RFC 4861 section 7.1.1).
    if (dad && (ll || unicast)) return pass(m, c_.nd_bad);
    if (!host_->is_mine6(body->target)) return pass(m, c_.nd_other);
    c_.nd_solicits_in.add(1);
    if (ll) out_.learn(addr6(ip->src), ll, true, now, false);
    // The advertisement, in place (RFC 4861 section 7.2.4): to the solicitor, or
    // to all nodes for a duplicate address check; solicited unless DAD; override.
    uint8_t peer_mac[6], dst[16];
    if (dad) {
      std::memcpy(peer_mac, kAllNodesMac, 6);
      std::memcpy(dst, kAllNodes, 16);
    } else {
      std::memcpy(peer_mac, ll ? ll : d + 6, 6);
      std::memcpy(dst, ip->src, 16);
    }
    if (is_group_mac(peer_mac) && !dad) return pass(m, c_.nd_bad);
    std::memcpy(ip->dst, dst, 16);
    std::memcpy(ip->src, cfg.ip6, 16);
    ip->vtc_flow = htonl(6u << 28);
    ip->hop_limit = kNdHopLimit;
    ip->payload_len = htons(uint16_t(kNdMessageLen));
    icmp->type = kNdNeighbourAdvert;
    icmp->code = 0;
    body->flags = htonl((dad ? 0 : kNaSolicited) | kNaOverride);
    std::memcpy(body->target, cfg.ip6, 16);
    uint8_t* o = msg + sizeof(IcmpHdr) + sizeof(NdBody);
    o[0] = kNdOptTargetLl;
    o[1] = 1;
    std::memcpy(o + 2, host_->mac().data(), 6);
    icmp->csum = icmp6_csum(ip, msg, kNdMessageLen);
    build_eth(d, peer_mac, host_->mac().data(), cfg.vlan, kEtherTypeIPv6);
    m->data_len = uint16_t(l3 + sizeof(Ipv6Hdr) + kNdMessageLen);
    c_.nd_adverts_out.add(1);
    return send_here(m);
  }
  if (icmp->type == kIcmp6EchoRequest && icmp->code == 0 && unicast && mlen >= 8) {
    c_.icmp6_echo_in.add(1);
    // Echo reply (RFC 4443 section 4.2): identifier, sequence and data unchanged.
    uint8_t peer_mac[6];
    std::memcpy(peer_mac, d + 6, 6);
    std::memcpy(ip->dst, ip->src, 16);
    std::memcpy(ip->src, cfg.ip6, 16);
    ip->hop_limit = cfg.ttl;
    icmp->type = kIcmp6EchoReply;
    icmp->csum = icmp6_csum(ip, msg, mlen);
    build_eth(d, peer_mac, host_->mac().data(), cfg.vlan, kEtherTypeIPv6);
    pad_min(m);
    c_.icmp6_echo_out.add(1);
    return send_here(m);
  }
  pass(m, c_.icmp_other);
}

void HostStage::udp_in(Mbuf* m, uint32_t l3, uint32_t l4, uint8_t family) {
  uint8_t* d = m->data();
  if (m->data_len < l4 + sizeof(UdpHdr)) return pass(m, c_.udp_bad_length);
  auto* udp = reinterpret_cast<UdpHdr*>(d + l4);
  const uint32_t ulen = ntohs(udp->len);
  if (ulen < sizeof(UdpHdr) || l4 + ulen > m->data_len) return pass(m, c_.udp_bad_length);
  const uint16_t s = host_->socket_for(ntohs(udp->dport));
  if (s == Host::kNoSocket) {
    if (!kernel_ && host_->config().icmp_unreachable && host_->config().owner == Owner::Linerate) return port_unreachable(m, l3, family);
    return pass(m, c_.udp_no_listener);
  }
  const bool ok = family == 4 ? udp4_csum_ok(reinterpret_cast<Ipv4Hdr*>(d + l3), udp, ulen)
                              : udp6_csum_ok(reinterpret_cast<Ipv6Hdr*>(d + l3), udp, ulen);
  if (!ok) {
    c_.udp_bad_csum.add(1);
    pool_->free_one(cache_, m);
    return;
  }
  c_.udp_in.add(1);
  to_socket(run_state_, m, uint16_t(l4 + ulen), uint8_t(l3), family, s);
}

inline void HostStage::to_socket(Run& r, Mbuf* m, uint16_t data_len, uint8_t l3, uint8_t family, uint16_t socket) {
  m->data_len = data_len;
  HostMeta* mt = meta(m);
  mt->family = family;
  mt->l3_off = l3;
  mt->socket = socket;
  m->flags |= kMbufHostDatagram;
  if ((socket != r.socket && r.n) || r.n == 64) flush_run(r);
  r.socket = socket;
  run_[r.n++] = m;
}

void HostStage::port_unreachable(Mbuf* m, uint32_t l3, uint8_t family) {
  c_.udp_no_listener.add(1);
  if (!host_->icmp_error_allowed(host_now_ns())) {
    pool_->free_one(cache_, m);
    return;
  }
  const HostConfig& cfg = host_->config();
  uint8_t* d = m->data();
  const uint32_t in_len = m->data_len - l3;  // the datagram that caused it, from its IP header
  const uint32_t room = pool_->slot_size() - m->data_off;
  uint8_t peer_mac[6];
  std::memcpy(peer_mac, d + 6, 6);
  uint32_t len;
  if (family == 4) {
    // Its IP header and the first 8 bytes of its data (RFC 792, "Destination Unreachable Message").
    const uint32_t quote = std::min<uint32_t>(in_len, uint32_t(d[l3] & 0xf) * 4 + 8);
    len = l3 + 20 + 8 + quote;
    if (len > room) return pass(m, c_.icmp_other);
    std::memmove(d + l3 + 28, d + l3, quote);
    auto* ip = reinterpret_cast<Ipv4Hdr*>(d + l3);
    auto* q = reinterpret_cast<const Ipv4Hdr*>(d + l3 + 28);
    ip->ver_ihl = 0x45;
    ip->tos = 0;
    ip->total_len = htons(uint16_t(28 + quote));
    ip->id = 0;
    ip->frag = htons(0x4000);
    ip->ttl = cfg.ttl;
    ip->proto = kProtoIcmp;
    std::memcpy(ip->dst, q->src, 4);
    std::memcpy(ip->src, cfg.ip4, 4);
    ip->csum = 0;
    ip->csum = ipv4_header_csum(ip);
    uint8_t* icmp = d + l3 + 20;
    icmp[0] = kIcmpUnreachable;
    icmp[1] = 3;  // port unreachable
    std::memset(icmp + 2, 0, 6);
    const uint16_t c = htons(uint16_t(~csum_fold(csum_partial(icmp, 8 + quote))));
    std::memcpy(icmp + 2, &c, 2);
  } else {
    // As much of it as fits the IPv6 minimum MTU (RFC 4443 section 3.1).
    const uint32_t quote = std::min<uint32_t>(in_len, 1280 - 48);
    len = l3 + 48 + quote;
    if (len > room) return pass(m, c_.icmp_other);
    std::memmove(d + l3 + 48, d + l3, quote);
    auto* ip = reinterpret_cast<Ipv6Hdr*>(d + l3);
    auto* q = reinterpret_cast<const Ipv6Hdr*>(d + l3 + 48);
    ip->vtc_flow = htonl(6u << 28);
    ip->payload_len = htons(uint16_t(8 + quote));
    ip->next = kProtoIcmp6;
    ip->hop_limit = cfg.ttl;
    std::memcpy(ip->dst, q->src, 16);
    std::memcpy(ip->src, cfg.ip6, 16);
    uint8_t* icmp = d + l3 + 40;
    icmp[0] = 1;  // destination unreachable
    icmp[1] = 4;  // port unreachable
    std::memset(icmp + 2, 0, 6);
    const uint16_t c = icmp6_csum(ip, icmp, 8 + quote);
    std::memcpy(icmp + 2, &c, 2);
  }
  build_eth(d, peer_mac, host_->mac().data(), cfg.vlan, family == 4 ? kEtherTypeIPv4 : kEtherTypeIPv6);
  m->data_len = uint16_t(len);
  m->flags &= ~kMbufHostDatagram;
  pad_min(m);
  c_.icmp_unreach_out.add(1);
  send_here(m);
}

}  // namespace lr::host
