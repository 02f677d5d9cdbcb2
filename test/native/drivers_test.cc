// The virtual drivers (null, ring), the driver registry, and the wire formats
// of core/net.h that the null driver's default frame is built from.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "core/mempool.h"
#include "core/net.h"
#include "drivers/driver.h"

using lr::Config;
using lr::Mbuf;
using lr::Mempool;
namespace net = lr::net;

namespace {

lr::MempoolOptions opts(uint32_t mbufs, uint32_t cache_size = 32, uint32_t caches = 2) {
  lr::MempoolOptions o;
  o.mbufs = mbufs;
  o.cache_size = cache_size;
  o.caches = caches;
  o.region.hugepages = lr::HugepagePolicy::Off;
  return o;
}

lr::QueueSetup queue(Mempool& pool, Mempool::Cache* cache, uint16_t port, uint16_t q) {
  lr::QueueSetup s;
  s.pool = &pool;
  s.cache = cache;
  s.port_id = port;
  s.queue_id = q;
  return s;
}

// Opens a driver and sets up one rx and one tx queue on lcore cache `cache`.
std::unique_ptr<lr::Driver> open1(const std::string& name, const Config& cfg, Mempool& pool, uint16_t port,
                                  uint32_t cache = 0) {
  auto d = lr::open_driver(name, cfg, pool, port);
  d->configure(1, 1);
  d->setup_rx_queue(queue(pool, pool.cache(cache), port, 0));
  d->setup_tx_queue(queue(pool, pool.cache(cache), port, 0));
  d->start();
  return d;
}

Config cfg_of(std::initializer_list<std::pair<const char*, Config::Value>> kv) {
  Config c;
  c.scope = "port 'test'";
  for (auto& [k, v] : kv) c.set(k, v);
  return c;
}

// Reference checksum, written independently of net.cc: 16-bit big-endian words,
// odd byte padded with zero, end-around carry.
uint16_t ref_sum(const std::vector<uint8_t>& b) {
  uint64_t s = 0;
  for (size_t i = 0; i < b.size(); i += 2) s += (uint32_t(b[i]) << 8) | (i + 1 < b.size() ? b[i + 1] : 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(s);
}

// True when the UDP checksum of an Ethernet/IPv4/UDP frame verifies (sum over
// pseudo-header and datagram, checksum field included, is all ones).
bool udp4_valid(const uint8_t* f, size_t len) {
  const size_t udp_len = (size_t(f[38]) << 8) | f[39];
  std::vector<uint8_t> p(f + 26, f + 34);  // src, dst
  p.push_back(0);
  p.push_back(net::kProtoUdp);
  p.push_back(uint8_t(udp_len >> 8));
  p.push_back(uint8_t(udp_len));
  p.insert(p.end(), f + 34, f + 34 + udp_len);
  return 34 + udp_len <= len && ref_sum(p) == 0xffff;
}

bool ipv4_valid(const uint8_t* f) {
  const auto* ip = reinterpret_cast<const net::Ipv4Hdr*>(f + 14);
  return ref_sum(std::vector<uint8_t>(f + 14, f + 34)) == 0xffff && net::ipv4_header_csum(ip) == ip->csum;
}

}  // namespace

// --- registry ---------------------------------------------------------------

TEST_CASE("registry: known drivers, unknown name fails") {
  Mempool pool(opts(64));
  auto names = lr::driver_names();
  CHECK(std::find(names.begin(), names.end(), "null") != names.end());
  CHECK(std::find(names.begin(), names.end(), "ring") != names.end());
  CHECK_THROWS_CODE(lr::open_driver("nope", Config{}, pool, 0), "UNKNOWN_DRIVER");
  const lr::MacAddr mac = lr::virtual_mac(0x0102);
  CHECK(mac[0] == 0x02 && mac[1] == 0x4c && mac[2] == 0x52 && mac[3] == 0 && mac[4] == 1 && mac[5] == 2);
}

// --- null -------------------------------------------------------------------

TEST_CASE("null: rx gives default UDP frames of packetSize bytes") {
  Mempool pool(opts(256));
  for (uint16_t size : {uint16_t(64), uint16_t(60), uint16_t(65), uint16_t(1514)}) {
    Config cfg = cfg_of({});
    if (size != 64) cfg.set("packetSize", double(size));
    auto d = open1("null", cfg, pool, 0);
    CHECK(d->info().driver == "null");
    CHECK(d->mac() == lr::virtual_mac(0));
    CHECK(d->link().up);
    Mbuf* m[32];
    REQUIRE(d->rx_burst(0, m, 32) == 32);
    const lr::MacAddr src = lr::virtual_mac(0), dst = lr::virtual_mac(1);
    const std::vector<uint8_t> want = net::udp4_frame(size, src.data(), dst.data());
    REQUIRE(want.size() == size);
    uint32_t bad = 0;
    for (Mbuf* p : m) {
      if (!pool.owns(p) || p->data_len != size || p->port != 0 || p->queue != 0) bad++;
      if (std::memcmp(p->data(), want.data(), size) != 0) bad++;
    }
    CHECK(bad == 0);
    const uint8_t* f = m[5]->data();
    CHECK(((f[12] << 8) | f[13]) == 0x0800);
    CHECK(std::memcmp(f, dst.data(), 6) == 0 && std::memcmp(f + 6, src.data(), 6) == 0);
    CHECK(f[14] == 0x45);
    CHECK(f[23] == net::kProtoUdp);
    CHECK(((f[16] << 8) | f[17]) == size - 14);
    CHECK(((f[38] << 8) | f[39]) == size - 34);
    CHECK(ipv4_valid(f));
    CHECK(udp4_valid(f, size));
    lr::XStats xs;
    d->xstats(xs);
    CHECK(!xs.empty() && xs[0].first == "produced" && xs[0].second == 32);
    CHECK(!d->rx_done());
    // tx frees what it is given.
    CHECK(d->tx_burst(0, m, 32) == 32);
    d->stop();
    d->close();
    pool.flush_caches();
    CHECK(pool.available() == pool.size());
  }
}

TEST_CASE("null: count stops after N packets, shared over queues") {
  Mempool pool(opts(512));
  {
    auto d = open1("null", cfg_of({{"count", 100.0}}), pool, 0);
    Mbuf* m[32];
    uint32_t total = 0, bursts = 0;
    while (uint16_t n = d->rx_burst(0, m, 32)) {
      total += n;
      bursts++;
      CHECK(d->tx_burst(0, m, n) == n);
      if (total < 100) CHECK(!d->rx_done());
    }
    CHECK(total == 100);
    CHECK(bursts == 4);  // 32 + 32 + 32 + 4
    CHECK(d->rx_done());
    CHECK(d->rx_burst(0, m, 32) == 0);
  }
  {
    auto d = lr::open_driver("null", cfg_of({{"count", 101.0}}), pool, 3);
    d->configure(2, 1);
    d->setup_rx_queue(queue(pool, pool.cache(0), 3, 0));
    d->setup_rx_queue(queue(pool, pool.cache(1), 3, 1));
    d->setup_tx_queue(queue(pool, pool.cache(0), 3, 0));
    Mbuf* m[64];
    uint32_t got[2] = {0, 0};
    for (uint16_t q = 0; q < 2; q++) {
      while (uint16_t n = d->rx_burst(q, m, 64)) {
        for (uint16_t i = 0; i < n; i++) CHECK(m[i]->queue == q && m[i]->port == 3);
        got[q] += n;
        pool.free_bulk(pool.cache(q), m, n);
        if (got[0] + got[1] < 101) CHECK(!d->rx_done());
      }
    }
    CHECK(got[0] == 51 && got[1] == 50);
    CHECK(d->rx_done());
  }
  pool.flush_caches();
  CHECK(pool.available() == pool.size());
}

TEST_CASE("null: an empty pool gives nothing and loses nothing") {
  Mempool pool(opts(40, 0, 0));
  auto d = open1("null", cfg_of({}), pool, 0);
  Mbuf* m[64];
  CHECK(d->rx_burst(0, m, 32) == 32);
  CHECK(d->rx_burst(0, m + 32, 32) == 0);  // 8 left: all or nothing
  CHECK(pool.available() == 8);
  CHECK(pool.alloc_failures() == 1);
  CHECK(d->rx_burst(0, m + 32, 8) == 8);
  CHECK(d->tx_burst(0, m, 40) == 40);
  CHECK(pool.available() == 40);
}

TEST_CASE("null: option errors") {
  Mempool pool(opts(64));
  CHECK_THROWS_CODE(lr::open_driver("null", cfg_of({{"bogus", true}}), pool, 0), "UNKNOWN_OPTION");
  CHECK_THROWS_CODE(lr::open_driver("null", cfg_of({{"packetSize", 4096.0}}), pool, 0), "INVALID_OPTION");  // > dataRoom
  CHECK_THROWS_CODE(lr::open_driver("null", cfg_of({{"packetSize", 2049.0}}), pool, 0), "INVALID_OPTION");
  CHECK_THROWS_CODE(lr::open_driver("null", cfg_of({{"packetSize", 13.0}}), pool, 0), "INVALID_OPTION");
  CHECK_THROWS_CODE(lr::open_driver("null", cfg_of({{"packetSize", 64.5}}), pool, 0), "INVALID_OPTION");
  CHECK_THROWS_CODE(lr::open_driver("null", cfg_of({{"packetSize", std::string("64")}}), pool, 0), "INVALID_OPTION");
  CHECK_THROWS_CODE(lr::open_driver("null", cfg_of({{"count", -1.0}}), pool, 0), "INVALID_OPTION");
  CHECK_THROWS_CODE(lr::open_driver("null", cfg_of({{"copy", 1.0}}), pool, 0), "INVALID_OPTION");
  CHECK_THROWS_CODE(lr::open_driver("null", cfg_of({{"content", Config::Bytes(4096, 1)}}), pool, 0), "FRAME_TOO_LARGE");
  // packetSize == dataRoom is the largest allowed.
  auto d = open1("null", cfg_of({{"packetSize", 2048.0}}), pool, 0);
  Mbuf* m[4];
  CHECK(d->rx_burst(0, m, 4) == 4);
  CHECK(m[0]->data_len == 2048);
  CHECK(d->tx_burst(0, m, 4) == 4);
}

TEST_CASE("null: content option is sent as given") {
  Mempool pool(opts(64));
  Config::Bytes content(100);
  for (size_t i = 0; i < content.size(); i++) content[i] = uint8_t(255 - i);
  auto d = open1("null", cfg_of({{"content", content}, {"packetSize", 100.0}}), pool, 1);
  Mbuf* m[2];
  REQUIRE(d->rx_burst(0, m, 2) == 2);
  CHECK(m[1]->data_len == 100);
  CHECK(std::memcmp(m[1]->data(), content.data(), 100) == 0);
  CHECK(m[1]->port == 1);
  d->tx_burst(0, m, 2);
}

// --- ring -------------------------------------------------------------------

TEST_CASE("ring: two ports on a wire pass mbufs zero-copy, both ways") {
  Mempool pool(opts(256));
  auto a = open1("ring", cfg_of({{"wire", std::string("w")}}), pool, 0, 0);
  auto b = open1("ring", cfg_of({{"wire", std::string("w")}}), pool, 1, 1);
  CHECK(a->info().driver == "ring");
  CHECK(a->link().up && b->link().up);
  CHECK(a->mac() == lr::virtual_mac(0) && b->mac() == lr::virtual_mac(1));

  Mbuf* tx[8];
  REQUIRE(pool.alloc_bulk(pool.cache(0), tx, 8));
  for (int i = 0; i < 8; i++) {
    tx[i]->data_len = uint16_t(60 + i);
    std::memset(tx[i]->data(), 0x10 + i, 60 + i);
  }
  CHECK(a->tx_burst(0, tx, 8) == 8);
  CHECK(b->held_mbufs() == 8);
  CHECK(a->held_mbufs() == 0);
  Mbuf* rx[16];
  CHECK(b->rx_burst(0, rx, 16) == 8);
  CHECK(b->held_mbufs() == 0);
  uint32_t bad = 0;
  for (int i = 0; i < 8; i++) {
    // The same mbuf (same index, same memory) in the same order: nothing copied.
    if (rx[i] != tx[i] || rx[i]->index != tx[i]->index) bad++;
    if (rx[i]->port != 1 || rx[i]->queue != 0 || rx[i]->data_len != 60 + i || rx[i]->data()[59] != 0x10 + i) bad++;
  }
  CHECK(bad == 0);
  CHECK(b->rx_burst(0, rx, 16) == 0);
  // And back.
  CHECK(b->tx_burst(0, rx, 8) == 8);
  CHECK(a->held_mbufs() == 8);
  CHECK(a->rx_burst(0, tx, 3) == 3);
  CHECK(a->rx_burst(0, tx + 3, 16) == 5);
  for (int i = 0; i < 8; i++) CHECK(tx[i] == rx[i] && tx[i]->port == 0);
  pool.free_bulk(pool.cache(0), tx, 8);
  a->stop();
  b->stop();
  a->close();
  b->close();
  pool.flush_caches();
  CHECK(pool.available() == pool.size());
}

TEST_CASE("ring: wire joining rules") {
  Mempool pool(opts(64)), other(opts(64));
  auto a = lr::open_driver("ring", cfg_of({{"wire", std::string("w")}}), pool, 0);
  auto b = lr::open_driver("ring", cfg_of({{"wire", std::string("w")}}), pool, 1);
  CHECK_THROWS_CODE(lr::open_driver("ring", cfg_of({{"wire", std::string("w")}}), pool, 2), "WIRE_FULL");
  CHECK_THROWS_CODE(lr::open_driver("ring", cfg_of({}), pool, 2), "INVALID_OPTION");
  CHECK_THROWS_CODE(lr::open_driver("ring", cfg_of({{"wire", std::string("")}}), pool, 2), "INVALID_OPTION");
  CHECK_THROWS_CODE(lr::open_driver("ring", cfg_of({{"wire", std::string("x")}, {"size", 100.0}}), pool, 2),
                    "INVALID_OPTION");
  CHECK_THROWS_CODE(lr::open_driver("ring", cfg_of({{"wire", std::string("x")}, {"bogus", 1.0}}), pool, 2),
                    "UNKNOWN_OPTION");
  CHECK_THROWS_CODE(a->configure(2, 1), "INVALID_OPTION");  // one rx queue
  // A wire belongs to one mempool: the same name on another pool is another wire.
  auto c = lr::open_driver("ring", cfg_of({{"wire", std::string("w")}}), other, 0);
  auto d = lr::open_driver("ring", cfg_of({{"wire", std::string("w")}}), other, 1);
  // A port that goes away frees its end; a new port can take it.
  b->close();
  b.reset();
  CHECK(!a->link().up);
  auto e = lr::open_driver("ring", cfg_of({{"wire", std::string("w")}}), pool, 4);
  CHECK(a->link().up && e->link().up);
  a.reset();
  e.reset();
  // Both ends gone: the wire is gone, and a new pair starts afresh.
  auto f = lr::open_driver("ring", cfg_of({{"wire", std::string("w")}, {"size", 64.0}}), pool, 5);
  CHECK(f->info().details.size() == 3);
  bool size_ok = false;
  for (auto& [k, v] : f->info().details)
    if (k == "size") size_ok = v == "64";
  CHECK(size_ok);
}

TEST_CASE("ring: a full wire takes only its capacity; stop() returns what it holds") {
  Mempool pool(opts(64, 16, 1));
  auto a = open1("ring", cfg_of({{"wire", std::string("full")}, {"size", 16.0}}), pool, 0);
  auto b = open1("ring", cfg_of({{"wire", std::string("full")}, {"size", 16.0}}), pool, 1);
  Mbuf* m[20];
  REQUIRE(pool.alloc_bulk(nullptr, m, 20));
  CHECK(a->tx_burst(0, m, 20) == 16);  // the rest stays with the caller
  CHECK(b->held_mbufs() == 16);
  CHECK(a->tx_burst(0, m + 16, 4) == 0);
  CHECK(b->held_mbufs() == 16);
  pool.free_bulk(nullptr, m + 16, 4);
  CHECK(pool.available() == 64 - 16);
  b->stop();
  CHECK(b->held_mbufs() == 0);
  CHECK(pool.available() == 64);
  // stop() and close() in any order and more than once, with nothing left behind.
  REQUIRE(pool.alloc_bulk(nullptr, m, 10));
  CHECK(a->tx_burst(0, m, 5) == 5);
  CHECK(b->tx_burst(0, m + 5, 5) == 5);
  b->close();  // b's inbound (5) goes back now; a's inbound stays with a
  CHECK(pool.available() == 64 - 5);
  b->close();
  b->stop();  // after close: nothing to do, must not crash
  (void)b->info();
  CHECK(b->held_mbufs() == 0);
  REQUIRE(pool.alloc_bulk(nullptr, m, 3));
  CHECK(a->tx_burst(0, m, 3) == 3);  // into a wire end nobody holds any more
  a->close();  // last end: both directions drained
  CHECK(pool.available() == 64);
}

TEST_CASE("ring: destroying the ports without stop() returns every mbuf") {
  Mempool pool(opts(64));
  {
    auto a = open1("ring", cfg_of({{"wire", std::string("d")}}), pool, 0);
    auto b = open1("ring", cfg_of({{"wire", std::string("d")}}), pool, 1);
    Mbuf* m[10];
    REQUIRE(pool.alloc_bulk(nullptr, m, 10));
    CHECK(a->tx_burst(0, m, 4) == 4);
    CHECK(b->tx_burst(0, m + 4, 6) == 6);
  }
  CHECK(pool.available() == 64);
}

// --- net.h --------------------------------------------------------------------

TEST_CASE("net: csum_partial, odd lengths and RFC 1071 example") {
  const uint8_t rfc[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};  // RFC 1071 section 3
  CHECK(net::csum_fold(net::csum_partial(rfc, 8)) == 0xddf2);
  const uint8_t odd[3] = {0x12, 0x34, 0x56};
  CHECK(net::csum_fold(net::csum_partial(odd, 3)) == 0x6834);  // last byte padded with zero
  CHECK(net::csum_fold(net::csum_partial(odd, 1)) == 0x1200);
  CHECK(net::csum_partial(odd, 0, 7) == 7);
  // Carry folding over a long run of 0xff.
  std::vector<uint8_t> ff(65537, 0xff);
  CHECK(net::csum_fold(net::csum_partial(ff.data(), ff.size())) == ref_sum(ff));
  // Split sums: an even split is the same as one pass.
  std::vector<uint8_t> v(1001);
  for (size_t i = 0; i < v.size(); i++) v[i] = uint8_t(i * 7 + 3);
  CHECK(net::csum_fold(net::csum_partial(v.data() + 500, 501, net::csum_partial(v.data(), 500))) == ref_sum(v));
  CHECK(net::csum_fold(net::csum_partial(v.data(), v.size())) == ref_sum(v));
  // Every length 0..80 at every alignment 0..7, against the byte-pair reference, alone and chained
  // after an even prefix with a large running sum (the word-at-a-time loop and its tails).
  std::vector<uint8_t> r(100);
  uint32_t x = 12345;
  for (auto& b : r) b = uint8_t((x = x * 1103515245u + 12345u) >> 16);
  for (size_t off = 0; off < 8; off++)
    for (size_t len = 0; len <= 80; len++) {
      std::vector<uint8_t> s(r.begin() + long(off), r.begin() + long(off + len));
      CHECK(net::csum_fold(net::csum_partial(r.data() + off, len)) == ref_sum(s));
      std::vector<uint8_t> pre(6, 0xff);
      pre.insert(pre.end(), s.begin(), s.end());
      CHECK(net::csum_fold(net::csum_partial(r.data() + off, len, net::csum_partial(pre.data(), 6) + 0x7fff0000u)) ==
            net::csum_fold(ref_sum(pre) + 0x7fff0000u));
    }
}

TEST_CASE("net: udp4_frame lengths and checksums, even and odd sizes") {
  const uint8_t s[6] = {2, 0, 0, 0, 0, 1}, d[6] = {2, 0, 0, 0, 0, 2};
  for (uint16_t len : {uint16_t(42), uint16_t(43), uint16_t(60), uint16_t(61), uint16_t(64), uint16_t(1499),
                       uint16_t(1514), uint16_t(9000)}) {
    auto f = net::udp4_frame(len, s, d);
    REQUIRE(f.size() == len);
    CHECK(std::memcmp(f.data(), d, 6) == 0 && std::memcmp(f.data() + 6, s, 6) == 0);
    CHECK(((f[12] << 8) | f[13]) == net::kEtherTypeIPv4);
    CHECK(((f[16] << 8) | f[17]) == len - 14);
    CHECK(((f[38] << 8) | f[39]) == len - 34);
    CHECK(f[26] == 198 && f[27] == 18 && f[29] == 1 && f[33] == 2);
    CHECK(((f[34] << 8) | f[35]) == 9 && ((f[36] << 8) | f[37]) == 9);
    CHECK(ipv4_valid(f.data()));
    CHECK(udp4_valid(f.data(), f.size()));
    const auto* ip = reinterpret_cast<const net::Ipv4Hdr*>(f.data() + 14);
    const auto* udp = reinterpret_cast<const net::UdpHdr*>(f.data() + 34);
    CHECK(net::udp4_csum(ip, udp, len - 34) == udp->csum);
  }
  // Below the minimum the frame is padded to 42 bytes (headers only).
  auto small = net::udp4_frame(20, s, d);
  CHECK(small.size() == 42);
  CHECK(udp4_valid(small.data(), small.size()));
}

TEST_CASE("net: a UDP checksum that computes to zero is sent as 0xffff") {
  const uint8_t s[6] = {}, d[6] = {};
  auto f = net::udp4_frame(64, s, d);
  // Choose the last two payload bytes so that the one's-complement sum is all ones.
  f[62] = f[63] = 0;
  auto* ip = reinterpret_cast<net::Ipv4Hdr*>(f.data() + 14);
  auto* udp = reinterpret_cast<net::UdpHdr*>(f.data() + 34);
  udp->csum = 0;
  std::vector<uint8_t> p(f.begin() + 26, f.begin() + 34);
  p.insert(p.end(), {0, net::kProtoUdp, 0, 30});
  p.insert(p.end(), f.begin() + 34, f.end());
  const uint16_t sum = ref_sum(p);
  const uint16_t w = uint16_t(0xffff - sum);
  f[62] = uint8_t(w >> 8);
  f[63] = uint8_t(w);
  CHECK(net::udp4_csum(ip, udp, 30) == 0xffff);
  udp->csum = 0xffff;
  CHECK(udp4_valid(f.data(), f.size()));
}

TEST_CASE("net: udp6 checksum against the reference") {
  std::vector<uint8_t> pkt(40 + 8 + 13);
  auto* ip = reinterpret_cast<net::Ipv6Hdr*>(pkt.data());
  for (int i = 0; i < 16; i++) {
    ip->src[i] = uint8_t(0x20 + i);
    ip->dst[i] = uint8_t(0xf0 - i);
  }
  auto* udp = reinterpret_cast<net::UdpHdr*>(pkt.data() + 40);
  udp->sport = net::htons(1234);
  udp->dport = net::htons(53);
  udp->len = net::htons(21);
  for (int i = 0; i < 13; i++) pkt[48 + i] = uint8_t(i * 11);
  udp->csum = net::udp6_csum(ip, udp, 21);
  std::vector<uint8_t> p(pkt.begin() + 8, pkt.begin() + 40);
  p.insert(p.end(), {0, 0, 0, 21, 0, 0, 0, net::kProtoUdp});
  p.insert(p.end(), pkt.begin() + 40, pkt.end());
  CHECK(ref_sum(p) == 0xffff);
}

TEST_MAIN()
