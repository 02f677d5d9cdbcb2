// The capture's cBPF interpreter and checker (pipeline/capture/cbpf.h), checked
// against libpcap's own bpf_filter on the programs pcap_compile makes, and the
// capture's record rings (pipeline/capture/capture.h): ring full is counted,
// records carry the bytes, lengths and direction.
#include <array>
#include <chrono>
#include <atomic>
#include <thread>
#include <cstring>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "core/error.h"
#include "pipeline/capture/capture.h"
#include "pipeline/capture/cbpf.h"
#include "pipeline/capture/libpcap.h"
#include "pipeline/port.h"

namespace {

using lr::cbpf::Insn;
using namespace lr::cbpf;
using Bytes = std::vector<uint8_t>;

uint32_t run(const std::vector<Insn>& p, const Bytes& pkt) {
  const std::string why = lr::cbpf::check(p.data(), p.size());
  if (!why.empty()) {
    std::fprintf(stderr, "  program refused: %s\n", why.c_str());
    return 0xdeadbeef;
  }
  return lr::cbpf::run(p.data(), pkt.data(), uint32_t(pkt.size()), uint32_t(pkt.size()));
}

const Bytes kPkt = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x45, 0x00};

TEST_CASE("loads: absolute word, half, byte; indirect; length; immediate; MSH") {
  CHECK(run({{kLd | kW | kAbs, 0, 0, 0}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 0x12345678u);
  CHECK(run({{kLd | kH | kAbs, 0, 0, 2}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 0x5678u);
  CHECK(run({{kLd | kB | kAbs, 0, 0, 9}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 0x00u);
  CHECK(run({{kLdx | kW | kImm, 0, 0, 4}, {kLd | kW | kInd, 0, 0, 1}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 0xbcdef045u);
  CHECK(run({{kLdx | kW | kImm, 0, 0, 4}, {kLd | kH | kInd, 0, 0, 0}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 0x9abcu);
  CHECK(run({{kLdx | kW | kImm, 0, 0, 1}, {kLd | kB | kInd, 0, 0, 7}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 0x45u);
  CHECK(run({{kLd | kW | kLen, 0, 0, 0}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 10u);
  CHECK(run({{kLdx | kW | kLen, 0, 0, 0}, {kMisc | kTxa, 0, 0, 0}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 10u);
  CHECK(run({{kLd | kImm, 0, 0, 77}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 77u);
  // MSH: X = 4 * (P[8] & 0xf) = 4 * 5, the IPv4 header length of 0x45.
  CHECK(run({{kLdx | kB | kMsh, 0, 0, 8}, {kMisc | kTxa, 0, 0, 0}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 20u);
}

TEST_CASE("loads out of the packet reject it (return 0), never read past it") {
  CHECK(run({{kLd | kW | kAbs, 0, 0, 7}, {kRet | kK, 0, 0, 1}}, kPkt) == 0u);  // 7..10 ends past 10
  CHECK(run({{kLd | kW | kAbs, 0, 0, 6}, {kRet | kK, 0, 0, 1}}, kPkt) == 1u);  // 6..9 fits
  CHECK(run({{kLd | kH | kAbs, 0, 0, 9}, {kRet | kK, 0, 0, 1}}, kPkt) == 0u);
  CHECK(run({{kLd | kB | kAbs, 0, 0, 10}, {kRet | kK, 0, 0, 1}}, kPkt) == 0u);
  CHECK(run({{kLd | kB | kAbs, 0, 0, 0xffffffffu}, {kRet | kK, 0, 0, 1}}, kPkt) == 0u);
  // X + k wraps in 32 bits to 1: must still be out of bounds.
  CHECK(run({{kLdx | kW | kImm, 0, 0, 0xffffffffu}, {kLd | kB | kInd, 0, 0, 2}, {kRet | kK, 0, 0, 1}}, kPkt) == 0u);
  CHECK(run({{kLdx | kB | kMsh, 0, 0, 10}, {kRet | kK, 0, 0, 1}}, kPkt) == 0u);
  // A frame longer on the wire than in the buffer: loads see the buffer only, LEN the wire.
  const std::vector<Insn> p = {{kLd | kW | kLen, 0, 0, 0}, {kJmp | kJeq | kK, 0, 1, 1500}, {kLd | kB | kAbs, 0, 0, 5}, {kRet | kK, 0, 0, 9}};
  CHECK(lr::cbpf::check(p.data(), p.size()).empty());
  CHECK(lr::cbpf::run(p.data(), kPkt.data(), 1500, 4) == 0u);
  CHECK(lr::cbpf::run(p.data(), kPkt.data(), 1500, 6) == 9u);
}

TEST_CASE("scratch memory: ST, STX, LD MEM, LDX MEM; TAX") {
  CHECK(run({{kLd | kImm, 0, 0, 5}, {kSt, 0, 0, 15}, {kLd | kImm, 0, 0, 0}, {kLd | kMem, 0, 0, 15}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 5u);
  CHECK(run({{kLdx | kW | kImm, 0, 0, 9}, {kStx, 0, 0, 3}, {kLdx | kW | kMem, 0, 0, 3}, {kMisc | kTxa, 0, 0, 0}, {kRet | kRetA, 0, 0, 0}},
            kPkt) == 9u);
  CHECK(run({{kLd | kMem, 0, 0, 7}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 0u);  // never written: zero
  CHECK(run({{kLd | kImm, 0, 0, 3}, {kMisc | kTax, 0, 0, 0}, {kLd | kImm, 0, 0, 0}, {kMisc | kTxa, 0, 0, 0}, {kRet | kRetA, 0, 0, 0}},
            kPkt) == 3u);
}

uint32_t alu(uint16_t op, uint32_t a, uint32_t k, bool with_x) {
  if (with_x)
    return run({{kLd | kImm, 0, 0, a}, {kLdx | kW | kImm, 0, 0, k}, {uint16_t(kAlu | op | kX), 0, 0, 0}, {kRet | kRetA, 0, 0, 0}}, kPkt);
  return run({{kLd | kImm, 0, 0, a}, {uint16_t(kAlu | op | kK), 0, 0, k}, {kRet | kRetA, 0, 0, 0}}, kPkt);
}

TEST_CASE("ALU: every operation with K and with X") {
  for (bool x : {false, true}) {
    CHECK(alu(kAdd, 0xffffffffu, 2, x) == 1u);
    CHECK(alu(kSub, 1, 2, x) == 0xffffffffu);
    CHECK(alu(kMul, 0x10000, 0x10001, x) == 0x10000u);
    CHECK(alu(kDiv, 100, 7, x) == 14u);
    CHECK(alu(kMod, 100, 7, x) == 2u);
    CHECK(alu(kOr, 0xf0, 0x0f, x) == 0xffu);
    CHECK(alu(kAnd, 0xf0, 0x3c, x) == 0x30u);
    CHECK(alu(kXor, 0xff, 0x0f, x) == 0xf0u);
    CHECK(alu(kLsh, 1, 31, x) == 0x80000000u);
    CHECK(alu(kRsh, 0x80000000u, 31, x) == 1u);
  }
  CHECK(run({{kLd | kImm, 0, 0, 1}, {kAlu | kNeg, 0, 0, 0}, {kRet | kRetA, 0, 0, 0}}, kPkt) == 0xffffffffu);
  // By X at run time: division by zero rejects; shifts of 32 or more give 0 (libpcap's result).
  CHECK(alu(kDiv, 100, 0, true) == 0u);
  CHECK(run({{kLd | kImm, 0, 0, 100}, {kLdx | kW | kImm, 0, 0, 0}, {kAlu | kMod | kX, 0, 0, 0}, {kRet | kK, 0, 0, 9}}, kPkt) == 0u);
  CHECK(alu(kLsh, 1, 32, true) == 0u);
  CHECK(alu(kRsh, 0xffffffffu, 40, true) == 0u);
}

uint32_t jump(uint16_t op, uint32_t a, uint32_t k, bool with_x) {
  // jt -> ret 1, jf -> ret 2
  std::vector<Insn> p = {{kLd | kImm, 0, 0, a}, {kLdx | kW | kImm, 0, 0, k},
                         {uint16_t(kJmp | op | (with_x ? kX : kK)), 0, 1, with_x ? 0 : k}, {kRet | kK, 0, 0, 1}, {kRet | kK, 0, 0, 2}};
  return run(p, kPkt);
}

TEST_CASE("jumps: JA, JEQ, JGT, JGE, JSET with K and X, both branches") {
  for (bool x : {false, true}) {
    CHECK(jump(kJeq, 5, 5, x) == 1u);
    CHECK(jump(kJeq, 5, 6, x) == 2u);
    CHECK(jump(kJgt, 6, 5, x) == 1u);
    CHECK(jump(kJgt, 5, 5, x) == 2u);
    CHECK(jump(kJge, 5, 5, x) == 1u);
    CHECK(jump(kJge, 4, 5, x) == 2u);
    CHECK(jump(kJset, 6, 2, x) == 1u);
    CHECK(jump(kJset, 4, 2, x) == 2u);
  }
  CHECK(run({{kJmp | kJa, 0, 0, 1}, {kRet | kK, 0, 0, 1}, {kRet | kK, 0, 0, 2}}, kPkt) == 2u);
  CHECK(run({{kRet | kK, 0, 0, 0}}, kPkt) == 0u);
}

TEST_CASE("the checker refuses what bpf_check_classic refuses") {
  auto refused = [](std::vector<Insn> p) { return !lr::cbpf::check(p.data(), p.size()).empty(); };
  const Insn ret = {kRet | kK, 0, 0, 1};
  CHECK(refused({}));
  CHECK(refused(std::vector<Insn>(4097, ret)));
  CHECK(!refused(std::vector<Insn>(4096, ret)));
  CHECK(refused({{0xff, 0, 0, 0}, ret}));                    // unknown opcode
  CHECK(refused({{kLd | kH | kImm, 0, 0, 0}, ret}));         // LD IMM with a size other than W
  CHECK(refused({{kAlu | kNeg | kX, 0, 0, 0}, ret}));        // NEG takes no operand
  CHECK(refused({{kJmp | kJa | kX, 0, 0, 0}, ret}));         // JA has no X form
  CHECK(refused({{kJmp | kJa, 0, 0, 1}, ret}));              // past the end
  CHECK(refused({{kJmp | kJeq | kK, 1, 0, 0}, ret}));        // jt past the end
  CHECK(refused({{kJmp | kJeq | kK, 0, 1, 0}, ret}));        // jf past the end
  CHECK(refused({{kJmp | kJa, 0, 0, 0xffffffffu}, ret}));    // would wrap
  CHECK(refused({{kAlu | kDiv | kK, 0, 0, 0}, ret}));
  CHECK(refused({{kAlu | kMod | kK, 0, 0, 0}, ret}));
  CHECK(refused({{kAlu | kLsh | kK, 0, 0, 32}, ret}));
  CHECK(refused({{kAlu | kRsh | kK, 0, 0, 32}, ret}));
  CHECK(refused({{kLd | kMem, 0, 0, 16}, ret}));
  CHECK(refused({{kLdx | kW | kMem, 0, 0, 16}, ret}));
  CHECK(refused({{kSt, 0, 0, 16}, ret}));
  CHECK(refused({{kStx, 0, 0, 16}, ret}));
  CHECK(refused({{kLd | kImm, 0, 0, 0}}));                   // does not end with RET
  CHECK(!refused({{kJmp | kJeq | kK, 0, 0, 0}, ret}));
  CHECK(!refused({{kAlu | kDiv | kX, 0, 0, 0}, ret}));       // by X: checked at run time
}

TEST_CASE("parse_ddd reads tcpdump -ddd output and refuses a malformed text") {
  auto p = parse_ddd("4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n");
  REQUIRE(p.size() == 4);
  CHECK(p[1].code == 21 && p[1].jt == 0 && p[1].jf == 1 && p[1].k == 2048);
  CHECK(parse_ddd("2,6 0 0 1,6 0 0 0").size() == 2);
  CHECK_THROWS_CODE(parse_ddd(""), "CAPTURE_BPF_INVALID");
  CHECK_THROWS_CODE(parse_ddd("2,6 0 0 1"), "CAPTURE_BPF_INVALID");
  CHECK_THROWS_CODE(parse_ddd("1,6 0 0 x"), "CAPTURE_BPF_INVALID");
  CHECK_THROWS_CODE(parse_ddd("1,65536 0 0 0"), "CAPTURE_BPF_INVALID");
  CHECK_THROWS_CODE(parse_ddd("1,6 256 0 0"), "CAPTURE_BPF_INVALID");
  CHECK_THROWS_CODE(parse_ddd("1,6 0 0 4294967296"), "CAPTURE_BPF_INVALID");
}

// Frames for the filter comparison (RFC 894 Ethernet; RFC 791 IPv4; RFC 8200 IPv6;
// RFC 768 UDP; RFC 9293 TCP; RFC 826 ARP; IEEE 802.1Q VLAN tags).
Bytes eth(uint16_t type, Bytes payload, bool vlan = false) {
  Bytes f = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1};
  if (vlan) f.insert(f.end(), {0x81, 0x00, 0x00, 0x07});
  f.push_back(uint8_t(type >> 8));
  f.push_back(uint8_t(type));
  f.insert(f.end(), payload.begin(), payload.end());
  return f;
}
Bytes ipv4(uint8_t proto, std::array<uint8_t, 4> src, std::array<uint8_t, 4> dst, Bytes l4, uint16_t frag = 0) {
  const uint16_t len = uint16_t(20 + l4.size());
  Bytes h = {0x45, 0, uint8_t(len >> 8), uint8_t(len), 0, 1, uint8_t(frag >> 8), uint8_t(frag), 64, proto, 0, 0};
  h.insert(h.end(), src.begin(), src.end());
  h.insert(h.end(), dst.begin(), dst.end());
  h.insert(h.end(), l4.begin(), l4.end());
  return h;
}
Bytes udp(uint16_t sport, uint16_t dport, size_t payload = 12) {
  Bytes u = {uint8_t(sport >> 8), uint8_t(sport), uint8_t(dport >> 8), uint8_t(dport), 0, uint8_t(8 + payload), 0, 0};
  u.resize(8 + payload, 0xab);
  return u;
}
Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags) {
  Bytes t = {uint8_t(sport >> 8), uint8_t(sport), uint8_t(dport >> 8), uint8_t(dport), 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0};
  return t;
}
Bytes ipv6(uint8_t next, Bytes l4) {
  Bytes h = {0x60, 0, 0, 0, uint8_t(l4.size() >> 8), uint8_t(l4.size()), next, 64};
  for (int i = 0; i < 2; i++) {
    Bytes a = {0xfd, 0x00, 0x01, 0x98, 0x00, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, uint8_t(1 + i)};
    h.insert(h.end(), a.begin(), a.end());
  }
  h.insert(h.end(), l4.begin(), l4.end());
  return h;
}

std::vector<Bytes> frames() {
  std::vector<Bytes> v = {
      eth(0x0800, ipv4(17, {198, 18, 0, 9}, {198, 18, 0, 1}, udp(4000, 53))),
      eth(0x0800, ipv4(17, {198, 18, 0, 2}, {198, 18, 0, 1}, udp(53, 4000))),
      eth(0x0800, ipv4(17, {198, 18, 0, 9}, {198, 18, 0, 1}, udp(4000, 5353, 200))),
      eth(0x0800, ipv4(6, {198, 18, 0, 9}, {198, 18, 0, 1}, tcp(40000, 80, 0x02))),
      eth(0x0800, ipv4(6, {198, 18, 0, 3}, {198, 18, 0, 1}, tcp(80, 40000, 0x12))),
      eth(0x0800, ipv4(1, {198, 18, 0, 9}, {198, 18, 0, 1}, {8, 0, 0, 0, 0, 1, 0, 1})),
      eth(0x0800, ipv4(17, {198, 18, 0, 9}, {198, 18, 0, 1}, udp(4000, 53), 0x0010)),  // a later fragment
      eth(0x0800, ipv4(17, {10, 0, 0, 1}, {198, 19, 255, 255}, udp(1, 2))),
      eth(0x86dd, ipv6(17, udp(4000, 53))),
      eth(0x86dd, ipv6(6, tcp(1, 443, 0x10))),
      eth(0x0806, {0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 198, 18, 0, 9}),
      eth(0x8100 /* set below */, {}),
      eth(0x0800, ipv4(17, {198, 18, 0, 9}, {198, 18, 0, 1}, udp(4000, 53)), true),
  };
  v[11] = eth(0x0800, ipv4(17, {198, 18, 0, 9}, {198, 18, 0, 1}, udp(4000, 53)));
  std::memset(v[11].data(), 0xff, 6);  // broadcast destination
  // Every frame also truncated at every length: the programs' loads must see the ends.
  const size_t whole = v.size();
  for (size_t i = 0; i < whole; i++)
    for (size_t len = 0; len < v[i].size(); len += 3) v.push_back(Bytes(v[i].begin(), v[i].begin() + long(len)));
  // And random bytes with IPv4 and IPv6 ethertypes.
  std::mt19937 rng(13);
  for (int i = 0; i < 400; i++) {
    Bytes f(15 + rng() % 80);
    for (auto& b : f) b = uint8_t(rng());
    if (i % 3 == 0) { f[12] = 0x08; f[13] = 0x00; f[14] = uint8_t(0x40 | (rng() % 16)); }
    if (i % 3 == 1 && f.size() > 21) { f[12] = 0x86; f[13] = 0xdd; f[20] = uint8_t(i % 2 ? 17 : 6); }
    v.push_back(f);
  }
  return v;
}

const char* kExpressions[] = {
    "udp port 53",
    "udp port 53 and host 198.18.0.9",
    "tcp",
    "arp",
    "icmp",
    "ip6 and udp",
    "ip6 and tcp port 443",
    "vlan and udp port 53",
    "net 198.18.0.0/15",
    "ether broadcast",
    "greater 100",
    "less 60",
    "tcp[tcpflags] & tcp-syn != 0",
    "ip[6:2] & 0x1fff != 0",
    "udp and ip[2:2] > 50",
    "not ip",
    "portrange 50-60",
    "src host 198.18.0.2 or dst port 80",
    "ip proto 17 and not udp port 53",
    "ip6 or arp",
};

TEST_CASE("filters select exactly what libpcap's bpf_filter selects, on the same frames") {
  auto theirs = lr::capture::libpcap_bpf_filter();
  if (!theirs) {
    std::printf("  skipped: libpcap is not installed (apt-get install libpcap0.8)\n");
    return;
  }
  const auto fs = frames();
  size_t compared = 0, accepted = 0;
  for (const char* expr : kExpressions) {
    const auto prog = lr::capture::compile_filter(expr, 262144);
    REQUIRE(lr::cbpf::check(prog.data(), prog.size()).empty());
    for (const auto& f : fs) {
      const uint32_t ours = lr::cbpf::run(prog.data(), f.data(), uint32_t(f.size()), uint32_t(f.size()));
      const uint32_t want = theirs(prog.data(), f.data(), unsigned(f.size()), unsigned(f.size()));
      if (ours != want) std::fprintf(stderr, "  '%s' on a %zu-byte frame: ours %u, libpcap %u\n", expr, f.size(), ours, want);
      CHECK(ours == want);
      compared++;
      accepted += ours != 0;
    }
  }
  std::printf("  %zu comparisons, %zu accepted\n", compared, accepted);
  CHECK(accepted > 100);  // the set exercises both outcomes
}

TEST_CASE("compile_filter: a bad expression is CAPTURE_FILTER_INVALID with libpcap's reason") {
  if (!lr::capture::libpcap_bpf_filter()) return;
  CHECK_THROWS_CODE(lr::capture::compile_filter("udp port", 65535), "CAPTURE_FILTER_INVALID");
  CHECK_THROWS_CODE(lr::capture::compile_filter("nonsense words here", 65535), "CAPTURE_FILTER_INVALID");
}

// Mbufs for the capture ring tests: a header and the frame right after it.
struct FakeMbufs {
  std::vector<std::unique_ptr<uint8_t[]>> mem;
  std::vector<lr::Mbuf*> m;
  void add(const Bytes& f) {
    mem.emplace_back(new (std::align_val_t(64)) uint8_t[64 + 2048]);
    auto* b = reinterpret_cast<lr::Mbuf*>(mem.back().get());
    std::memset(b, 0, 64);
    b->data_off = 64;
    b->data_len = uint16_t(f.size());
    b->buf_len = 2048;
    std::memcpy(b->data(), f.data(), f.size());
    m.push_back(b);
  }
  ~FakeMbufs() {
    for (auto& p : mem) ::operator delete[](p.release(), std::align_val_t(64));
  }
};

TEST_CASE("capture ring: copies what the filter accepts, counts a full ring, drains whole records") {
  lr::CaptureOptions o;
  o.prog = lr::capture::libpcap_bpf_filter() ? lr::capture::compile_filter("udp port 53", 100)
                                              : parse_ddd("4,40 0 0 12,21 0 1 2048,6 0 0 100,6 0 0 0");
  o.snaplen = 100;
  o.ring_records = 4;
  o.rx = true;
  o.tx = false;
  lr::Capture c(o, 2, 3, 2, 2048);
  CHECK(c.record_size() == 24 + 104);
  FakeMbufs b;
  const Bytes dns = eth(0x0800, ipv4(17, {198, 18, 0, 9}, {198, 18, 0, 1}, udp(4000, 53, 150)));
  const Bytes other = eth(0x0806, Bytes(28, 0));
  for (int i = 0; i < 6; i++) b.add(dns);
  b.add(other);
  b.m[0]->flags |= lr::kMbufTimestampValid;
  b.m[0]->timestamp = 1234567890123456789ull;
  c.tap(b.m.data(), uint16_t(b.m.size()), lr::CaptureDir::Rx, 1);
  c.tap(b.m.data(), 2, lr::CaptureDir::Tx, 0);  // tx not captured: no slot
  auto s = c.stats();
  CHECK(s.seen == 7);
  CHECK(s.accepted == 6);
  CHECK(s.filtered == 1);
  CHECK(s.dropped == 2);  // 4 records fit
  std::vector<uint8_t> out(10 * c.record_size());
  CHECK(c.drain(out.data(), c.record_size() * 3 + 5) == 3u * c.record_size());  // whole records only
  CHECK(c.drain(out.data() + 3 * c.record_size(), out.size()) == c.record_size());
  CHECK(c.drain(out.data(), out.size()) == 0u);
  lr::CaptureRecord r;
  std::memcpy(&r, out.data(), sizeof r);
  CHECK(r.ts_ns == 1234567890123456789ull);
  CHECK(r.orig_len == dns.size());
  CHECK(r.cap_len == 100);  // the filter's RET (snaplen 100) limits the copy
  CHECK(r.queue == 1);
  CHECK(r.dir == uint8_t(lr::CaptureDir::Rx));
  CHECK(std::memcmp(out.data() + 24, dns.data(), 100) == 0);
  // Room again after the drain: the next burst is copied.
  c.tap(b.m.data(), 1, lr::CaptureDir::Rx, 0);
  CHECK(c.stats().dropped == 2);
  CHECK(c.drain(out.data(), out.size()) == c.record_size());
}

TEST_CASE("capture: a refused program is CAPTURE_BPF_INVALID; a ring size not a power of two is INVALID_OPTION") {
  lr::CaptureOptions o;
  o.prog = {{kLd | kImm, 0, 0, 0}};
  CHECK_THROWS_CODE(lr::Capture(o, 1, 1, 0, 2048), "CAPTURE_BPF_INVALID");
  o.prog.clear();
  o.ring_records = 6;
  CHECK_THROWS_CODE(lr::Capture(o, 1, 1, 0, 2048), "INVALID_OPTION");
}

TEST_CASE("capture ring across threads: every accepted copy is drained intact or counted as dropped") {
  // One producer thread per slot (as lcores are), one consumer (as the JS thread is).
  lr::CaptureOptions o;
  o.snaplen = 64;
  o.ring_records = 64;
  lr::Capture c(o, 2, 1, 0, 2048);
  constexpr int kBursts = 2000, kBurst = 16;
  std::atomic<int> running{2};
  auto producer = [&](uint16_t q) {
    FakeMbufs b;
    for (int i = 0; i < kBurst; i++) b.add(Bytes(60, uint8_t(q)));
    for (int n = 0; n < kBursts; n++) {
      for (int i = 0; i < kBurst; i++) {
        uint32_t seq = uint32_t(n * kBurst + i);
        std::memcpy(b.m[size_t(i)]->data(), &seq, 4);  // a sequence number per copy, checked in order below
      }
      c.tap(b.m.data(), kBurst, lr::CaptureDir::Rx, q);
      if (n % 4 == 0) std::this_thread::yield();  // let the consumer in, so both paths (drained, dropped) are exercised
    }
    running--;
  };
  std::thread t0(producer, 0), t1(producer, 1);
  std::vector<uint8_t> out(32 * c.record_size());
  uint64_t drained = 0;
  int64_t last[2] = {-1, -1};
  bool in_order = true, intact = true;
  for (;;) {
    const bool done = running.load() == 0;
    const size_t bytes = c.drain(out.data(), out.size());
    for (size_t at = 0; at < bytes; at += c.record_size()) {
      lr::CaptureRecord r;
      std::memcpy(&r, out.data() + at, sizeof r);
      uint32_t seq;
      std::memcpy(&seq, out.data() + at + sizeof r, 4);
      if (r.queue > 1 || r.cap_len != 60 || out[at + sizeof r + 59] != r.queue) intact = false;
      else if (int64_t(seq) <= last[r.queue]) in_order = false;
      else last[r.queue] = seq;
      drained++;
    }
    if (done && bytes == 0) break;
  }
  t0.join();
  t1.join();
  const auto s = c.stats();
  CHECK(intact);
  CHECK(in_order);
  CHECK(s.accepted == uint64_t(2 * kBursts * kBurst));
  CHECK(drained + s.dropped == s.accepted);
  std::printf("  %lu drained, %lu dropped\n", (unsigned long)drained, (unsigned long)s.dropped);
}

}  // namespace

namespace {
// A port needs a driver; this one is never polled (the test calls the taps itself).
class IdleDriver final : public lr::Driver {
 public:
  lr::DriverInfo info() const override { return {}; }
  void configure(uint16_t, uint16_t) override {}
  void setup_rx_queue(const lr::QueueSetup&) override {}
  void setup_tx_queue(const lr::QueueSetup&) override {}
  lr::MacAddr mac() const override { return {}; }
  uint16_t rx_burst(uint16_t, lr::Mbuf**, uint16_t) override { return 0; }
  uint16_t tx_burst(uint16_t, lr::Mbuf**, uint16_t n) override { return n; }
};
}  // namespace

// Attach and detach while two lcores tap (the engine's capture_start/stop are
// capture_attach/capture_detach): a tap sees a whole capture or none, never one
// being freed (ASan: use after free), and under TSan no race is reported
// between the taps' ring writes and the drain after detach, or the next
// attach's free of the previous capture.
TEST_CASE("attach and detach while two threads tap: no tap outlives its capture; drained after detach") {
  lr::Port port(0, "p0", "idle", std::make_unique<IdleDriver>(), 2, 2, lr::RssOptions{});
  FakeMbufs b;
  const Bytes dns = eth(0x0800, ipv4(17, {198, 18, 0, 9}, {198, 18, 0, 1}, udp(4000, 53, 40)));
  for (int i = 0; i < 8; i++) b.add(dns);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> taps{0};
  auto lcore = [&](uint16_t q) {
    while (!stop.load(std::memory_order_relaxed)) {
      // As the data path does (tasks.h): one relaxed load per burst, the tap only when set.
      if (port.capture.load(std::memory_order_relaxed)) {
        lr::capture_tap(port, b.m.data(), uint16_t(b.m.size()), lr::CaptureDir::Rx, q);
        taps.fetch_add(1, std::memory_order_relaxed);
      } else {
        std::this_thread::yield();
      }
    }
  };
  std::thread t0(lcore, 0), t1(lcore, 1);
  std::vector<uint8_t> out(1 << 16);
  uint64_t drained = 0;
  for (int round = 0; round < 200; round++) {
    lr::CaptureOptions o;
    o.ring_records = 16;
    auto c = std::make_shared<lr::Capture>(o, 2, 2, 1, 2048);
    lr::capture_attach(port, c);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    lr::capture_detach(port);
    // (capture_users may be non-zero again here: a tap that loaded the pointer
    // before the detach announces itself, sees nullptr and leaves. That is the design.)
    CHECK(port.capture.load() == nullptr);
    // Detached: no producer writes the rings any more; drain them all.
    while (size_t n = c->drain(out.data(), out.size())) {
      CHECK(n % c->record_size() == 0);
      drained += n / c->record_size();
    }
    const auto s = c->stats();
    CHECK(s.accepted == s.seen);
    CHECK(s.dropped + drained >= s.accepted);  // every accepted copy drained (this round's) or dropped
    drained = 0;
  }
  stop = true;
  t0.join();
  t1.join();
  CHECK(taps.load() > 0);
}

TEST_MAIN()
