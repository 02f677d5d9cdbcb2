// The host layer's transmit checksum offload (core/mbuf.h kMbufTxL4Csum): on a
// port whose driver says tx_l4_csum_offload(), a reply or send leaves with the
// pseudo-header's sum in the UDP checksum field and the mbuf flagged with where
// the device should sum from; finishing it as a device does (virtio 1.2 section
// 5.1.6.2: sum from csum_start to the end, store the complement at csum_offset;
// net::finish_l4_csum) gives the checksum software would have written. On a
// port without offload the datagram leaves complete and unflagged.
#include <cstring>
#include <memory>
#include <vector>

#include "check.h"
#include "host_test_bed.h"
#include "core/mempool.h"
#include "core/net.h"
#include "core/net_arp_icmp.h"
#include "drivers/driver.h"
#include "pipeline/host/host.h"
#include "pipeline/host/host_output.h"
#include "pipeline/port.h"
#include "pipeline/tx_buffer.h"

namespace net = lr::net;

namespace {

using host_test::CaptureDriver;
using host_test::kMac;
using host_test::request;

bool udp_ok(const std::vector<uint8_t>& f) {
  if (f[12] == 0x08) {
    auto* ip = reinterpret_cast<const net::Ipv4Hdr*>(f.data() + 14);
    return net::udp4_csum_ok(ip, reinterpret_cast<const net::UdpHdr*>(f.data() + 34), f.size() - 34);
  }
  auto* ip = reinterpret_cast<const net::Ipv6Hdr*>(f.data() + 14);
  return net::udp6_csum_ok(ip, reinterpret_cast<const net::UdpHdr*>(f.data() + 54), f.size() - 54);
}

struct Bed {
  lr::Mempool pool{host_test::pool_opts(64)};
  CaptureDriver* drv;
  std::unique_ptr<lr::Port> port;
  std::unique_ptr<lr::host::Host> host;
  explicit Bed(bool offload) {
    auto d = std::make_unique<CaptureDriver>(&pool, offload);
    drv = d.get();
    port = std::make_unique<lr::Port>(0, "p0", "capture", std::move(d), 1, 1, lr::RssOptions{});
    host = std::make_unique<lr::host::Host>(host_test::config(), port.get());
    host->add_socket(7, false, nullptr);
    host->set_slots(1);
  }
  void reply(uint8_t family, size_t payload) {
    lr::TxBuffer tx(port.get(), 0, &pool, nullptr, 32);
    lr::host::HostOut out(host.get(), &tx, &pool, nullptr, 0);
    out.reply(request(pool, family, payload));
    tx.flush();
  }
};

}  // namespace

TEST_CASE("offload on: replies carry the pseudo-header sum and the flag; finished as a device does, they verify") {
  for (uint8_t family : {uint8_t(4), uint8_t(6)}) {
    for (size_t payload : {size_t(0), size_t(1), size_t(50), size_t(301)}) {
      Bed bed(true);
      bed.reply(family, payload);
      REQUIRE(bed.drv->sent.size() == 1);
      auto s = bed.drv->sent[0];
      const size_t l4 = family == 4 ? 34 : 54;
      CHECK(s.offload);
      CHECK(s.start == l4);
      CHECK(s.offset == 6);
      CHECK(!udp_ok(s.bytes) || payload == 0);  // not yet complete (a 0-byte payload may sum right by chance)
      // The device's step (virtio 1.2 section 5.1.6.2).
      net::finish_l4_csum(s.bytes.data() + s.start, s.bytes.size() - s.start, s.offset, 0);
      CHECK(udp_ok(s.bytes));
      if (family == 4) CHECK(net::ipv4_header_ok(reinterpret_cast<const net::Ipv4Hdr*>(s.bytes.data() + 14), 20));
      // Byte for byte what software checksumming writes.
      Bed soft(false);
      soft.reply(family, payload);
      REQUIRE(soft.drv->sent.size() == 1);
      CHECK(soft.drv->sent[0].bytes == s.bytes);
      CHECK(bed.pool.available() == bed.pool.size());
    }
  }
}

TEST_CASE("offload off: replies leave complete and unflagged") {
  for (uint8_t family : {uint8_t(4), uint8_t(6)}) {
    Bed bed(false);
    bed.reply(family, 50);
    REQUIRE(bed.drv->sent.size() == 1);
    CHECK(!bed.drv->sent[0].offload);
    CHECK(udp_ok(bed.drv->sent[0].bytes));
  }
}

TEST_MAIN()
