// Wire formats of the host layer's control protocols, next to core/net.h's
// Ethernet/IP/UDP: ARP (RFC 826), ICMP echo (RFC 792), ICMPv6 (RFC 4443) and
// IPv6 neighbour discovery (RFC 4861). Parsers take lengths they were given and
// never read past them; builders write into a buffer the caller sized.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/net.h"

namespace lr::net {

constexpr uint16_t kEtherTypeArp = 0x0806;
constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoIcmp6 = 58;

// ARP for IPv4 over Ethernet (RFC 826; field sizes fixed by hrd = 1, pro = 0x0800).
struct __attribute__((packed)) ArpHdr {
  uint16_t htype;  // 1: Ethernet
  uint16_t ptype;  // 0x0800
  uint8_t hlen;    // 6
  uint8_t plen;    // 4
  uint16_t op;     // 1 request, 2 reply
  uint8_t sha[6];
  uint8_t spa[4];
  uint8_t tha[6];
  uint8_t tpa[4];
};
static_assert(sizeof(ArpHdr) == 28);
constexpr uint16_t kArpRequest = 1;
constexpr uint16_t kArpReply = 2;

// ICMP (RFC 792) and ICMPv6 (RFC 4443 section 2.1) share the first four bytes.
struct __attribute__((packed)) IcmpHdr {
  uint8_t type;
  uint8_t code;
  uint16_t csum;
};
constexpr uint8_t kIcmpEchoReply = 0;
constexpr uint8_t kIcmpEchoRequest = 8;
constexpr uint8_t kIcmpUnreachable = 3;
constexpr uint8_t kIcmp6EchoRequest = 128;  // RFC 4443 section 4.1
constexpr uint8_t kIcmp6EchoReply = 129;    // RFC 4443 section 4.2
constexpr uint8_t kNdNeighbourSolicit = 135;  // RFC 4861 section 4.3
constexpr uint8_t kNdNeighbourAdvert = 136;   // RFC 4861 section 4.4

// Neighbour solicitation and advertisement bodies after the ICMPv6 header
// (RFC 4861 sections 4.3 and 4.4): 4 bytes (reserved, or R/S/O flags) then the target.
struct __attribute__((packed)) NdBody {
  uint32_t flags;  // NA: bit 31 Router, 30 Solicited, 29 Override; NS: reserved
  uint8_t target[16];
};
constexpr uint32_t kNaSolicited = 0x40000000u;
constexpr uint32_t kNaOverride = 0x20000000u;
constexpr uint8_t kNdOptSourceLl = 1;  // RFC 4861 section 4.6.1
constexpr uint8_t kNdOptTargetLl = 2;
constexpr uint8_t kNdHopLimit = 255;   // ND messages must arrive with 255 (RFC 4861 sections 7.1.1, 7.1.2)
// ICMPv6 header + NdBody + one 8-byte link-layer address option.
constexpr size_t kNdMessageLen = sizeof(IcmpHdr) + sizeof(NdBody) + 8;

inline bool is_group_mac(const uint8_t* mac) { return mac[0] & 1; }  // IEEE 802 I/G bit
inline bool is_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

// ICMPv6 checksum over the IPv6 pseudo-header (RFC 4443 section 2.3, RFC 8200 section 8.1), ready to store.
uint16_t icmp6_csum(const Ipv6Hdr* ip, const uint8_t* msg, size_t len);
// Verifies a received ICMPv6 message's checksum.
bool icmp6_csum_ok(const Ipv6Hdr* ip, const uint8_t* msg, size_t len);
// True when a received UDP datagram's checksum is right (an IPv4 zero means none, RFC 768).
bool udp4_csum_ok(const Ipv4Hdr* ip, const UdpHdr* udp, size_t udp_len);
bool udp6_csum_ok(const Ipv6Hdr* ip, const UdpHdr* udp, size_t udp_len);

// The solicited-node multicast address of a unicast address: ff02::1:ff00:0/104
// plus its low 24 bits (RFC 4291 section 2.7.1), and its Ethernet group address
// 33:33 + the low 32 bits of the IPv6 address (RFC 2464 section 7).
void solicited_node(const uint8_t addr[16], uint8_t out[16]);
void ipv6_multicast_mac(const uint8_t group[16], uint8_t mac[6]);

// The link-layer address option of type `type` in an ND message's options
// (RFC 4861 section 4.6: 8-byte units, a zero length is invalid), or nullptr.
// *bad is set when an option is malformed (the message must be dropped).
const uint8_t* nd_find_lladdr(const uint8_t* opts, size_t len, uint8_t type, bool* bad);

// Builders. Each writes a whole Ethernet frame at `f` (room: the returned length,
// at most 86 bytes) and returns its length. `vlan` 0: untagged; else one 802.1Q
// tag with that VLAN id (IEEE 802.1Q clause 9.6).
// Inline: every reply the host sends calls it.
inline size_t build_eth(uint8_t* f, const uint8_t dst[6], const uint8_t src[6], uint16_t vlan, uint16_t type) {
  std::memcpy(f, dst, 6);
  std::memcpy(f + 6, src, 6);
  size_t off = 12;
  if (vlan) {
    f[12] = 0x81;
    f[13] = 0x00;
    f[14] = uint8_t(vlan >> 8 & 0x0f);  // PCP 0, DEI 0, VID (IEEE 802.1Q clause 9.6)
    f[15] = uint8_t(vlan);
    off = 16;
  }
  f[off] = uint8_t(type >> 8);
  f[off + 1] = uint8_t(type);
  return off + 2;
}
// ARP request for `target` (broadcast; `tha` zero) or a gratuitous one (target = own address).
size_t build_arp_request(uint8_t* f, const uint8_t mac[6], const uint8_t ip[4], const uint8_t target[4], uint16_t vlan);
// Neighbour solicitation for `target`, multicast to its solicited-node group, with our source link-layer option.
size_t build_neighbour_solicit(uint8_t* f, const uint8_t mac[6], const uint8_t ip[16], const uint8_t target[16], uint16_t vlan);
// Unsolicited neighbour advertisement to all nodes (ff02::1) with the override flag (RFC 4861 section 7.2.6).
size_t build_unsolicited_na(uint8_t* f, const uint8_t mac[6], const uint8_t ip[16], uint16_t vlan);

}  // namespace lr::net
