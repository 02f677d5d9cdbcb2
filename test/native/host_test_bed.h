// What the host layer's C++ tests share: a heap-memory pool, the host's
// configuration (198.18.0.1/24 and fd00:198:18::1/64, the benchmark ranges), a
// driver that keeps what is sent, and a request as input leaves it for a handler.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "check.h"
#include "core/mempool.h"
#include "drivers/driver.h"
#include "pipeline/host/host.h"

namespace host_test {

inline lr::MempoolOptions pool_opts(uint32_t mbufs) {
  lr::MempoolOptions o;
  o.mbufs = mbufs;
  o.cache_size = 0;
  o.caches = 0;
  o.region.hugepages = lr::HugepagePolicy::Off;
  return o;
}

inline lr::host::HostConfig config() {
  lr::host::HostConfig c;
  c.has4 = c.has6 = true;
  const uint8_t ip4[4] = {198, 18, 0, 1};
  const uint8_t ip6[16] = {0xfd, 0, 0x01, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::memcpy(c.ip4, ip4, 4);
  c.prefix4 = 24;
  std::memcpy(c.ip6, ip6, 16);
  c.prefix6 = 64;
  c.neigh.capacity = 16;
  return c;
}

inline const lr::MacAddr kMac = {0x02, 0x4c, 0x52, 0, 0, 1};

// Keeps a copy of each frame and its offload request, then frees it.
class CaptureDriver final : public lr::Driver {
 public:
  struct Sent {
    std::vector<uint8_t> bytes;
    bool offload;
    uint16_t start, offset;
  };
  CaptureDriver(lr::Mempool* pool, bool offload) : pool_(pool), offload_(offload) {}
  lr::DriverInfo info() const override { return {}; }
  void configure(uint16_t, uint16_t) override {}
  void setup_rx_queue(const lr::QueueSetup&) override {}
  void setup_tx_queue(const lr::QueueSetup&) override {}
  lr::MacAddr mac() const override { return kMac; }
  bool tx_l4_csum_offload() const override { return offload_; }
  uint16_t rx_burst(uint16_t, lr::Mbuf**, uint16_t) override { return 0; }
  uint16_t tx_burst(uint16_t, lr::Mbuf** m, uint16_t n) override {
    for (uint16_t i = 0; i < n; i++)
      sent.push_back({std::vector<uint8_t>(m[i]->data(), m[i]->data() + m[i]->data_len), (m[i]->flags & lr::kMbufTxL4Csum) != 0,
                      m[i]->tx_csum_start, m[i]->tx_csum_offset});
    pool_->free_bulk(nullptr, m, n);
    return n;
  }
  std::vector<Sent> sent;

 private:
  lr::Mempool* pool_;
  bool offload_;
};

// A request from 198.18.0.2:40000 (or fd00:198:18::2) to our port 7, as the
// host's input leaves it for a handler: HostMeta set, headers as received.
inline lr::Mbuf* request(lr::Mempool& pool, uint8_t family, size_t payload) {
  lr::Mbuf* m;
  REQUIRE(pool.alloc_bulk(nullptr, &m, 1));
  uint8_t* d = m->data();
  std::memset(d, 0, 14 + 40 + 8 + payload);
  const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 2};
  std::memcpy(d, kMac.data(), 6);
  std::memcpy(d + 6, peer_mac, 6);
  d[12] = family == 4 ? 0x08 : 0x86;
  d[13] = family == 4 ? 0x00 : 0xdd;
  const size_t l4 = 14 + (family == 4 ? 20 : 40);
  if (family == 4) {
    const uint8_t src[4] = {198, 18, 0, 2};
    std::memcpy(d + 14 + 12, src, 4);
  } else {
    d[14 + 8] = 0xfd;
    d[14 + 8 + 2] = 0x01;
    d[14 + 8 + 3] = 0x98;
    d[14 + 8 + 5] = 0x18;
    d[14 + 8 + 15] = 2;
  }
  d[l4] = 40000 >> 8;
  d[l4 + 1] = 40000 & 0xff;
  d[l4 + 3] = 7;
  for (size_t i = 0; i < payload; i++) d[l4 + 8 + i] = uint8_t(i * 31 + payload);
  m->data_len = uint16_t(l4 + 8 + payload);
  auto* mt = lr::host::meta(m);
  mt->family = family;
  mt->l3_off = 14;
  mt->socket = 0;
  m->flags |= lr::host::kMbufHostDatagram;
  return m;
}

}  // namespace host_test
