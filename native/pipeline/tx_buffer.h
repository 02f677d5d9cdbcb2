// Tx buffering for one (lcore, port) pair: packets collect until a full burst,
// then go to the driver in one tx_burst. The lcore flushes every drain period
// (LcoreOptions::drain_us) so a lone packet does not wait for company.
// What the driver refuses is freed and counted (TxQueueStats::full): a full
// queue is a counted drop, never unbounded memory.
#pragma once
#include <cstdint>

#include "pipeline/port.h"

namespace lr {

class TxBuffer {
 public:
  static constexpr uint16_t kMax = 64;

  TxBuffer(Port* port, uint16_t queue, Mempool* pool, Mempool::Cache* cache, uint16_t burst)
      : port_(port), queue_(queue), pool_(pool), cache_(cache), burst_(burst > kMax ? kMax : burst),
        stats_(&port->txq()[queue]) {}

  void push(Mbuf** m, uint16_t n) {
    while (n) {
      uint16_t k = n < uint16_t(burst_ - count_) ? n : uint16_t(burst_ - count_);
      for (uint16_t i = 0; i < k; i++) buf_[count_ + i] = m[i];
      count_ += k;
      m += k;
      n -= k;
      if (count_ == burst_) flush();
    }
  }

  void flush() {
    if (!count_) return;
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < count_; i++) bytes += buf_[i]->data_len;
    // Captured before tx_burst: once the driver has them, the mbufs are no longer ours to read.
    if (port_->capture.load(std::memory_order_relaxed)) capture_tap(*port_, buf_, count_, CaptureDir::Tx, queue_);
    const uint16_t sent = port_->driver().tx_burst(queue_, buf_, count_);
    if (sent < count_) {
      for (uint16_t i = sent; i < count_; i++) bytes -= buf_[i]->data_len;
      pool_->free_bulk(cache_, buf_ + sent, count_ - sent);
      stats_->full.add(count_ - sent);
    }
    stats_->packets.add(sent);
    stats_->bytes.add(bytes);
    count_ = 0;
  }

  // On stop: nothing more will be sent; give the mbufs back.
  void drop_all() {
    pool_->free_bulk(cache_, buf_, count_);
    count_ = 0;
  }

  Port* port() const { return port_; }
  Mempool::Cache* cache() const { return cache_; }
  TxQueueStats* stats() const { return stats_; }

 private:
  Port* port_;
  uint16_t queue_;
  Mempool* pool_;
  Mempool::Cache* cache_;
  uint16_t burst_;
  uint16_t count_ = 0;
  TxQueueStats* stats_;
  Mbuf* buf_[kMax];
};

}  // namespace lr
