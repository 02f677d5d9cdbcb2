// Lock-free rings of 32-bit indices (mbuf indices, mostly).
//
// Shared-memory format, version 1 (docs/memory-format.md; JavaScript reads and
// writes the same bytes, so every field here is part of the ABI):
//
//   offset  size  field
//   0       4     magic     0x4c52524e ("LRRN" little-endian: 'N','R','R','L')
//   4       2     version   1
//   6       2     flags     bit0 single producer, bit1 single consumer
//   8       4     size      slots, a power of two
//   12      4     mask      size - 1
//   16      4     capacity  size (every slot is usable: heads are free-running
//                           32-bit counters, count = prod.tail - cons.tail mod 2^32)
//   64      4     prod.head     producer reservation (own cache line)
//   68      4     prod.tail     producer publication
//   128     4     cons.head     consumer reservation (own cache line)
//   132     4     cons.tail     consumer publication
//   192     4     consumer_sleeping  (for doorbells; 0 = polling)
//   256     4*n   slots
//
// Producer and consumer state live on separate cache lines so that the two
// sides do not false-share. Publication follows the usual two-phase protocol:
// reserve [head, head+n) with a CAS (or a plain store for a single producer),
// fill the slots, wait for earlier reservations to publish, then store tail with
// release order. The reader loads the other side's tail with acquire order.
//
// Reading the head and then the other side's tail (C++ memory model,
// [intro.races], [atomics.order]; the consumer is the mirror image):
//
// free = capacity + cons_tail - head is in [0, capacity] only if the cons_tail
// we read is no older than the one read by the producer whose CAS wrote the
// head we read: that producer checked head <= its cons_tail + capacity, and
// cons_tail only grows. An acquire load orders what comes after it, not a
// relaxed load before it, so "head relaxed, then tail acquire" may pair a fresh
// head with an older tail (arm64 and POWER reorder the two loads; x86 does not).
// free then wraps to ~2^32 and we reserve slots no consumer has read yet; for a
// consumer, avail wraps and it reads slots no producer has filled. The same
// holds for the head a failed CAS hands back.
//
// So every read of the head that feeds free/avail is an acquire (the first
// load, and the CAS's failure order), and every CAS that moves the head is a
// release (acq_rel). The head we read was then written by a release whose
// thread read the tail before it: that tail read happens before ours, and
// read-read coherence ([intro.races] p16) makes ours no older. (DPDK's C11
// ring, rte_ring_c11_pvt.h, fixed the same bug with an acquire fence between
// the two loads; a fence orders our loads on the CPU, but in the model it only
// synchronizes with a release in the writer, which the CAS must then be. The
// acquire load says the same in one place.) On x86 all of this costs nothing:
// every load is an acquire and lock cmpxchg is a full barrier. On arm64 it is
// ldar (or ldapr) and casal instead of ldr and cas.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include <sched.h>

#include "core/cycles.h"
#include "core/error.h"

namespace lr {

constexpr uint32_t kRingMagic = 0x4c52524e;
constexpr uint16_t kRingVersion = 1;
constexpr uint16_t kRingSingleProducer = 1;
constexpr uint16_t kRingSingleConsumer = 2;

struct alignas(64) RingHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t flags;
  uint32_t size;
  uint32_t mask;
  uint32_t capacity;
  uint8_t pad0[64 - 20];
  alignas(64) std::atomic<uint32_t> prod_head;
  std::atomic<uint32_t> prod_tail;
  alignas(64) std::atomic<uint32_t> cons_head;
  std::atomic<uint32_t> cons_tail;
  alignas(64) std::atomic<uint32_t> consumer_sleeping;
  alignas(64) uint32_t slots[];
};
static_assert(sizeof(std::atomic<uint32_t>) == 4 && std::atomic<uint32_t>::is_always_lock_free,
              "ring counters must be plain 32-bit words for JavaScript Atomics");
static_assert(offsetof(RingHeader, prod_head) == 64, "ring ABI: prod.head at 64");
static_assert(offsetof(RingHeader, prod_tail) == 68, "ring ABI: prod.tail at 68");
static_assert(offsetof(RingHeader, cons_head) == 128, "ring ABI: cons.head at 128");
static_assert(offsetof(RingHeader, cons_tail) == 132, "ring ABI: cons.tail at 132");
static_assert(offsetof(RingHeader, consumer_sleeping) == 192, "ring ABI: sleep flag at 192");
static_assert(offsetof(RingHeader, slots) == 256, "ring ABI: slots at 256");

// A view over a ring in memory it does not own (see OwnedRing for one that does).
class Ring {
 public:
  Ring() = default;
  explicit Ring(RingHeader* h) : h_(h) {}

  static size_t bytes_for(uint32_t size) { return sizeof(RingHeader) + size_t(size) * 4; }
  static bool valid_size(uint32_t size) { return size >= 2 && (size & (size - 1)) == 0 && size <= (1u << 30); }

  // Writes a fresh header into mem (bytes_for(size) bytes, 64-byte aligned).
  static Ring init(void* mem, uint32_t size, uint16_t flags) {
    if (!valid_size(size)) fail("INVALID_OPTION", "ring size " + std::to_string(size) + " is not a power of two in [2, 2^30]");
    auto* h = new (mem) RingHeader();
    h->magic = kRingMagic;
    h->version = kRingVersion;
    h->flags = flags;
    h->size = size;
    h->mask = size - 1;
    h->capacity = size;
    h->prod_head.store(0, std::memory_order_relaxed);
    h->prod_tail.store(0, std::memory_order_relaxed);
    h->cons_head.store(0, std::memory_order_relaxed);
    h->cons_tail.store(0, std::memory_order_relaxed);
    h->consumer_sleeping.store(0, std::memory_order_relaxed);
    return Ring(h);
  }

  // Checks a header written elsewhere (by JavaScript, or another build).
  static Ring attach(void* mem) {
    auto* h = static_cast<RingHeader*>(mem);
    if (h->magic != kRingMagic) fail("RING_FORMAT", "not a linerate ring (bad magic)");
    if (h->version != kRingVersion) fail("RING_FORMAT", "ring format version " + std::to_string(h->version) + " is not supported");
    if (!valid_size(h->size) || h->mask != h->size - 1) fail("RING_FORMAT", "ring header has an invalid size");
    return Ring(h);
  }

  RingHeader* header() const { return h_; }
  uint32_t capacity() const { return h_->capacity; }
  // Exact when the ring is quiet; a snapshot within [0, capacity] while it moves.
  // cons_tail is read first: both tails only grow and cons_tail never passes
  // prod_tail, so the later prod_tail is at least the earlier cons_tail (reading
  // prod_tail first lets a consumer pass it in between, and the difference
  // wraps to ~2^32). A producer can move on meanwhile, hence the clamp.
  uint32_t count() const {
    const uint32_t cons = h_->cons_tail.load(std::memory_order_acquire);
    const uint32_t prod = h_->prod_tail.load(std::memory_order_acquire);
    return std::min(prod - cons, h_->capacity);
  }
  uint32_t free_count() const { return capacity() - count(); }
  bool single_producer() const { return h_->flags & kRingSingleProducer; }
  bool single_consumer() const { return h_->flags & kRingSingleConsumer; }

  // Bulk: all n or nothing. Burst: as many as fit. Both return the number moved.
  uint32_t enqueue_bulk(const uint32_t* objs, uint32_t n) { return enqueue(objs, n, true); }
  uint32_t enqueue_burst(const uint32_t* objs, uint32_t n) { return enqueue(objs, n, false); }
  uint32_t dequeue_bulk(uint32_t* objs, uint32_t n) { return dequeue(objs, n, true); }
  uint32_t dequeue_burst(uint32_t* objs, uint32_t n) { return dequeue(objs, n, false); }

 private:
  uint32_t enqueue(const uint32_t* objs, uint32_t n, bool all) {
    RingHeader* h = h_;
    uint32_t head, next;
    const bool sp = h->flags & kRingSingleProducer;
    // Acquire: the tail read below must be no older than the one the writer of
    // this head read (header comment, "Reading the head").
    head = h->prod_head.load(std::memory_order_acquire);
    for (;;) {
      // Acquire pairs with the consumer's release of cons_tail: the slots we are
      // about to overwrite have been read.
      const uint32_t free = h->capacity + h->cons_tail.load(std::memory_order_acquire) - head;
      if (n > free) {
        if (all || free == 0) return 0;
        n = free;
      }
      if (n == 0) return 0;
      next = head + n;
      if (sp) {
        // Only this thread reads or writes a single producer's head.
        h->prod_head.store(next, std::memory_order_relaxed);
        break;
      }
      // Success releases our tail read to the next producer that reads this
      // head; failure reloads head with acquire, as the first load.
      if (h->prod_head.compare_exchange_weak(head, next, std::memory_order_acq_rel, std::memory_order_acquire)) break;
    }
    copy_in(head, objs, n);
    if (!sp) {
      // Earlier reservations publish first, so tail only moves over filled slots.
      // Acquire: our release of tail below must also publish the slots the
      // earlier producers filled (a relaxed load does not carry their release on
      // to the consumer; TSan reports the slot copies as a race).
      wait_turn(h->prod_tail, head);
    }
    h->prod_tail.store(next, std::memory_order_release);
    return n;
  }

  uint32_t dequeue(uint32_t* objs, uint32_t n, bool all) {
    RingHeader* h = h_;
    uint32_t head, next;
    const bool sc = h->flags & kRingSingleConsumer;
    // Acquire, as in enqueue: a fresh head with an older prod_tail would make
    // avail wrap and hand out slots no producer has filled.
    head = h->cons_head.load(std::memory_order_acquire);
    for (;;) {
      // Acquire pairs with the producer's release of prod_tail: the slots we
      // are about to read are filled.
      const uint32_t avail = h->prod_tail.load(std::memory_order_acquire) - head;
      if (n > avail) {
        if (all || avail == 0) return 0;
        n = avail;
      }
      if (n == 0) return 0;
      next = head + n;
      if (sc) {
        // Only this thread reads or writes a single consumer's head.
        h->cons_head.store(next, std::memory_order_relaxed);
        break;
      }
      if (h->cons_head.compare_exchange_weak(head, next, std::memory_order_acq_rel, std::memory_order_acquire)) break;
    }
    copy_out(head, objs, n);
    if (!sc) {
      // Acquire, for the same reason: a producer that sees our tail may reuse
      // the slots the earlier consumers read.
      wait_turn(h->cons_tail, head);
    }
    h->cons_tail.store(next, std::memory_order_release);
    return n;
  }

  // Waits until the reservations before ours have published (tail == head).
  // The thread that owns the one before may have been preempted between its
  // reservation and its publication: more runnable threads than CPUs (handler
  // workers beside lcores on a shared machine, or the 4+4 stress test under
  // qemu-user, where arm64's yield hint does nothing). Pausing until it runs
  // again would burn our whole time slice, and every other waiter's, so after
  // kSpinsBeforeYield pauses (a few microseconds) we give the CPU up. On a
  // dedicated core the earlier producer publishes within a few pauses and the
  // yield is never reached. Acquire: see the callers.
  static void wait_turn(const std::atomic<uint32_t>& tail, uint32_t head) {
    constexpr uint32_t kSpinsBeforeYield = 1024;
    uint32_t spins = 0;
    while (tail.load(std::memory_order_acquire) != head) {
      if (++spins < kSpinsBeforeYield) {
        cpu_pause();
      } else {
        spins = 0;
        sched_yield();
      }
    }
  }

  void copy_in(uint32_t head, const uint32_t* objs, uint32_t n) {
    const uint32_t idx = head & h_->mask;
    const uint32_t first = std::min(n, h_->size - idx);
    std::memcpy(&h_->slots[idx], objs, size_t(first) * 4);
    if (first < n) std::memcpy(&h_->slots[0], objs + first, size_t(n - first) * 4);
  }
  void copy_out(uint32_t head, uint32_t* objs, uint32_t n) const {
    const uint32_t idx = head & h_->mask;
    const uint32_t first = std::min(n, h_->size - idx);
    std::memcpy(objs, &h_->slots[idx], size_t(first) * 4);
    if (first < n) std::memcpy(objs + first, &h_->slots[0], size_t(n - first) * 4);
  }

  RingHeader* h_ = nullptr;
};

// A ring that owns its (cache-line aligned) memory.
class OwnedRing : public Ring {
 public:
  OwnedRing() = default;
  OwnedRing(uint32_t size, uint16_t flags) {
    if (!valid_size(size)) fail("INVALID_OPTION", "ring size " + std::to_string(size) + " is not a power of two in [2, 2^30]");
    mem_ = std::aligned_alloc(64, (bytes_for(size) + 63) / 64 * 64);
    if (!mem_) throw std::bad_alloc();
    static_cast<Ring&>(*this) = Ring::init(mem_, size, flags);
  }
  OwnedRing(const OwnedRing&) = delete;
  OwnedRing& operator=(const OwnedRing&) = delete;
  OwnedRing(OwnedRing&& o) noexcept : Ring(o), mem_(o.mem_) { o.mem_ = nullptr; }
  OwnedRing& operator=(OwnedRing&& o) noexcept {
    if (this != &o) {
      std::free(mem_);
      static_cast<Ring&>(*this) = o;
      mem_ = o.mem_;
      o.mem_ = nullptr;
    }
    return *this;
  }
  ~OwnedRing() { std::free(mem_); }

 private:
  void* mem_ = nullptr;
};

}  // namespace lr
