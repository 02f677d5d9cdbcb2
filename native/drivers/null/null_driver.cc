// null: a source of synthetic packets and a sink, for benchmarks (the workload
// DPDK's net_null gives testpmd). rx allocates a burst from the lcore's mempool
// cache and stamps length (and, by default, content); tx frees what it is given.
#include <algorithm>
#include <cstring>

#include "drivers/driver.h"
#include "core/counter.h"
#include "core/net.h"

namespace lr {

namespace {

class NullDriver final : public Driver {
 public:
  NullDriver(const Config& cfg, Mempool& pool, uint16_t port_id) : pool_(pool), port_id_(port_id) {
    cfg.allow_only({"packetSize", "content", "copy", "count", "rxQueues"});
    size_ = uint16_t(cfg.get_uint("packetSize", 64, 14, pool.data_room()));
    copy_ = cfg.get_bool("copy", true);
    limit_ = cfg.get_uint("count", 0, 0, UINT64_MAX >> 12);
    const MacAddr src = virtual_mac(port_id), dst = virtual_mac(uint16_t(port_id ^ 1));
    content_ = cfg.get_bytes("content", net::udp4_frame(size_, src.data(), dst.data()));
    if (content_.size() > pool.data_room())
      fail("FRAME_TOO_LARGE", "null port content is " + std::to_string(content_.size()) + " bytes, larger than mempool.dataRoom " +
                                  std::to_string(pool.data_room()));
    // Copy whole cache lines: the tail of content_ past size_ is never sent.
    content_.resize((std::max<size_t>(content_.size(), size_) + 63) / 64 * 64, 0);
  }

  DriverInfo info() const override {
    DriverInfo i;
    i.driver = "null";
    i.max_rx_queues = 64;
    i.hw_rss = true;  // queues are independent sources; nothing to spread
    i.details = {{"packetSize", std::to_string(size_)}, {"copy", copy_ ? "true" : "false"}};
    return i;
  }
  void configure(uint16_t rxq, uint16_t txq) override {
    rx_.assign(rxq, {});
    tx_.assign(txq, {});
  }
  void setup_rx_queue(const QueueSetup& q) override { rx_.at(q.queue_id).cache = q.cache;
    rx_.at(q.queue_id).nombuf = q.nombuf; }
  void setup_tx_queue(const QueueSetup& q) override { tx_.at(q.queue_id).cache = q.cache; }
  MacAddr mac() const override { return virtual_mac(port_id_); }
  bool rx_done() const override {
    if (!limit_) return false;
    uint64_t s = 0;
    for (auto& q : rx_) s += q.produced.get();
    return s >= limit_;
  }
  void xstats(XStats& out) const override {
    uint64_t s = 0;
    for (auto& q : rx_) s += q.produced.get();
    out.push_back({"produced", s});
  }

  uint16_t rx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    Q& q = rx_[queue];
    if (limit_) {
      // A count is shared by all queues of the port; each queue takes an even share.
      uint64_t share = limit_ / rx_.size() + (queue < limit_ % rx_.size() ? 1 : 0);
      const uint64_t done = q.produced.get();
      if (done >= share) return 0;
      n = uint16_t(std::min<uint64_t>(n, share - done));
    }
    if (!pool_.alloc_bulk(q.cache, mbufs, n)) {
      if (q.nombuf) q.nombuf->add(n);
      return 0;
    }
    for (uint16_t i = 0; i < n; i++) {
      Mbuf* m = mbufs[i];
      m->data_len = size_;
      m->port = port_id_;
      m->queue = queue;
      if (copy_) std::memcpy(m->data(), content_.data(), (size_ + 63) & ~63u);
    }
    q.produced.add(n);
    return n;
  }

  uint16_t tx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    pool_.free_bulk(tx_[queue].cache, mbufs, n);
    return n;
  }

 private:
  struct Q {
    Mempool::Cache* cache = nullptr;
    Counter* nombuf = nullptr;
    Counter produced;
  };
  Mempool& pool_;
  uint16_t port_id_;
  uint16_t size_;
  bool copy_;
  uint64_t limit_;
  Config::Bytes content_;
  std::vector<Q> rx_, tx_;
};

}  // namespace

std::unique_ptr<Driver> make_null_driver(const Config& cfg, Mempool& pool, uint16_t port_id) {
  return std::make_unique<NullDriver>(cfg, pool, port_id);
}

}  // namespace lr
