#include "pipeline/js_channel.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

namespace lr {

namespace {
size_t align64(size_t v) { return (v + 63) & ~size_t(63); }
}  // namespace

uint32_t JsChannel::from_js_size(uint32_t size, uint32_t burst) {
  uint32_t s = size * 2;
  while (s < kBatchFactor * burst) s <<= 1;
  return s;
}

JsChannel::JsChannel(uint16_t port, uint16_t queue, uint32_t size, uint32_t burst, uint32_t mbufs)
    : port_(port), queue_(queue) {
  if (!Ring::valid_size(size) || size > (1u << 29))
    fail("INVALID_OPTION", "handler ringSize must be a power of two from 2 to 2^29, got " + std::to_string(size));
  // from_js carries what to_js brought plus what the handler allocated.
  const uint32_t from_size = from_js_size(size, burst);
  const size_t to_off = sizeof(ChannelHeader);
  const size_t from_off = to_off + align64(Ring::bytes_for(size));
  const size_t free_off = from_off + align64(Ring::bytes_for(from_size));
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
  from_js_ = Ring::init(mem_ + from_off, from_size, spsc);
  free_ = Ring::init(mem_ + free_off, kFreeRingSize, spsc);
  batcher.configure(burst, 0);
  owned_.init(mbufs);
}

JsChannel::~JsChannel() { std::free(mem_); }

uint32_t JsChannel::held() const { return owned_n_.load(std::memory_order_relaxed) + batcher.held(); }

void JsChannel::drain(Mempool& pool) {
  batcher.drop_all(pool);
  Mbuf* m[64];
  uint32_t k = 0;
  auto give_back = [&](uint32_t idx) {
    m[k++] = pool.mbuf(idx);
    if (k == 64) {
      pool.free_bulk(nullptr, m, k);
      k = 0;
    }
  };
  // The rings first: their marked entries are JavaScript's to give back, not
  // leaks (to_js not yet taken, from_js not yet applied, free not yet used).
  // An entry that is not marked (never handed over, or seen already) is not
  // touched. At most a ring's capacity is read: its counters may be garbage.
  for (Ring* r : {&to_js_, &from_js_, &free_}) {
    auto* h = r->header();
    h->cons_head.store(h->cons_tail.load(std::memory_order_relaxed), std::memory_order_relaxed);
    uint32_t left = r->count(), idx[64];
    while (left) {
      const uint32_t n = r->dequeue_burst(idx, std::min<uint32_t>(left, 64));
      if (!n) break;
      for (uint32_t i = 0; i < n; i++)
        if (returned(idx[i])) give_back(idx[i]);
      left -= n;
    }
    // Empty again, whatever state the consumer left the counters in.
    const uint32_t prod = h->prod_tail.load(std::memory_order_relaxed);
    h->prod_head.store(prod, std::memory_order_relaxed);
    h->cons_head.store(prod, std::memory_order_relaxed);
    h->cons_tail.store(prod, std::memory_order_relaxed);
  }
  header()->hand_active.store(0, std::memory_order_relaxed);
  // Still marked: taken by JavaScript and never given back (a consumer that
  // died mid-burst, or lost track of it). Counted, and back to the pool.
  uint32_t leaked = 0;
  owned_.take_all([&](uint32_t idx) {
    leaked++;
    give_back(idx);
  });
  pool.free_bulk(nullptr, m, k);
  unreturned.add(leaked);
  owned_n_.store(0, std::memory_order_relaxed);
}

}  // namespace lr
