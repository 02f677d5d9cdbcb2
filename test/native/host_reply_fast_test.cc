// The host's reply fast path (reply4 and reply6 in pipeline/host/host_reply_fast.h) must
// send exactly what the general path (turn_around, finish_udp) sends, and drop
// and count exactly what it drops. Each case here builds the same burst of
// handled datagrams twice and answers one copy with the fast path and one
// without: the frames on the wire, byte for byte, every host counter and each
// socket's reply count must agree, and both pools must be whole afterwards.
// Bursts: valid IPv4 and IPv6 requests of several sizes, each with one of the
// fields a handler can write changed (HostMeta, data_off, data_len, the
// sender's MAC, TOS, the addresses and ports, random header bytes), and bursts
// that alternate sockets. VerdictSink::apply_burst's order is checked last.
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "check.h"
#include "host_test_bed.h"
#include "core/mempool.h"
#include "core/net.h"
#include "pipeline/host/host.h"
#include "pipeline/host/host_output.h"
#include "pipeline/port.h"
#include "pipeline/tx_buffer.h"
#include "pipeline/verdict.h"

namespace net = lr::net;
using host_test::CaptureDriver;

namespace {

// A change a handler could have made to a datagram before answering it.
using Mutation = void (*)(lr::Mbuf*, uint32_t arg);

struct Bed {
  lr::Mempool pool{host_test::pool_opts(256)};
  CaptureDriver* drv;
  std::unique_ptr<lr::Port> port;
  std::unique_ptr<lr::host::Host> host;
  Bed(bool has6, bool vlan, bool has4 = true) {
    auto d = std::make_unique<CaptureDriver>(&pool, false);
    drv = d.get();
    port = std::make_unique<lr::Port>(0, "p0", "capture", std::move(d), 1, 1, lr::RssOptions{});
    auto cfg = host_test::config();
    cfg.has6 = has6;
    cfg.has4 = has4;
    if (vlan) cfg.vlan = 100;
    host = std::make_unique<lr::host::Host>(cfg, port.get());
    host->add_socket(7, false, nullptr);
    host->add_socket(53, false, nullptr);
    host->set_slots(1);
  }
  // Answers n requests (built by make(i)) in one burst.
  template <class Make>
  void answer(bool fast, uint32_t n, Make make) {
    lr::TxBuffer tx(port.get(), 0, &pool, nullptr, 32);
    lr::host::HostOut out(host.get(), &tx, &pool, nullptr, 0);
    out.set_fast_path(fast);
    std::vector<lr::Mbuf*> ms;
    for (uint32_t i = 0; i < n; i++) ms.push_back(make(pool, i));
    out.reply_burst(ms.data(), n);
    tx.flush();
  }
};

struct Pair {
  Bed fast, slow;
  uint64_t cases = 0, sent = 0;
  Pair(bool has6 = true, bool vlan = false, bool has4 = true) : fast(has6, vlan, has4), slow(has6, vlan, has4) {}
  template <class Make>
  void same(uint32_t n, Make make) {
    fast.answer(true, n, make);
    slow.answer(false, n, make);
    cases++;
    REQUIRE(fast.drv->sent.size() == slow.drv->sent.size());
    for (size_t i = 0; i < fast.drv->sent.size(); i++) {
      CHECK(fast.drv->sent[i].bytes == slow.drv->sent[i].bytes);
      CHECK(fast.drv->sent[i].offload == slow.drv->sent[i].offload);
    }
    sent += fast.drv->sent.size();
    fast.drv->sent.clear();
    slow.drv->sent.clear();
    auto& x = fast.host->counters(0);
    auto& y = slow.host->counters(0);
#define LR_X(name) CHECK(x.name.get() == y.name.get());
    LR_HOST_COUNTERS(LR_X)
#undef LR_X
    for (size_t s = 0; s < 2; s++)
      CHECK(fast.host->sockets()[s].slots[0].replies.get() == slow.host->sockets()[s].slots[0].replies.get());
    CHECK(fast.pool.available() == fast.pool.size());
    CHECK(slow.pool.available() == slow.pool.size());
  }
};

// IPv4 header checksum right, as input leaves a request (the reply must not depend on it, but real ones have it).
lr::Mbuf* request4(lr::Mempool& pool, size_t payload) {
  lr::Mbuf* m = host_test::request(pool, 4, payload);
  auto* ip = reinterpret_cast<net::Ipv4Hdr*>(m->data() + 14);
  ip->ver_ihl = 0x45;
  ip->ttl = 61;
  ip->proto = net::kProtoUdp;
  ip->tos = 0xb8;
  const uint8_t dst[4] = {198, 18, 0, 1};
  std::memcpy(ip->dst, dst, 4);
  ip->total_len = net::htons(uint16_t(m->data_len - 14));
  ip->csum = net::ipv4_header_csum(ip);
  return m;
}

const Mutation kMutations[] = {
    [](lr::Mbuf*, uint32_t) {},
    [](lr::Mbuf* m, uint32_t a) { lr::host::meta(m)->family = uint8_t(a); },
    [](lr::Mbuf* m, uint32_t a) { lr::host::meta(m)->l3_off = uint8_t(a); },
    [](lr::Mbuf* m, uint32_t a) { lr::host::meta(m)->socket = uint16_t(a); },
    [](lr::Mbuf* m, uint32_t a) { m->data_len = uint16_t(a); },
    [](lr::Mbuf* m, uint32_t a) { m->data_off = uint16_t(a); },
    [](lr::Mbuf* m, uint32_t a) { m->data()[6] = uint8_t(a); },              // the sender's MAC (I/G bit)
    [](lr::Mbuf* m, uint32_t a) { m->data()[a % 64] = uint8_t(a >> 8); },   // any header byte
};
const std::vector<uint32_t> kArgs[] = {
    {0},
    {0, 4, 6, 5, 255},
    {0, 14, 18, 13, 15, 34, 255},
    {0, 1, 2, 65535},
    {0, 13, 14, 33, 41, 42, 43, 92, 200, 2047, 2048, 4000, 65535},
    {0, 63, 64, 65, 128, 1000, 2000, 2047, 65535},
    {0x02, 0x03, 0x01, 0xff},
    {},  // filled with random arguments below
};

}  // namespace

TEST_CASE("each changed field: the fast path sends and drops what the general path does") {
  Pair p;
  std::mt19937 rng(7);
  for (size_t k = 0; k < std::size(kMutations); k++) {
    std::vector<uint32_t> args = kArgs[k];
    if (args.empty())
      for (int i = 0; i < 600; i++) args.push_back(rng());
    for (uint32_t a : args) {
      for (size_t payload : {size_t(0), size_t(1), size_t(50), size_t(301)}) {
        for (uint8_t family : {uint8_t(4), uint8_t(6)}) {
          p.same(1, [&](lr::Mempool& pool, uint32_t) {
            lr::Mbuf* m = family == 4 ? request4(pool, payload) : host_test::request(pool, 6, payload);
            kMutations[k](m, a);
            return m;
          });
        }
      }
    }
  }
  CHECK(p.cases > 5000);
  CHECK(p.sent > p.cases / 4);  // most cases are answered: the comparison is not only of drops
}

TEST_CASE("bursts mixing sockets, families and drops: same frames, same per-socket counts") {
  Pair p;
  std::mt19937 rng(11);
  for (int round = 0; round < 200; round++) {
    const uint32_t n = 1 + rng() % 100;  // past one tx burst (64) too
    std::vector<uint32_t> kind(n);
    for (auto& x : kind) x = rng();
    p.same(n, [&](lr::Mempool& pool, uint32_t i) {
      const uint32_t r = kind[i];
      lr::Mbuf* m = r % 5 == 0 ? host_test::request(pool, 6, r % 97) : request4(pool, r % 97);
      lr::host::meta(m)->socket = uint16_t(r >> 8 & 1);
      if (r % 11 == 0) m->data()[6] |= 1;  // a group source: dropped
      return m;
    });
  }
  CHECK(p.fast.host->sockets()[0].slots[0].replies.get() > 0);
  CHECK(p.fast.host->sockets()[1].slots[0].replies.get() > 0);
  CHECK(p.fast.host->counters(0).udp_bad_send.get() > 0);
}

TEST_CASE("a host the fast path does not cover (VLAN, IPv4 only) replies the same either way") {
  for (bool vlan : {false, true}) {
    Pair p(false, vlan);
    for (size_t payload : {size_t(0), size_t(50), size_t(301)}) {
      p.same(3, [&](lr::Mempool& pool, uint32_t) {
        lr::Mbuf* m = request4(pool, payload);
        if (vlan) lr::host::meta(m)->l3_off = 18;
        return m;
      });
    }
    CHECK(p.sent > 0);
  }
}

// HostOut::replies<4> and <6>: a host with one family, handed datagrams of both.
TEST_CASE("single-family hosts reply the same either way; the other family is the general path's to drop") {
  for (bool v4only : {true, false}) {
    Pair p(!v4only, false, v4only);
    std::mt19937 rng(5);
    for (int round = 0; round < 200; round++) {
      const uint32_t n = 1 + rng() % 40;
      std::vector<uint32_t> kind(n);
      for (auto& x : kind) x = rng();
      p.same(n, [&](lr::Mempool& pool, uint32_t i) {
        const uint32_t r = kind[i];
        return r % 3 == 0 ? host_test::request(pool, 6, r % 97) : request4(pool, r % 97);
      });
    }
    CHECK(p.sent > 0);
    CHECK(p.fast.host->counters(0).udp_bad_send.get() > 0);
  }
}

TEST_CASE("VerdictSink::apply_burst: host replies and plain verdicts leave in the order they were given") {
  Bed bed(true, false);
  // As Engine::host attaches it (the port shares the host; the bed keeps its pointer).
  bed.port->host = std::shared_ptr<lr::host::Host>(bed.host.get(), [](lr::host::Host*) {});
  lr::VerdictCounters vc;
  std::vector<lr::Port*> ports{bed.port.get()};
  lr::VerdictSink sink(ports, 0, &bed.pool, nullptr, 32, &vc);
  std::vector<lr::Mbuf*> ms;
  for (uint32_t i = 0; i < 10; i++) {
    lr::Mbuf* m = request4(bed.pool, 10 + i);  // payload length tells them apart
    m->port = 0;
    m->verdict = lr::kVerdictReply;
    if (i % 3 == 1) m->flags &= ~lr::host::kMbufHostDatagram;  // a plain packet answered as it is
    if (i == 7) m->verdict = lr::kVerdictDrop;
    ms.push_back(m);
  }
  sink.apply_burst(ms.data(), uint32_t(ms.size()));
  sink.flush();
  REQUIRE(bed.drv->sent.size() == 9);
  size_t j = 0;
  for (uint32_t i = 0; i < 10; i++) {
    if (i == 7) continue;
    CHECK(bed.drv->sent[j].bytes.size() == 42 + 10 + i);
    j++;
  }
  CHECK(vc.replied.get() == 9);
  CHECK(vc.dropped.get() == 1);
  CHECK(bed.host->counters(0).udp_replies.get() == 7);  // 0, 2, 3, 5, 6, 8, 9
  CHECK(bed.pool.available() == bed.pool.size());
}

TEST_MAIN()
