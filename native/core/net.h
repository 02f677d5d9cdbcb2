// Wire formats the data plane reads and writes: Ethernet II (IEEE 802.3 clause 3),
// IPv4 (RFC 791), IPv6 (RFC 8200), UDP (RFC 768), and the Internet checksum
// (RFC 1071, incremental update per RFC 1624). All multi-byte fields are in
// network byte order; packets are read with memcpy-free casts of packed structs
// because mbuf data is at least 2-byte aligned (data_off is a multiple of 64).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/checksum.h"

namespace lr::net {

constexpr uint16_t kEtherTypeIPv4 = 0x0800;
constexpr uint16_t kEtherTypeIPv6 = 0x86DD;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;

struct __attribute__((packed)) EthHdr {
  uint8_t dst[6];
  uint8_t src[6];
  uint16_t type;  // big-endian
};
struct __attribute__((packed)) Ipv4Hdr {
  uint8_t ver_ihl;  // version 4 in the high nibble, header length in 32-bit words
  uint8_t tos;
  uint16_t total_len;
  uint16_t id;
  uint16_t frag;
  uint8_t ttl;
  uint8_t proto;
  uint16_t csum;
  uint8_t src[4];
  uint8_t dst[4];
};
struct __attribute__((packed)) Ipv6Hdr {
  uint32_t vtc_flow;
  uint16_t payload_len;
  uint8_t next;
  uint8_t hop_limit;
  uint8_t src[16];
  uint8_t dst[16];
};
struct __attribute__((packed)) UdpHdr {
  uint16_t sport;
  uint16_t dport;
  uint16_t len;
  uint16_t csum;
};
static_assert(sizeof(EthHdr) == 14 && sizeof(Ipv4Hdr) == 20 && sizeof(Ipv6Hdr) == 40 && sizeof(UdpHdr) == 8);

inline uint16_t bswap16(uint16_t v) { return __builtin_bswap16(v); }
inline uint16_t ntohs(uint16_t v) { return bswap16(v); }
inline uint16_t htons(uint16_t v) { return bswap16(v); }
inline uint32_t htonl(uint32_t v) { return __builtin_bswap32(v); }
inline uint32_t ntohl(uint32_t v) { return __builtin_bswap32(v); }

// One's-complement sum of a byte range, plus sum (an earlier result, or small
// host-order values a caller added to one), as a host-order number not yet
// inverted; below 2^18, so callers may add small values and pass it back in.
// Hot paths use csum_acc (core/checksum.h) directly and fold once.
inline uint32_t csum_partial(const void* data, size_t len, uint32_t sum = 0) {
  return uint32_t(csum_acc_fold_host(csum_acc(data, len))) + (sum & 0xffff) + (sum >> 16);
}
inline uint16_t csum_fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(sum);
}
// True when an IPv4 header of ihl bytes, checksum included, sums to all ones
// (RFC 791 section 3.1, RFC 1071 section 1).
inline bool ipv4_header_ok(const Ipv4Hdr* ip, size_t ihl) { return csum_acc_fold(csum_acc(ip, ihl)) == 0xffff; }
// IPv4 header checksum (RFC 791 section 3.1), ready to store.
uint16_t ipv4_header_csum(const Ipv4Hdr* ip);

// The value (host order) a UDP or TCP checksum field gets from the one's-
// complement sum of all it covers (pseudo-header, header with the field as the
// caller left it, data): the complement of the sum, except that a computed 0 is
// sent as 0xffff. For UDP a zero field means "no checksum" (RFC 768), which UDP
// over IPv6 must never send (RFC 8200 section 8.1: receivers drop it). In one's
// complement 0x0000 and 0xffff are the same number (RFC 1624 section 3), so a
// TCP receiver (RFC 793 section 3.1) verifies either; doing it for both is what
// the Linux stack does when it finishes a partial checksum.
inline uint16_t l4_csum_value(uint32_t sum) {
  const uint16_t c = uint16_t(~csum_fold(sum));
  return c ? c : 0xffff;
}

// Finishes a partial UDP/TCP checksum in place, the step a NIC with transmit
// checksum offload does for a CHECKSUM_PARTIAL packet: sums the L4 segment
// [l4, l4 + len) as it is, plus seed, and stores l4_csum_value() big-endian at
// l4 + field (6 for UDP, 16 for TCP). Two ways to call it: the field already
// holds the folded pseudo-header sum and seed is 0 (virtio-net NEEDS_CSUM,
// virtio 1.2 section 5.1.6.4.1; Linux CHECKSUM_PARTIAL), or the field is zero
// and seed is the pseudo-header sum (af_packet, which recomputes it).
// The caller checks that field + 2 <= len.
void finish_l4_csum(uint8_t* l4, size_t len, size_t field, uint32_t seed = 0);
// The pseudo-header's sum as a csum_acc accumulator: RFC 768 (IPv4: addresses,
// protocol, length) and RFC 8200 section 8.1 (IPv6: addresses, 32-bit length,
// next header).
uint64_t pseudo4_acc(const Ipv4Hdr* ip, size_t len, uint8_t proto);
uint64_t pseudo6_acc(const Ipv6Hdr* ip, size_t len, uint8_t next);
// UDP checksum over the pseudo-header (RFC 768; RFC 8200 section 8.1 for IPv6),
// with the header's checksum field counted as zero, ready to store.
uint16_t udp4_csum(const Ipv4Hdr* ip, const UdpHdr* udp, size_t udp_len);
uint16_t udp6_csum(const Ipv6Hdr* ip, const UdpHdr* udp, size_t udp_len);

// An Ethernet/IPv4/UDP frame of the given total length (>= 42), from
// 198.18.0.1:9 to 198.18.0.2:9 (RFC 2544 benchmark range, discard port), with
// valid lengths and checksums. The default content of null ports.
std::vector<uint8_t> udp4_frame(uint16_t frame_len, const uint8_t src_mac[6], const uint8_t dst_mac[6]);

}  // namespace lr::net
