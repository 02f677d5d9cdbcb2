// Mempool: a fixed number of mbufs in one contiguous Region.
//
// Free mbufs are held in an MPMC ring of indices, fronted by one cache per
// lcore (a LIFO stack, so the same few hundred mbufs cycle and stay hot in the
// CPU caches). Allocation and free are bulk operations on those caches.
//
// Ownership: every mbuf is in exactly one place. The pool knows the free ones
// (ring + caches); every other holder (a driver ring, a software ring, a JS
// ring) reports its own count through owner accounting (account()), and
// whatever is in nobody's books is "in flight" in an lcore burst or held by the
// application. After Engine::stop() the free count equals the pool size, or a
// leak shows up as a number.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/mbuf.h"
#include "core/memory.h"
#include "core/ring.h"

namespace lr {

struct MempoolOptions {
  uint32_t mbufs = 8192;      // rounded up to what the ring needs: size is a power of two >= mbufs
  uint32_t headroom = 128;    // multiple of 64
  uint32_t data_room = 2048;  // multiple of 64
  uint32_t cache_size = 256;  // per lcore; 0 disables caches
  uint32_t caches = 0;        // number of per-lcore caches
  RegionOptions region;       // bytes is computed
};

// Places that hold mbufs, for accounting.
enum class Owner : int { Driver = 0, Ring = 1, Js = 2, kCount = 3 };

class Mempool {
 public:
  static constexpr uint32_t kMaxCache = 512;

  struct alignas(64) Cache {
    std::atomic<uint32_t> len{0};  // read by stats without a lock; written only by its lcore
    uint32_t size = 0;             // target fill after a refill or a flush
    uint32_t flush_at = 0;         // free() pushes the excess to the ring past this
    uint32_t objs[kMaxCache * 3];  // flush_at (<= 1.5 size) + one burst (<= kMaxCache)
  };

  explicit Mempool(const MempoolOptions& opts);
  Mempool(const Mempool&) = delete;
  Mempool& operator=(const Mempool&) = delete;

  uint32_t size() const { return n_; }
  uint32_t slot_size() const { return slot_; }
  uint32_t headroom() const { return headroom_; }
  uint32_t data_room() const { return data_room_; }
  uint8_t* base() const { return region_.base(); }
  size_t region_bytes() const { return size_t(n_) * slot_; }
  const Region& region() const { return region_; }

  Mbuf* mbuf(uint32_t index) const { return reinterpret_cast<Mbuf*>(region_.base() + size_t(index) * slot_); }
  // The index of an mbuf of this pool (a pointer to a slot start), from its
  // address: never from Mbuf::index, which sits in memory a JavaScript handler
  // can write (docs/handlers.md); that field is kept for JS to read. The
  // offset is an exact multiple of the slot, so the division is exact: with
  // slot = 2^s * odd, offset / slot = (offset >> s) * odd^-1 mod 2^64 (exact
  // division by an invariant integer: Granlund & Montgomery, PLDI 1994, sec. 9;
  // Hacker's Delight, 2nd ed., 10-16). One shift and one multiply instead of a
  // 64-bit divide on every free.
  uint32_t index_of(const Mbuf* m) const {
    const uint64_t off = uint64_t(reinterpret_cast<const uint8_t*>(m) - region_.base());
    return uint32_t((off >> slot_shift_) * slot_inv_);
  }
  bool owns(const Mbuf* m) const {
    auto p = reinterpret_cast<const uint8_t*>(m);
    return p >= region_.base() && p < region_.base() + region_bytes() && (size_t(p - region_.base()) % slot_) == 0;
  }

  // Cache i belongs to lcore i; nullptr means "no cache" (control thread).
  Cache* cache(uint32_t i) { return i < caches_.size() ? caches_[i].get() : nullptr; }
  uint32_t cache_count() const { return uint32_t(caches_.size()); }

  // All n or none. Each returned mbuf is reset: data_off = header + headroom,
  // data_len = 0, flags = 0.
  bool alloc_bulk(Cache* c, Mbuf** out, uint32_t n);
  void free_bulk(Cache* c, Mbuf* const* mbufs, uint32_t n);
  void free_one(Cache* c, Mbuf* m) { free_bulk(c, &m, 1); }

  // Moves what a cache holds back into the ring. Only while its lcore is stopped.
  void flush_cache(Cache* c);
  void flush_caches();

  // Accounting.
  uint32_t free_in_ring() const { return ring_.count(); }
  uint32_t free_in_caches() const;
  // While lcores run, an mbuf moving between the ring and a cache can be seen in
  // both; a snapshot never reports more than the pool holds.
  uint32_t available() const { return std::min(n_, free_in_ring() + free_in_caches()); }
  void account(Owner o, int64_t delta) { held_[int(o)].fetch_add(delta, std::memory_order_relaxed); }
  int64_t held(Owner o) const { return held_[int(o)].load(std::memory_order_relaxed); }
  uint64_t alloc_failures() const { return alloc_fail_.load(std::memory_order_relaxed); }
  // Frees the free ring could not take. The ring has room for every mbuf of the
  // pool (exactly, when the pool size is a power of two), so only an mbuf freed
  // twice makes one: each is a bug upstream, counted here rather than lost
  // silently (the index is dropped; the pool keeps one entry for that mbuf).
  uint64_t free_overflows() const { return free_overflow_.load(std::memory_order_relaxed); }

  // Also rewrites the index field: a handler may have scribbled over it.
  void reset_mbuf(Mbuf* m, uint32_t index) const {
    m->index = index;
    m->data_off = uint16_t(kMbufHeaderSize + headroom_);
    m->data_len = 0;
    m->flags = 0;
    m->verdict = kVerdictDrop;
  }

 private:
  // Moves indices into the free ring; what does not fit is counted (free_overflows).
  void put_back(const uint32_t* idx, uint32_t n);

  uint32_t n_, slot_, headroom_, data_room_;
  uint32_t slot_shift_ = 0;  // index_of(): slot = odd << slot_shift_
  uint64_t slot_inv_ = 1;    // odd^-1 mod 2^64
  Region region_;
  OwnedRing ring_;
  std::vector<std::unique_ptr<Cache>> caches_;
  std::atomic<int64_t> held_[int(Owner::kCount)] = {};
  std::atomic<uint64_t> alloc_fail_{0};
  std::atomic<uint64_t> free_overflow_{0};
};

}  // namespace lr
