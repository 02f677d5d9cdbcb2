// The hand-off between an lcore and a JavaScript consumer (pipeline mode).
//
// One channel per (port, rx queue) with a handler. Its memory is one block that
// JS maps as an ArrayBuffer (format version 1, docs/memory-format.md):
//
//   0     header: magic 'LRCH' (0x4c524348), version, ring offsets, port, queue
//   64    hand:   the consumer's record of the burst it is working on
//   128   JS counters (float64): batches, packets, handler errors, error drops
//   256   to_js ring   (SPSC; lcore -> JS: mbuf indices the handler asked for)
//   ...   from_js ring (SPSC; JS -> lcore: every mbuf back, verdict in its header)
//   ...   free ring    (SPSC; lcore -> JS: empty mbufs for batch.alloc())
//
// Ownership without loss. JS never advances a ring it consumes before it has
// given the mbufs back: it *peeks* a burst of to_js (and of the free ring for
// allocations), runs the handler, writes every index into from_js and then
// publishes from_js's tail: that one store is the commit. Only then does it
// advance the two consumer tails. The hand records the tails before the burst
// (for a reader of the block; native code no longer needs it, see below).
//
// Trust. Everything JS can write (the rings, the hand, the mbuf headers) may
// be wrong. The channel keeps its own record of what it has handed to JS: a
// bit per mbuf of the pool, set when an index goes into to_js or the free
// ring, cleared when it comes back through from_js. An index JS returns that
// is not marked (never handed over, or returned twice) is counted as a bad
// verdict and never touched; whatever is still marked at stop (in a ring, in
// the hands of a consumer that died or leaked it) goes back to the pool. Only
// the lcore that serves the channel touches the bitmap while it runs
// (HandlerStage and ChannelReturnTask run on it), and drain() after every
// lcore has stopped, so it needs no lock.
//
// Sizes. One commit gives back a whole batch: the packets taken from to_js
// (at most `burst`) plus those the handler allocated; the JS batch holds at
// most kBatchFactor x burst (src/handler/channel-consumer.ts). from_js holds at
// least that, whatever ringSize says, or a small ring could never take a
// commit and the channel would stall for good.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

#include "core/bitmap.h"
#include "core/counter.h"
#include "core/mempool.h"
#include "core/ring.h"
#include "pipeline/to_js_batcher.h"

namespace lr {

constexpr uint32_t kChannelMagic = 0x4c524348;
constexpr uint16_t kChannelVersion = 1;

struct ChannelHeader {
  uint32_t magic;           // 0
  uint16_t version;         // 4
  uint16_t flags;           // 6
  uint32_t to_js_off;       // 8
  uint32_t from_js_off;     // 12
  uint32_t free_off;        // 16
  uint32_t port;            // 20
  uint32_t queue;           // 24
  uint32_t burst;           // 28
  uint32_t block_bytes;     // 32
  uint8_t pad0[64 - 36];
  // hand (64): written by the JS consumer only, with Atomics.
  std::atomic<uint32_t> hand_active;       // 64
  std::atomic<uint32_t> hand_n;            // 68: peeked from to_js
  std::atomic<uint32_t> hand_k;            // 72: peeked from the free ring
  std::atomic<uint32_t> to_js_cons_before; // 76
  std::atomic<uint32_t> free_cons_before;  // 80
  std::atomic<uint32_t> from_js_prod_before;  // 84
  uint8_t pad1[128 - 88];
  double js_counters[16];   // 128: batches, packets, errors, error drops (JS-written)
};
static_assert(sizeof(ChannelHeader) == 256, "channel header is 256 bytes");
static_assert(offsetof(ChannelHeader, hand_active) == 64, "channel ABI");
static_assert(offsetof(ChannelHeader, js_counters) == 128, "channel ABI");

// What came back from a handler, by verdict (one writer: the lcore or inline worker).
struct VerdictCounters {
  Counter replied, forwarded, dropped, bad;
  Counter sent;  // host datagrams sent to an address (host::kVerdictSend)
};

// Wakes a sleeping JS consumer. The binding implements it with a thread-safe
// function; the pipeline only knows this interface.
class Doorbell {
 public:
  virtual ~Doorbell() = default;
  virtual void ring() = 0;
};

class JsChannel {
 public:
  static constexpr uint32_t kFreeRingSize = 64;
  // A JS batch holds a burst plus as many allocations: kBatchFactor x burst entries.
  static constexpr uint32_t kBatchFactor = 2;
  // Slots of from_js for a to_js of `size` slots: 2 x size, and never less than one whole batch.
  static uint32_t from_js_size(uint32_t size, uint32_t burst);

  // `mbufs`: the pool's size (the ownership bitmap has a bit per mbuf).
  JsChannel(uint16_t port, uint16_t queue, uint32_t size, uint32_t burst, uint32_t mbufs);
  ~JsChannel();
  JsChannel(const JsChannel&) = delete;
  JsChannel& operator=(const JsChannel&) = delete;

  uint8_t* memory() const { return mem_; }
  size_t bytes() const { return bytes_; }
  ChannelHeader* header() const { return reinterpret_cast<ChannelHeader*>(mem_); }
  Ring& to_js() { return to_js_; }
  Ring& from_js() { return from_js_; }
  Ring& free_ring() { return free_; }
  uint16_t port() const { return port_; }
  uint16_t queue() const { return queue_; }

  // Set before the lcores start; not changed while they run.
  void set_doorbell(std::shared_ptr<Doorbell> d) { doorbell_ = std::move(d); }
  bool has_consumer() const { return doorbell_ != nullptr; }
  void clear_doorbell() { doorbell_.reset(); }

  // Producer side, after enqueueing to to_js: ring the doorbell if the consumer
  // said it sleeps. The fence orders our tail store before the flag load
  // (store->load, which acquire/release do not order): with the consumer's
  // seq_cst store of the flag before its load of our tail, one of the two sides
  // always sees the other (no lost wake-up).
  void notify() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    auto& flag = to_js_.header()->consumer_sleeping;
    if (flag.load(std::memory_order_relaxed) && flag.exchange(0, std::memory_order_acq_rel)) {
      doorbells.add(1);
      if (doorbell_) doorbell_->ring();
    }
  }

  // Ownership (see the top of this file); the serving lcore only.
  // idx[0..n) are now JavaScript's (just put into to_js or the free ring).
  void handed(const uint32_t* idx, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) owned_.set(idx[i]);
    owned_n_.store(owned_n_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  // JavaScript gave idx back: true when it was JavaScript's to give (it is ours now).
  bool returned(uint32_t idx) {
    if (idx >= owned_.bits() || !owned_.test(idx)) return false;
    owned_.clear(idx);
    owned_n_.store(owned_n_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    return true;
  }

  // With no consumer and no lcore running: every mbuf handed to JavaScript
  // and not given back comes back to the pool, and the rings are emptied.
  void drain(Mempool& pool);
  // Any thread (pool accounting): mbufs on the JavaScript side or staged for it.
  uint32_t held() const;
  double js_counter(int i) const { return header()->js_counters[i]; }

  // Matched packets waiting on the lcore for a fuller burst (pipeline/to_js_batcher.h).
  ToJsBatcher batcher;

  // lcore-written counters.
  Counter full;         // matched but to_js was full: dropped
  Counter doorbells;    // times the consumer was woken
  Counter unreturned;   // handed to JavaScript, never given back: recovered at stop
  VerdictCounters verdicts;

 private:
  uint16_t port_, queue_;
  uint8_t* mem_ = nullptr;
  size_t bytes_ = 0;
  Ring to_js_, from_js_, free_;
  std::shared_ptr<Doorbell> doorbell_;
  Bitmap owned_;                          // mbufs handed to JavaScript
  std::atomic<uint32_t> owned_n_{0};      // its population (one writer; stats read it)
};

}  // namespace lr
