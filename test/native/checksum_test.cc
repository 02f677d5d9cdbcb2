// Finishing partial UDP/TCP checksums: the shared helper (net::finish_l4_csum),
// virtio-net's NEEDS_CSUM path (drivers/virtio_net/rx_csum.h) and af_packet's
// CHECKSUM_PARTIAL path (drivers/af_packet/checksum.h). The case that matters is
// a segment whose checksum computes to 0: it must be written as 0xffff, never 0
// (RFC 768; RFC 8200 section 8.1: a zero UDP checksum over IPv6 is dropped).
// Frames are made so that their sum is exactly that, using a reference sum
// written here (not net.cc's).
#include <cstdint>
#include <cstring>
#include <vector>

#include "check.h"
#include "core/net.h"
#include "core/net_arp_icmp.h"
#include "drivers/af_packet/checksum.h"
#include "drivers/virtio_net/rx_csum.h"

namespace net = lr::net;

namespace {

using Frame = std::vector<uint8_t>;

// RFC 1071: 16-bit big-endian words, end-around carry, an odd byte padded with zero.
uint32_t ref_add(uint32_t s, const uint8_t* p, size_t n) {
  for (size_t i = 0; i + 1 < n; i += 2) s += uint32_t(p[i]) << 8 | p[i + 1];
  if (n & 1) s += uint32_t(p[n - 1]) << 8;
  return s;
}
uint16_t ref_fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(s);
}
uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

// A frame with its L4 segment and the pseudo-header sum (RFC 768; RFC 8200 section 8.1).
struct L4Frame {
  Frame f;
  size_t l4;       // offset of the UDP/TCP header
  size_t l4len;    // header + data
  size_t field;    // checksum offset within the header: 6 UDP, 16 TCP
  uint32_t pseudo;  // unfolded pseudo-header sum
  uint16_t csum() const { return be16(&f[l4 + field]); }
  // What a receiver checks: pseudo-header + segment (with its checksum) sums to 0xffff.
  bool verifies() const { return ref_fold(ref_add(pseudo, &f[l4], l4len)) == 0xffff; }
};

const uint8_t kMacA[6] = {0x02, 0xaa, 0, 0, 0, 1}, kMacB[6] = {0x02, 0xbb, 0, 0, 0, 2};

L4Frame ipv4(uint8_t proto, size_t payload) {
  const size_t hl = proto == net::kProtoUdp ? 8 : 20;
  L4Frame r{Frame(14 + 20 + hl + payload, 0), 34, hl + payload, size_t(proto == net::kProtoUdp ? 6 : 16), 0};
  std::memcpy(&r.f[0], kMacB, 6);
  std::memcpy(&r.f[6], kMacA, 6);
  put16(&r.f[12], net::kEtherTypeIPv4);
  uint8_t* ip = &r.f[14];
  ip[0] = 0x45;
  put16(ip + 2, uint16_t(20 + r.l4len));
  ip[8] = 64;
  ip[9] = proto;
  const uint8_t src[4] = {198, 18, 0, 1}, dst[4] = {198, 18, 0, 2};
  std::memcpy(ip + 12, src, 4);
  std::memcpy(ip + 16, dst, 4);
  put16(ip + 10, uint16_t(~ref_fold(ref_add(0, ip, 20))));
  uint8_t* l4 = &r.f[r.l4];
  put16(l4, 40000);
  put16(l4 + 2, 53);
  if (proto == net::kProtoUdp) put16(l4 + 4, uint16_t(r.l4len));
  else l4[12] = 0x50;  // TCP data offset 5 (RFC 793 section 3.1)
  for (size_t i = hl; i < r.l4len; i++) l4[i] = uint8_t(i * 7);
  r.pseudo = ref_add(0, ip + 12, 8) + proto + uint32_t(r.l4len);
  return r;
}

L4Frame ipv6_udp(size_t payload) {
  L4Frame r{Frame(14 + 40 + 8 + payload, 0), 54, 8 + payload, 6, 0};
  std::memcpy(&r.f[0], kMacB, 6);
  std::memcpy(&r.f[6], kMacA, 6);
  put16(&r.f[12], net::kEtherTypeIPv6);
  uint8_t* ip = &r.f[14];
  ip[0] = 0x60;
  put16(ip + 4, uint16_t(r.l4len));
  ip[6] = net::kProtoUdp;
  ip[7] = 64;
  const uint8_t src[16] = {0xfd, 0, 0x01, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10};
  const uint8_t dst[16] = {0xfd, 0, 0x01, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20};
  std::memcpy(ip + 8, src, 16);
  std::memcpy(ip + 24, dst, 16);
  uint8_t* l4 = &r.f[r.l4];
  put16(l4, 40001);
  put16(l4 + 2, 53);
  put16(l4 + 4, uint16_t(r.l4len));
  for (size_t i = 8; i < r.l4len; i++) l4[i] = uint8_t(i * 13 + 1);
  r.pseudo = ref_add(0, ip + 8, 32) + uint32_t(r.l4len) + net::kProtoUdp;
  return r;
}

// Sets the data word at `at` (an even offset in the segment) so that pseudo +
// segment, with the checksum field zero, sums to 0xffff: the checksum computes to 0.
void force_zero_sum(L4Frame& r, size_t at) {
  uint8_t* l4 = &r.f[r.l4];
  put16(l4 + r.field, 0);
  put16(l4 + at, 0);
  put16(l4 + at, uint16_t(~ref_fold(ref_add(r.pseudo, l4, r.l4len))));
  REQUIRE(ref_fold(ref_add(r.pseudo, l4, r.l4len)) == 0xffff);
}

// As a sender's stack leaves a CHECKSUM_PARTIAL packet for the device: the
// field holds the folded pseudo-header sum, not complemented.
void seed_partial(L4Frame& r) { put16(&r.f[r.l4 + r.field], ref_fold(r.pseudo)); }

}  // namespace

TEST_CASE("l4_csum_value: the complement of the sum, a computed 0 as 0xffff") {
  CHECK(net::l4_csum_value(0x1234) == 0xedcb);
  CHECK(net::l4_csum_value(0xffff) == 0xffff);   // complement 0
  CHECK(net::l4_csum_value(0x2fffd) == 0xffff);  // folds to 0xffff
  CHECK(net::l4_csum_value(0xfffe) == 0x0001);
}

TEST_CASE("virtio NEEDS_CSUM: UDP over IPv6 whose checksum computes to 0 gets 0xffff") {
  for (size_t payload : {size_t(2), size_t(37), size_t(200)}) {
    L4Frame r = ipv6_udp(payload);
    force_zero_sum(r, 8);
    seed_partial(r);
    CHECK(lr::virtio::finish_needs_csum(r.f.data(), uint32_t(r.f.size()), uint16_t(r.l4), uint16_t(r.field)));
    CHECK(r.csum() == 0xffff);
    CHECK(r.verifies());
  }
}

TEST_CASE("virtio NEEDS_CSUM: UDP and TCP over IPv4 computing to 0 get 0xffff, and still verify") {
  for (uint8_t proto : {net::kProtoUdp, net::kProtoTcp}) {
    L4Frame r = ipv4(proto, 30);
    force_zero_sum(r, r.l4len - 2);
    seed_partial(r);
    CHECK(lr::virtio::finish_needs_csum(r.f.data(), uint32_t(r.f.size()), uint16_t(r.l4), uint16_t(r.field)));
    CHECK(r.csum() == 0xffff);
    CHECK(r.verifies());
  }
}

TEST_CASE("virtio NEEDS_CSUM: an ordinary frame gets the checksum udp4/udp6_csum compute") {
  L4Frame v4 = ipv4(net::kProtoUdp, 41);
  seed_partial(v4);
  CHECK(lr::virtio::finish_needs_csum(v4.f.data(), uint32_t(v4.f.size()), uint16_t(v4.l4), 6));
  CHECK(v4.verifies());
  CHECK(v4.csum() == net::ntohs(net::udp4_csum(reinterpret_cast<const net::Ipv4Hdr*>(&v4.f[14]),
                                               reinterpret_cast<const net::UdpHdr*>(&v4.f[v4.l4]), v4.l4len)));
  L4Frame v6 = ipv6_udp(41);
  seed_partial(v6);
  CHECK(lr::virtio::finish_needs_csum(v6.f.data(), uint32_t(v6.f.size()), uint16_t(v6.l4), 6));
  CHECK(v6.verifies());
  CHECK(v6.csum() == net::ntohs(net::udp6_csum(reinterpret_cast<const net::Ipv6Hdr*>(&v6.f[14]),
                                               reinterpret_cast<const net::UdpHdr*>(&v6.f[v6.l4]), v6.l4len)));
}

TEST_CASE("virtio NEEDS_CSUM: a field beyond the frame leaves it untouched") {
  L4Frame r = ipv6_udp(4);
  const Frame before = r.f;
  CHECK(!lr::virtio::finish_needs_csum(r.f.data(), uint32_t(r.f.size()), uint16_t(r.f.size() - 1), 0));
  CHECK(!lr::virtio::finish_needs_csum(r.f.data(), uint32_t(r.f.size()), uint16_t(r.l4), uint16_t(r.l4len - 1)));
  CHECK(r.f == before);
}

TEST_CASE("af_packet partial checksum: UDP (IPv4, IPv6) and TCP computing to 0 get 0xffff") {
  L4Frame v6 = ipv6_udp(64);
  force_zero_sum(v6, 10);
  put16(&v6.f[v6.l4 + 6], 0x1234);  // whatever the stack left there
  CHECK(lr::afp::complete_l4_checksum(v6.f.data(), uint32_t(v6.f.size())));
  CHECK(v6.csum() == 0xffff);
  CHECK(v6.verifies());
  for (uint8_t proto : {net::kProtoUdp, net::kProtoTcp}) {
    L4Frame r = ipv4(proto, 22);
    force_zero_sum(r, r.l4len - 4);
    seed_partial(r);
    CHECK(lr::afp::complete_l4_checksum(r.f.data(), uint32_t(r.f.size())));
    CHECK(r.csum() == 0xffff);
    CHECK(r.verifies());
  }
}

TEST_MAIN()

// The checksum core (core/checksum.h) against the reference sum: every length
// from 0 to 300 at even and odd buffer addresses (the core reads unaligned),
// random bytes, including runs of 0xff that make every carry path fire.
TEST_CASE("csum_acc: equals the RFC 1071 reference for every length 0..300") {
  uint32_t seed = 12345;
  auto rnd = [&] { return seed = seed * 1103515245u + 12345u, uint8_t(seed >> 16); };
  std::vector<uint8_t> buf(400);
  for (int pattern = 0; pattern < 3; pattern++) {
    for (size_t len = 0; len <= 300; len++) {
      for (size_t off = 0; off < 2; off++) {
        for (size_t i = 0; i < buf.size(); i++) buf[i] = pattern == 0 ? rnd() : pattern == 1 ? 0xff : uint8_t(i % 2 ? 0xff : rnd());
        const uint16_t want = ref_fold(ref_add(0, buf.data() + off, len));
        CHECK(net::csum_acc_fold_host(net::csum_acc(buf.data() + off, len)) == want);
        CHECK(net::csum_fold(net::csum_partial(buf.data() + off, len)) == want);
        // Split in two even pieces: deferred carries across calls give the same sum.
        const size_t half = (len / 2) & ~size_t(1);
        const uint64_t acc = net::csum_acc(buf.data() + off + half, len - half, net::csum_acc(buf.data() + off, half));
        CHECK(net::csum_acc_fold_host(acc) == want);
      }
    }
  }
}

// udp4_csum and ipv4_header_csum count their own field as zero whatever
// it holds (they add its complement instead of copying the header), and the
// results verify with udp4_csum_ok and ipv4_header_ok.
TEST_CASE("udp4 and ipv4 header checksums: the field's old value does not matter; results verify") {
  for (uint16_t junk : {uint16_t(0), uint16_t(0xffff), uint16_t(0x1234), uint16_t(0xbeef)}) {
    for (size_t payload : {size_t(0), size_t(1), size_t(7), size_t(50), size_t(333)}) {
      Frame f = net::udp4_frame(uint16_t(42 + payload), reinterpret_cast<const uint8_t*>("\x02\0\0\0\0\1"),
                                reinterpret_cast<const uint8_t*>("\x02\0\0\0\0\2"));
      for (size_t i = 42; i < f.size(); i++) f[i] = uint8_t(i * 7);
      auto* ip = reinterpret_cast<net::Ipv4Hdr*>(f.data() + 14);
      auto* udp = reinterpret_cast<net::UdpHdr*>(f.data() + 34);
      const size_t ulen = f.size() - 34;
      // Reference: fields zeroed, the RFC sums.
      ip->csum = 0;
      const uint16_t ip_want = uint16_t(~ref_fold(ref_add(0, f.data() + 14, 20)));
      udp->csum = 0;
      uint32_t ps = ref_add(0, ip->src, 8) + net::kProtoUdp + uint32_t(ulen);
      uint16_t udp_want = uint16_t(~ref_fold(ref_add(ps, f.data() + 34, ulen)));
      if (udp_want == 0) udp_want = 0xffff;
      ip->csum = junk;
      udp->csum = junk;
      const uint16_t ip_got = net::ipv4_header_csum(ip), udp_got = net::udp4_csum(ip, udp, ulen);
      CHECK(net::ntohs(ip_got) == ip_want);
      CHECK(net::ntohs(udp_got) == udp_want);
      ip->csum = ip_got;
      udp->csum = udp_got;
      CHECK(net::ipv4_header_ok(ip, 20));
      CHECK(net::udp4_csum_ok(ip, udp, ulen));
      f[f.size() - 1] ^= payload ? 0x01 : 0;
      if (payload) CHECK(!net::udp4_csum_ok(ip, udp, ulen));
    }
  }
}

// csum_acc_fold folds 64 bits in two add-a-rotation steps; it must give what
// adding 16-bit pieces with end-around carry gives, for every accumulator:
// zero, all ones, the carry edges around 2^16 and 2^32, and random values.
TEST_CASE("csum_acc_fold: equals folding 16-bit pieces with end-around carry") {
  auto slow = [](uint64_t a) {
    uint64_t s = (a & 0xffff) + (a >> 16 & 0xffff) + (a >> 32 & 0xffff) + (a >> 48);
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    return uint16_t(s);
  };
  std::vector<uint64_t> v;
  for (uint64_t a = 0; a < (1u << 18); a++) {
    v.push_back(a);
    v.push_back(~a);
    v.push_back(a << 32);
    v.push_back(a << 32 | 0xffffffffu);
    v.push_back(0x100000000ull - a);
    v.push_back(0x1ffff0000ull + a);
    v.push_back(0xffff0000ull + a);
  }
  uint64_t x = 88172645463325252ull;  // xorshift64
  for (int i = 0; i < 2000000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    v.push_back(x);
    v.push_back(x >> (i % 64));
  }
  size_t bad = 0;
  for (uint64_t a : v) bad += net::csum_acc_fold(a) != slow(a);
  CHECK(bad == 0);
}
