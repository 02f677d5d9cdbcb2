#include "pipeline/js_channel.h"

#include <cstdlib>
#include <cstring>
#include <new>

namespace lr {

namespace {
size_t align64(size_t v) { return (v + 63) & ~size_t(63); }
}  // namespace

JsChannel::JsChannel(uint16_t port, uint16_t queue, uint32_t size, uint32_t burst) : port_(port), queue_(queue) {
  if (!Ring::valid_size(size)) fail("INVALID_OPTION", "handler ringSize must be a power of two, got " + std::to_string(size));
  // from_js carries what to_js brought plus what the handler allocated.
  const size_t to_off = sizeof(ChannelHeader);
  const size_t from_off = to_off + align64(Ring::bytes_for(size));
  const size_t free_off = from_off + align64(Ring::bytes_for(size * 2));
  bytes_ = free_off + align64(Ring::bytes_for(kFreeRingSize));
  mem_ = static_cast<uint8_t*>(std::aligned_alloc(64, bytes_));
  if (!mem_) throw std::bad_alloc();
  std::memset(mem_, 0, bytes_);
  auto* h = new (mem_) ChannelHeader();
  h->magic = kChannelMagic;
  h->version = kChannelVersion;
  h->to_js_off = uint32_t(to_off);
  h->from_js_off = uint32_t(from_off);
  h->free_off = uint32_t(free_off);
  h->port = port;
  h->queue = queue;
  h->burst = burst;
  h->block_bytes = uint32_t(bytes_);
  const uint16_t spsc = kRingSingleProducer | kRingSingleConsumer;
  to_js_ = Ring::init(mem_ + to_off, size, spsc);
  from_js_ = Ring::init(mem_ + from_off, size * 2, spsc);
  free_ = Ring::init(mem_ + free_off, kFreeRingSize, spsc);
  batcher.configure(burst, 0);
}

JsChannel::~JsChannel() { std::free(mem_); }

uint32_t JsChannel::held() const {
  return to_js_.count() + from_js_.count() + free_.count() + batcher.held();
}

void JsChannel::recover() {
  ChannelHeader* h = header();
  if (!h->hand_active.load(std::memory_order_acquire)) return;
  const uint32_t prod = from_js_.header()->prod_tail.load(std::memory_order_acquire);
  if (prod != h->from_js_prod_before.load(std::memory_order_relaxed)) {
    // Committed: the mbufs are in from_js. Move the consumer tails past them
    // unless the consumer got that far itself.
    const uint32_t to_before = h->to_js_cons_before.load(std::memory_order_relaxed);
    const uint32_t free_before = h->free_cons_before.load(std::memory_order_relaxed);
    auto* th = to_js_.header();
    auto* fh = free_.header();
    if (th->cons_tail.load(std::memory_order_relaxed) == to_before) {
      const uint32_t v = to_before + h->hand_n.load(std::memory_order_relaxed);
      th->cons_head.store(v, std::memory_order_relaxed);
      th->cons_tail.store(v, std::memory_order_release);
    }
    if (fh->cons_tail.load(std::memory_order_relaxed) == free_before) {
      const uint32_t v = free_before + h->hand_k.load(std::memory_order_relaxed);
      fh->cons_head.store(v, std::memory_order_relaxed);
      fh->cons_tail.store(v, std::memory_order_release);
    }
  }
  // Not committed: everything the burst touched is still in to_js / the free ring.
  h->hand_active.store(0, std::memory_order_release);
}

void JsChannel::drain(Mempool& pool) {
  recover();
  batcher.drop_all(pool);
  // The JS side may have peeked without advancing: reset its heads to the tails.
  for (Ring* r : {&to_js_, &from_js_, &free_}) {
    auto* h = r->header();
    h->cons_head.store(h->cons_tail.load(std::memory_order_relaxed), std::memory_order_relaxed);
    uint32_t idx[64];
    while (uint32_t n = r->dequeue_burst(idx, 64)) {
      Mbuf* m[64];
      uint32_t k = 0;
      for (uint32_t i = 0; i < n; i++)
        if (idx[i] < pool.size()) m[k++] = pool.mbuf(idx[i]);
      pool.free_bulk(nullptr, m, k);
    }
  }
}

}  // namespace lr
