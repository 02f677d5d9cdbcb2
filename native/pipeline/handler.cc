#include "pipeline/handler.h"

namespace lr {

void HandlerStage::process(Mbuf** m, uint16_t n) {
  uint32_t to_js[64];
  Mbuf* rest[64];
  uint16_t nj = 0, nr = 0;
  for (uint16_t i = 0; i < n; i++) {
    if (match_(m[i])) to_js[nj++] = pool_->index_of(m[i]);
    else rest[nr++] = m[i];
  }
  if (nj) ch_->batcher.add(*ch_, *pool_, cache_, to_js, nj);
  if (nr) {
    if (fallback_) {
      fallback_->process(rest, nr);
    } else {
      pool_->free_bulk(cache_, rest, nr);
      unmatched_->add(nr);
    }
  }
}

uint32_t ChannelReturnTask::poll() {
  // This task runs every loop of the lcore that fills the channel: the place to
  // publish a partial burst whose wait is over.
  ch_->batcher.publish_due(*ch_, *pool_, cache_);
  uint32_t idx[64];
  const uint32_t n = ch_->from_js().dequeue_burst(idx, burst_);
  Mbuf* back[64];
  uint32_t k = 0;
  for (uint32_t i = 0; i < n; i++) {
    // Never trust an index from JavaScript: only one the channel handed over
    // and has not had back (js_channel.h, "Trust") is applied; anything else
    // (out of range, returned twice, never given) is counted and not touched.
    if (!ch_->returned(idx[i])) {
      ch_->verdicts.bad.add(1);
      continue;
    }
    back[k++] = pool_->mbuf(idx[i]);
  }
  sink_.apply_burst(back, k);
  // What JS gives back is a whole handled burst: send it now rather than let a
  // partial burst wait in the tx buffers for the drain timer (drainUs, 100 us by
  // default), which showed as the pipeline modes' latency floor. Inline mode's
  // tx() does the same.
  if (n) sink_.flush();
  // Keep empty mbufs ready for batch.alloc(), a burst at a time.
  Ring& fr = ch_->free_ring();
  if (fr.free_count() >= 32) {
    Mbuf* m[32];
    if (pool_->alloc_bulk(cache_, m, 32)) {
      uint32_t fi[32];
      for (int i = 0; i < 32; i++) fi[i] = pool_->index_of(m[i]);
      // We are the only producer and the room was checked, but the consumer's
      // counters are JavaScript's to write: what the ring does not take goes back.
      const uint32_t put = fr.enqueue_burst(fi, 32);
      ch_->handed(fi, put);
      if (put < 32) pool_->free_bulk(cache_, m + put, 32 - put);
    }
  }
  return n;
}

void InlineQueue::bind(const std::vector<Port*>& ports, Mempool::Cache* cache, uint16_t burst,
                       std::unique_ptr<Stage> fallback, Counter* unmatched) {
  cache_ = cache;
  burst_ = burst;
  fallback_ = std::move(fallback);
  unmatched_ = unmatched;
  sink_ = std::make_unique<VerdictSink>(ports, slot_, pool_, cache, burst, &verdicts);
}

void InlineQueue::unbind() {
  recover();
  if (sink_) sink_->drop_all();
  if (fallback_) fallback_->drain();
  sink_.reset();
  fallback_.reset();
}

uint32_t InlineQueue::rx(uint32_t* out, uint32_t n) {
  if (!sink_) fail("ENGINE_STOPPED", "the engine is not running: inline rx is only possible between start() and stop()");
  n = std::min<uint32_t>({n, 64, kMaxHeld - nheld_});
  Mbuf* m[64];
  const uint16_t got = port_->driver().rx_burst(queue_, m, uint16_t(n));
  if (!got) {
    if (fallback_) fallback_->flush();
    return 0;
  }
  if (port_->capture.load(std::memory_order_relaxed)) capture_tap(*port_, m, got, CaptureDir::Rx, queue_);
  RxQueueStats& st = port_->rxq()[queue_];
  uint64_t bytes = 0;
  if (host_mode_ && fallback_) {
    for (uint16_t i = 0; i < got; i++) bytes += m[i]->data_len;
    st.packets.add(got);
    st.bytes.add(bytes);
    rx_out_ = out;
    rx_k_ = 0;
    fallback_->process(m, got);  // the host stage; accept() collects this socket's datagrams
    rx_out_ = nullptr;
    return rx_k_;
  }
  Mbuf* rest[64];
  uint16_t nr = 0;
  uint32_t k = 0;
  for (uint16_t i = 0; i < got; i++) {
    bytes += m[i]->data_len;
    if (match_(m[i])) {
      held_[nheld_++] = m[i];
      out[k++] = pool_->index_of(m[i]);
    } else {
      rest[nr++] = m[i];
    }
  }
  st.packets.add(got);
  st.bytes.add(bytes);
  if (nr) {
    if (fallback_) fallback_->process(rest, nr);
    else {
      pool_->free_bulk(cache_, rest, nr);
      unmatched_->add(nr);
    }
  }
  return k;
}

uint32_t InlineQueue::alloc(uint32_t* out, uint32_t n) {
  if (!sink_) fail("ENGINE_STOPPED", "the engine is not running");
  n = std::min<uint32_t>({n, 64, kMaxHeld - nheld_});
  Mbuf* m[64];
  if (!n || !pool_->alloc_bulk(cache_, m, n)) return 0;
  for (uint32_t i = 0; i < n; i++) {
    m[i]->port = port_->id();
    m[i]->queue = queue_;
    held_[nheld_++] = m[i];
    out[i] = pool_->index_of(m[i]);
  }
  return n;
}

void InlineQueue::tx() {
  if (!sink_) {
    recover();
    return;
  }
  sink_->apply_burst(held_, nheld_);
  nheld_ = 0;
  sink_->flush();
}

void InlineQueue::recover() {
  if (nheld_) pool_->free_bulk(nullptr, held_, nheld_);
  nheld_ = 0;
}

}  // namespace lr
