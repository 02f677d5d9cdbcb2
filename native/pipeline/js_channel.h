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
// advance the two consumer tails. The hand records the tails before the burst,
// so if the consumer dies at any point, recover() can tell whether the burst was
// committed (from_js's producer tail moved) and finish the tail updates; an
// uncommitted burst is simply still in to_js and the free ring.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>

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

  JsChannel(uint16_t port, uint16_t queue, uint32_t size, uint32_t burst);
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

  // With no consumer running: finish a committed burst the consumer left half done.
  void recover();
  // With no consumer and no lcore running: give every mbuf in the rings back.
  void drain(Mempool& pool);
  uint32_t held() const;
  double js_counter(int i) const { return header()->js_counters[i]; }

  // Matched packets waiting on the lcore for a fuller burst (pipeline/to_js_batcher.h).
  ToJsBatcher batcher;

  // lcore-written counters.
  Counter full;         // matched but to_js was full: dropped
  Counter doorbells;    // times the consumer was woken
  VerdictCounters verdicts;

 private:
  uint16_t port_, queue_;
  uint8_t* mem_ = nullptr;
  size_t bytes_ = 0;
  Ring to_js_, from_js_, free_;
  std::shared_ptr<Doorbell> doorbell_;
};

}  // namespace lr
