#include "core/mempool.h"

#include <string>

#include "core/error.h"

namespace lr {

namespace {
uint32_t next_pow2(uint32_t v) {
  uint32_t p = 2;
  while (p < v) p <<= 1;
  return p;
}
constexpr uint32_t kChunk = 256;  // control-path bulk ops go through a stack buffer this big
}  // namespace

Mempool::Mempool(const MempoolOptions& o)
    : n_(o.mbufs), headroom_(o.headroom), data_room_(o.data_room) {
  if (o.mbufs < 1 || o.mbufs > (1u << 28)) fail("INVALID_OPTION", "mempool.mbufs must be in [1, 2^28], got " + std::to_string(o.mbufs));
  if (o.headroom % 64 || o.data_room % 64 || o.data_room == 0)
    fail("INVALID_OPTION", "mempool.headroom and mempool.dataRoom must be multiples of 64 (dataRoom > 0)");
  if (kMbufHeaderSize + o.headroom + o.data_room > 65535)
    fail("INVALID_OPTION", "mempool.headroom + mempool.dataRoom must stay below 65472 bytes (16-bit offsets)");
  if (o.cache_size > kMaxCache) fail("INVALID_OPTION", "mempool.cacheSize must be at most " + std::to_string(kMaxCache));
  slot_ = kMbufHeaderSize + headroom_ + data_room_;
  slot_shift_ = uint32_t(__builtin_ctz(slot_));
  const uint64_t odd = slot_ >> slot_shift_;
  // Newton's iteration for the inverse mod 2^64: odd * odd == 1 mod 8 (3 bits
  // right), and each step doubles the correct bits: 6, 12, 24, 48, 96.
  slot_inv_ = odd;
  for (int i = 0; i < 5; i++) slot_inv_ *= 2 - odd * slot_inv_;
  RegionOptions ro = o.region;
  ro.bytes = size_t(n_) * slot_;
  region_ = Region::allocate(ro);
  ring_ = OwnedRing(next_pow2(n_), 0);  // multi-producer, multi-consumer
  uint32_t idx[kChunk];
  for (uint32_t i = 0; i < n_;) {
    uint32_t k = 0;
    for (; k < kChunk && i < n_; k++, i++) {
      Mbuf* m = mbuf(i);
      m->buf_len = headroom_ + data_room_;
      m->port = m->queue = 0;
      m->rss_hash = 0;
      m->timestamp = m->user = 0;
      reset_mbuf(m, i);
      idx[k] = i;
    }
    ring_.enqueue_bulk(idx, k);  // a fresh ring of next_pow2(n) slots: room for all n
  }
  for (uint32_t i = 0; i < o.caches; i++) {
    auto c = std::make_unique<Cache>();
    c->size = o.cache_size;
    // Flush at 1.5x like a hysteresis band: a forwarder that frees exactly what
    // it allocated never touches the shared ring.
    c->flush_at = o.cache_size + o.cache_size / 2;
    caches_.push_back(std::move(c));
  }
}

uint32_t Mempool::free_in_caches() const {
  uint32_t s = 0;
  for (auto& c : caches_) s += c->len.load(std::memory_order_relaxed);
  return s;
}

bool Mempool::alloc_bulk(Cache* c, Mbuf** out, uint32_t n) {
  if (n == 0) return true;
  if (!c || c->size == 0 || n > kMaxCache) {
    // No cache: straight from the ring, in chunks, all or nothing.
    if (ring_.count() < n) {
      alloc_fail_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    uint32_t idx[kChunk];
    for (uint32_t done = 0; done < n;) {
      uint32_t k = std::min(kChunk, n - done);
      if (ring_.dequeue_bulk(idx, k) != k) {
        // Another thread took them between count() and here: give back what we took.
        free_bulk(c, out, done);
        alloc_fail_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
      for (uint32_t i = 0; i < k; i++) {
        out[done + i] = mbuf(idx[i]);
        reset_mbuf(out[done + i], idx[i]);
      }
      done += k;
    }
    return true;
  }
  uint32_t len = c->len.load(std::memory_order_relaxed);
  if (len < n) {
    // Refill to size + n so the next bursts are served from the cache.
    uint32_t want = c->size + n - len;
    uint32_t got = ring_.dequeue_bulk(&c->objs[len], want);
    if (got == 0) got = ring_.dequeue_bulk(&c->objs[len], n - len);
    if (got == 0) {
      alloc_fail_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    len += got;
  }
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t idx = c->objs[--len];
    Mbuf* m = mbuf(idx);
    reset_mbuf(m, idx);
    out[i] = m;
  }
  c->len.store(len, std::memory_order_relaxed);
  return true;
}

void Mempool::free_bulk(Cache* c, Mbuf* const* mbufs, uint32_t n) {
  if (n == 0) return;
  if (!c || c->size == 0 || n > kMaxCache) {
    uint32_t idx[kChunk];
    for (uint32_t done = 0; done < n;) {
      uint32_t k = std::min(kChunk, n - done);
      for (uint32_t i = 0; i < k; i++) idx[i] = index_of(mbufs[done + i]);
      put_back(idx, k);
      done += k;
    }
    return;
  }
  uint32_t len = c->len.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < n; i++) c->objs[len++] = index_of(mbufs[i]);
  if (len >= c->flush_at) {
    // The cache goes back to its size whatever the ring took: objs[] has room
    // for flush_at plus one burst only.
    put_back(&c->objs[c->size], len - c->size);
    len = c->size;
  }
  c->len.store(len, std::memory_order_relaxed);
}

void Mempool::flush_cache(Cache* c) {
  if (!c) return;
  uint32_t len = c->len.load(std::memory_order_relaxed);
  if (len) put_back(c->objs, len);
  c->len.store(0, std::memory_order_relaxed);
}

void Mempool::put_back(const uint32_t* idx, uint32_t n) {
  // Burst, not bulk: with a double free in the batch, keep every entry that fits.
  const uint32_t put = ring_.enqueue_burst(idx, n);
  if (put < n) free_overflow_.fetch_add(n - put, std::memory_order_relaxed);
}

void Mempool::flush_caches() {
  for (auto& c : caches_) flush_cache(c.get());
}

}  // namespace lr
