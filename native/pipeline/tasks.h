// The two kinds of poll task an lcore runs:
//  - PortPollTask: rx_burst on one (port, queue), count, hand the burst to a stage;
//    the queue's wake-up fd lets an idle lcore block (core/lcore.h).
//  - RingPollTask: take a burst from a software-RSS ring, hand it to a stage.
#pragma once
#include <memory>
#include <vector>

#include "core/lcore.h"
#include "core/ring.h"
#include "pipeline/port.h"
#include "pipeline/stage.h"

namespace lr {

class PortPollTask final : public Task {
 public:
  // stats: the rx queue's counters, or nullptr when a software-RSS stage counts them.
  PortPollTask(Port* port, uint16_t queue, std::unique_ptr<Stage> next, uint16_t burst, RxQueueStats* stats)
      : port_(port), queue_(queue), next_(std::move(next)), burst_(burst), stats_(stats) {}

  uint32_t poll() override {
    Mbuf* m[64];
    const uint16_t n = port_->driver().rx_burst(queue_, m, burst_);
    if (!n) return 0;
    if (stats_) {
      uint64_t bytes = 0;
      for (uint16_t i = 0; i < n; i++) bytes += m[i]->data_len;
      stats_->packets.add(n);
      stats_->bytes.add(bytes);
    }
    if (port_->capture.load(std::memory_order_relaxed)) capture_tap(*port_, m, n, CaptureDir::Rx, queue_);
    next_->process(m, n);
    return n;
  }
  void flush() override { next_->flush(); }
  void drain() override { next_->drain(); }

  // Adaptive idle: the queue's wake-up fd (MSI-X eventfd, AF_XDP or packet socket), when its driver has one.
  bool wake_fds(std::vector<int>& fds) override {
    const int fd = port_->driver().rx_wait_fd(queue_);
    if (fd < 0) return false;
    fds.push_back(fd);
    return true;
  }
  void arm_wakeup() override { port_->driver().rx_intr_enable(queue_); }
  void disarm_wakeup() override { port_->driver().rx_intr_disable(queue_); }

 private:
  Port* port_;
  uint16_t queue_;
  std::unique_ptr<Stage> next_;
  uint16_t burst_;
  RxQueueStats* stats_;
};

class RingPollTask final : public Task {
 public:
  RingPollTask(Ring* ring, std::unique_ptr<Stage> next, Mempool* pool, uint16_t burst)
      : ring_(ring), next_(std::move(next)), pool_(pool), burst_(burst) {}

  uint32_t poll() override {
    uint32_t idx[64];
    const uint32_t n = ring_->dequeue_burst(idx, burst_);
    if (!n) return 0;
    Mbuf* m[64];
    for (uint32_t i = 0; i < n; i++) m[i] = pool_->mbuf(idx[i]);
    next_->process(m, uint16_t(n));
    return n;
  }
  void flush() override { next_->flush(); }
  void drain() override {
    next_->drain();
    uint32_t idx[64];
    while (uint32_t n = ring_->dequeue_burst(idx, 64)) {
      Mbuf* m[64];
      for (uint32_t i = 0; i < n; i++) m[i] = pool_->mbuf(idx[i]);
      pool_->free_bulk(nullptr, m, n);
    }
  }

 private:
  Ring* ring_;
  std::unique_ptr<Stage> next_;
  Mempool* pool_;
  uint16_t burst_;
};

}  // namespace lr
