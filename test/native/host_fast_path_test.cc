// The host layer's receive fast path (pipeline/host/host_fast_path.h) must not
// change what the host does with any frame: it may only take the "deliver"
// decision the general path (HostStage::input) would take. Each frame here goes
// through two host stages, one with the fast path and one without, and every
// counter, the delivered socket's counters and the delivered length must agree.
// Frames: valid IPv4/UDP and IPv6/UDP requests of several sizes, and every one of them with
// each header byte changed (with the checksums left, and recomputed so that the
// change reaches the later checks), the length cut, and random bytes.
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "check.h"
#include "host_test_bed.h"
#include "core/mempool.h"
#include "core/net.h"
#include "drivers/driver.h"
#include "pipeline/host/host.h"
#include "pipeline/host/host_fast_path.h"
#include "pipeline/host/host_stage.h"
#include "pipeline/port.h"
#include "pipeline/tx_buffer.h"

namespace net = lr::net;

namespace {

const lr::MacAddr kMac = {0x02, 0x4c, 0x52, 0, 0, 1};

// Frees whatever the host sends (ARP probes, ICMP errors): only the counters matter here.
class SinkDriver final : public lr::Driver {
 public:
  explicit SinkDriver(lr::Mempool* pool) : pool_(pool) {}
  lr::DriverInfo info() const override { return {}; }
  void configure(uint16_t, uint16_t) override {}
  void setup_rx_queue(const lr::QueueSetup&) override {}
  void setup_tx_queue(const lr::QueueSetup&) override {}
  lr::MacAddr mac() const override { return kMac; }
  uint16_t rx_burst(uint16_t, lr::Mbuf**, uint16_t) override { return 0; }
  uint16_t tx_burst(uint16_t, lr::Mbuf** m, uint16_t n) override {
    pool_->free_bulk(nullptr, m, n);
    return n;
  }

 private:
  lr::Mempool* pool_;
};

// One host with a socket on UDP port 7 and its stage; the socket has no consumer,
// so a delivered datagram is counted (udp_in, the socket's rx, udp_ring_full) and freed.
struct Side {
  lr::Mempool pool{host_test::pool_opts(256)};
  std::unique_ptr<lr::Port> port;
  std::unique_ptr<lr::host::Host> host;
  std::unique_ptr<lr::host::HostStage> stage;
  // families: 0 for both (the tests' default), 4 or 6 for a host with only that one.
  explicit Side(bool fast, int families = 0) {
    port = std::make_unique<lr::Port>(0, "p0", "sink", std::make_unique<SinkDriver>(&pool), 1, 1, lr::RssOptions{});
    auto cfg = host_test::config();
    cfg.has4 = families != 6;
    cfg.has6 = families != 4;
    host = std::make_unique<lr::host::Host>(cfg, port.get());
    host->add_socket(7, false, nullptr);
    host->set_slots(1);
    stage = std::make_unique<lr::host::HostStage>(host.get(), lr::TxBuffer(port.get(), 0, &pool, nullptr, 32), nullptr,
                                                  std::vector<lr::host::SocketSink>(1), &pool, nullptr, 0);
    stage->set_fast_path(fast);
  }
  // Runs one frame through the stage; returns the length the datagram was delivered with, or -1.
  int run(const std::vector<uint8_t>& f) {
    lr::Mbuf* m;
    REQUIRE(pool.alloc_bulk(nullptr, &m, 1));
    if (!f.empty()) std::memcpy(m->data(), f.data(), f.size());
    m->data_len = uint16_t(f.size());
    const uint64_t before = host->counters(0).udp_in.get();
    stage->process(&m, 1);
    stage->flush();
    // Delivered and freed (no consumer): the slot still holds the length it was delivered with.
    return host->counters(0).udp_in.get() != before ? int(m->data_len) : -1;
  }
};

// 198.18.0.2:40000 -> 198.18.0.1:7, to our MAC, with both checksums right (or a zero UDP checksum).
std::vector<uint8_t> request(size_t payload, bool zero_csum) {
  std::vector<uint8_t> f(34 + 8 + payload, 0);
  std::memcpy(f.data(), kMac.data(), 6);
  const uint8_t peer[6] = {0x02, 0, 0, 0, 0, 2};
  std::memcpy(f.data() + 6, peer, 6);
  f[12] = 0x08;
  auto* ip = reinterpret_cast<net::Ipv4Hdr*>(f.data() + 14);
  ip->ver_ihl = 0x45;
  ip->total_len = net::htons(uint16_t(20 + 8 + payload));
  ip->frag = net::htons(0x4000);
  ip->ttl = 64;
  ip->proto = net::kProtoUdp;
  const uint8_t src[4] = {198, 18, 0, 2}, dst[4] = {198, 18, 0, 1};
  std::memcpy(ip->src, src, 4);
  std::memcpy(ip->dst, dst, 4);
  ip->csum = net::ipv4_header_csum(ip);
  auto* udp = reinterpret_cast<net::UdpHdr*>(f.data() + 34);
  udp->sport = net::htons(40000);
  udp->dport = net::htons(7);
  udp->len = net::htons(uint16_t(8 + payload));
  for (size_t i = 0; i < payload; i++) f[42 + i] = uint8_t(i * 7 + 3);
  if (!zero_csum) udp->csum = net::udp4_csum(ip, udp, 8 + payload);
  return f;
}

// fd00:198:18::2 port 40000 -> fd00:198:18::1 port 7, to our MAC, UDP checksum right (or zero, which IPv6 forbids).
std::vector<uint8_t> request6(size_t payload, bool zero_csum) {
  std::vector<uint8_t> f(54 + 8 + payload, 0);
  std::memcpy(f.data(), kMac.data(), 6);
  const uint8_t peer[6] = {0x02, 0, 0, 0, 0, 2};
  std::memcpy(f.data() + 6, peer, 6);
  f[12] = 0x86;
  f[13] = 0xdd;
  auto* ip = reinterpret_cast<net::Ipv6Hdr*>(f.data() + 14);
  ip->vtc_flow = net::htonl(6u << 28 | 0x12345);  // a flow label: not the host's to check
  ip->payload_len = net::htons(uint16_t(8 + payload));
  ip->next = net::kProtoUdp;
  ip->hop_limit = 64;
  const uint8_t src[16] = {0xfd, 0, 0x01, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  std::memcpy(ip->src, src, 16);
  std::memcpy(ip->dst, src, 16);
  ip->dst[15] = 1;
  auto* udp = reinterpret_cast<net::UdpHdr*>(f.data() + 54);
  udp->sport = net::htons(40000);
  udp->dport = net::htons(7);
  udp->len = net::htons(uint16_t(8 + payload));
  for (size_t i = 0; i < payload; i++) f[62 + i] = uint8_t(i * 7 + 3);
  if (!zero_csum) udp->csum = net::udp6_csum(ip, udp, 8 + payload);
  return f;
}

// Recomputes the IPv4 header checksum (over 20 bytes, whatever the IHL says) and
// the UDP checksum (when the UDP length fits the frame), so that a changed field
// reaches the checks after the checksums instead of failing on them. An IPv6
// frame (EtherType 0x86dd) gets its UDP checksum recomputed the same way.
void fix_checksums(std::vector<uint8_t>& f) {
  if (f.size() >= 62 && f[12] == 0x86 && f[13] == 0xdd) {
    auto* ip6 = reinterpret_cast<net::Ipv6Hdr*>(f.data() + 14);
    auto* udp = reinterpret_cast<net::UdpHdr*>(f.data() + 54);
    const size_t ulen = net::ntohs(udp->len);
    if (ulen < 8 || 54 + ulen > f.size()) return;
    udp->csum = 0;
    udp->csum = net::udp6_csum(ip6, udp, ulen);
    return;
  }
  if (f.size() < 34) return;
  auto* ip = reinterpret_cast<net::Ipv4Hdr*>(f.data() + 14);
  ip->csum = 0;
  ip->csum = uint16_t(~net::csum_acc_fold(net::csum_acc(ip, 20)));  // machine order: stored as it is
  if (f.size() < 42) return;
  auto* udp = reinterpret_cast<net::UdpHdr*>(f.data() + 34);
  const size_t ulen = net::ntohs(udp->len);
  if (ulen < 8 || 34 + ulen > f.size()) return;
  udp->csum = 0;
  udp->csum = net::udp4_csum(ip, udp, ulen);
}

struct Pair {
  Side fast, slow;
  explicit Pair(int families = 0) : fast(true, families), slow(false, families) {}
  uint64_t frames = 0, delivered = 0;
  void same(const std::vector<uint8_t>& f) {
    const int a = fast.run(f), b = slow.run(f);
    frames++;
    delivered += a >= 0;
    CHECK(a == b);
    auto& x = fast.host->counters(0);
    auto& y = slow.host->counters(0);
#define LR_X(name) CHECK(x.name.get() == y.name.get());
    LR_HOST_COUNTERS(LR_X)
#undef LR_X
    CHECK(fast.host->sockets()[0].slots[0].rx.get() == slow.host->sockets()[0].slots[0].rx.get());
  }
};

}  // namespace

TEST_CASE("valid requests take the fast path and are delivered as the general path delivers them") {
  Pair p;
  for (uint8_t family : {uint8_t(4), uint8_t(6)}) {
    for (size_t payload : {size_t(0), size_t(1), size_t(50), size_t(301)}) {
      for (bool zero : {false, true}) {
        if (family == 6 && zero) continue;  // not valid over IPv6: the next test case
        const auto f = family == 4 ? request(payload, zero) : request6(payload, false);
        lr::host::FastUdp out{};
        CHECK(lr::host::fast_udp<0>(lr::host::FastRx::of(*p.fast.host), f.data(), uint32_t(f.size()), &out));
        CHECK(out.socket == 0);
        CHECK(out.family == family);
        CHECK(out.data_len == f.size());
        p.same(f);
        // Ethernet padding after the datagram: trimmed the same way.
        auto padded = f;
        padded.resize(std::max<size_t>(f.size() + 6, 60), 0);
        p.same(padded);
      }
    }
  }
  CHECK(p.delivered == p.frames);
  CHECK(p.fast.pool.available() == p.fast.pool.size());
  CHECK(p.slow.pool.available() == p.slow.pool.size());
}

TEST_CASE("IPv6 with a zero UDP checksum: not delivered, counted as the general path counts it") {
  Pair p;
  const auto f = request6(20, true);
  lr::host::FastUdp out{};
  CHECK(!lr::host::fast_udp<0>(lr::host::FastRx::of(*p.fast.host), f.data(), uint32_t(f.size()), &out));
  p.same(f);
  CHECK(p.delivered == 0);
  CHECK(p.fast.host->counters(0).udp_bad_csum.get() == 1);
}

TEST_CASE("every header byte changed, every length cut, random frames: the same outcome either way") {
  Pair p;
  std::mt19937 rng(12345);
  for (uint8_t family : {uint8_t(4), uint8_t(6)}) {
    const size_t hdr = family == 4 ? 42 : 62;
    for (size_t payload : {size_t(0), size_t(9), size_t(50)}) {
      const auto base = family == 4 ? request(payload, false) : request6(payload, false);
      for (size_t i = 0; i < hdr + std::min<size_t>(payload, 8); i++) {
        for (uint8_t v : {uint8_t(0), uint8_t(0xff), uint8_t(base[i] ^ 1), uint8_t(base[i] ^ 0x80), uint8_t(rng())}) {
          auto f = base;
          f[i] = v;
          p.same(f);
          fix_checksums(f);
          p.same(f);
        }
      }
      for (size_t n = 0; n < base.size(); n++) p.same(std::vector<uint8_t>(base.begin(), base.begin() + long(n)));
    }
    for (int k = 0; k < 2000; k++) {
      auto f = family == 4 ? request(size_t(rng() % 80), rng() & 1) : request6(size_t(rng() % 80), false);
      const int flips = 1 + int(rng() % 4);
      for (int j = 0; j < flips; j++) f[rng() % f.size()] = uint8_t(rng());
      p.same(f);
      fix_checksums(f);
      p.same(f);
    }
  }
  // Some of them were delivered, most were not: both kinds were compared.
  CHECK(p.delivered > 50);
  CHECK(p.delivered < p.frames * 3 / 4);
  CHECK(p.fast.pool.available() == p.fast.pool.size());
  CHECK(p.slow.pool.available() == p.slow.pool.size());
}

// A host with one family runs a fast path built for that family alone
// (HostStage::fast_loop<4> and <6>); the other family's frames take the general path.
TEST_CASE("single-family hosts: both families' frames, valid and mutated, the same outcome either way") {
  std::mt19937 rng(777);
  for (int families : {4, 6}) {
    Pair p(families);
    for (int k = 0; k < 3000; k++) {
      const bool v6 = k & 1;
      auto f = v6 ? request6(size_t(rng() % 80), false) : request(size_t(rng() % 80), false);
      p.same(f);
      f[rng() % f.size()] = uint8_t(rng());
      p.same(f);
      fix_checksums(f);
      p.same(f);
    }
    CHECK(p.delivered > 1000);  // the host's own family, mostly
    CHECK(p.fast.pool.available() == p.fast.pool.size());
  }
}

TEST_MAIN()
