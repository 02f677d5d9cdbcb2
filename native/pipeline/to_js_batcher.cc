#include "pipeline/to_js_batcher.h"

#include "pipeline/js_channel.h"

namespace lr {

void ToJsBatcher::drop_all(Mempool& pool) {
  Mbuf* m[kMax];
  for (uint32_t i = 0; i < n_; i++) m[i] = pool.mbuf(idx_[i]);
  pool.free_bulk(nullptr, m, n_);
  n_ = 0;
  held_.store(0, std::memory_order_relaxed);
}

void ToJsBatcher::publish(JsChannel& ch, Mempool& pool, Mempool::Cache* cache, const uint32_t* idx, uint32_t n) {
  if (!n) return;
  const uint32_t sent = ch.to_js().enqueue_burst(idx, n);
  // Marked after the enqueue: what comes back is applied by this same lcore
  // (ChannelReturnTask), never before this returns.
  ch.handed(idx, sent);
  if (sent) ch.notify();
  if (sent < n) {
    // A full ring is a counted drop, never unbounded memory.
    Mbuf* drop[kMax];
    for (uint32_t i = sent; i < n; i++) drop[i - sent] = pool.mbuf(idx[i]);
    pool.free_bulk(cache, drop, n - sent);
    ch.full.add(n - sent);
  }
}

}  // namespace lr
