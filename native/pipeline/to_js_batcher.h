// Coalescing on the lcore side of a handler channel (pipeline mode).
//
// Every burst handed to JavaScript costs a fixed amount on both sides: the
// consumer's ring reads and hand record, the handler call, and a handful of
// cache lines that move between the lcore's core and the consumer's. A source
// that delivers a few packets per poll (a paced generator, a NIC at a moderate
// rate) pays that per few packets. With a window, matched packets wait here, on
// the lcore, until a burst is full or the oldest has waited `window` TSC
// cycles, and go to to_js as one burst. A window of 0 (the default,
// HandleOptions.coalesceUs) publishes every rx burst as it comes; the A/B
// behind that default is in docs/bench.md ("Latency").
//
// Only the lcore that polls the channel's queue touches this (HandlerStage
// adds, ChannelReturnTask checks the deadline every loop), so there is no lock.
#pragma once
#include <atomic>
#include <cstdint>

#include "core/cycles.h"
#include "core/mempool.h"

namespace lr {

class JsChannel;

class ToJsBatcher {
 public:
  static constexpr uint32_t kMax = 128;  // two bursts: a full one plus the rx burst that overfilled it

  void configure(uint32_t burst, uint64_t window_cycles) {
    burst_ = burst < kMax / 2 ? burst : kMax / 2;
    window_ = window_cycles;
  }
  uint64_t window() const { return window_; }
  // Any thread (the pool accounting of engine.stats()): mbufs staged right now.
  uint32_t held() const { return held_.load(std::memory_order_relaxed); }

  // Matched mbuf indices of one rx burst (n <= 64).
  void add(JsChannel& ch, Mempool& pool, Mempool::Cache* cache, const uint32_t* idx, uint32_t n) {
    if (!window_) {
      publish(ch, pool, cache, idx, n);
      return;
    }
    if (!n_) since_ = rdtsc();
    for (uint32_t i = 0; i < n; i++) idx_[n_++] = idx[i];
    held_.store(n_, std::memory_order_relaxed);
    if (n_ >= burst_) flush(ch, pool, cache);
  }

  // Every lcore loop: publish a partial burst whose oldest packet has waited the window.
  void publish_due(JsChannel& ch, Mempool& pool, Mempool::Cache* cache) {
    if (n_ && rdtsc() - since_ >= window_) flush(ch, pool, cache);
  }

  void flush(JsChannel& ch, Mempool& pool, Mempool::Cache* cache) {
    if (!n_) return;
    const uint32_t n = n_;
    n_ = 0;
    held_.store(0, std::memory_order_relaxed);
    publish(ch, pool, cache, idx_, n);
  }

  // Stop: the staged mbufs go back to the pool (they never reached JavaScript).
  void drop_all(Mempool& pool);

 private:
  // to_js, then the doorbell if the consumer sleeps; what does not fit is dropped and counted.
  static void publish(JsChannel& ch, Mempool& pool, Mempool::Cache* cache, const uint32_t* idx, uint32_t n);

  uint32_t idx_[kMax];
  uint32_t n_ = 0;                       // the lcore's own count
  std::atomic<uint32_t> held_{0};        // n_ as other threads may read it
  uint32_t burst_ = 32;
  uint64_t window_ = 0;
  uint64_t since_ = 0;
};

}  // namespace lr
