// The data path of one XDP socket of an af_xdp port: its rx side (rx and fill
// rings) and tx side (tx and completion rings), with the bookkeeping that
// says which mbufs the kernel holds. The driver (af_xdp_driver.cc) opens the
// sockets and attaches the program; this file moves packets.
//
// Mbuf accounting: every mbuf posted to the fill ring or the tx ring has its
// bit set in the rx or tx bitmap until it comes back on the rx or completion
// ring. An address from the kernel whose bit is not set is counted and never
// touched. reclaim() takes everything back after the socket closes.
//
// Threads: the rx side belongs to the lcore that polls the queue, the tx side
// to the lcore(s) whose tx queue maps to the socket; several tx queues on one
// socket take TxSide::lock (only those: TxSide::shared).
#pragma once
#include <atomic>
#include <cstdint>
#include <vector>

#include "core/bitmap.h"
#include "core/counter.h"
#include "core/cycles.h"
#include "core/mempool.h"
#include "drivers/af_xdp/xsk.h"

namespace lr::xdp {

class SpinLock {
 public:
  void lock() {
    while (f_.test_and_set(std::memory_order_acquire)) cpu_pause();
  }
  void unlock() { f_.clear(std::memory_order_release); }

 private:
  std::atomic_flag f_ = ATOMIC_FLAG_INIT;
};

struct alignas(64) RxSide {
  Mempool::Cache* cache = nullptr;
  Counter* nombuf = nullptr;
  uint32_t fill_target = 0;
  Counter posted, received;  // mbufs given to the fill ring / taken back from the rx ring
  Counter bad_desc;          // rx descriptors that did not name an mbuf we gave, or a bad length
  Counter kicks;
  Bitmap owned;
};

struct alignas(64) TxSide {
  SpinLock lock;
  bool shared = false;
  Counter posted, completed;
  Counter invalid;  // frames refused before the ring (length), freed and counted
  Counter bad_completion;
  Counter kicks, kick_errors;
  Bitmap owned;
};

// The UMEM is the mempool's region: chunk i is mbuf i, `slot` bytes apart.
struct Umem {
  Mempool& pool;
  uint64_t slot = 0;
  uint32_t n = 0;  // chunks (= mbufs)
};

// Counters of closed sockets, kept so a port's xstats survive stop/start.
struct QueueTotals {
  xdp_statistics kernel{};  // XDP_STATISTICS of the socket just before it closed
  uint64_t bad_rx = 0, rx_kicks = 0, tx_invalid = 0, bad_comp = 0, tx_kicks = 0, kick_err = 0;
};

// a += b, field by field.
void add_stats(xdp_statistics& a, const xdp_statistics& b);

class XskQueue {
 public:
  XskSocket xsk;
  RxSide rx;
  TxSide tx;

  explicit XskQueue(uint32_t mbufs) {
    rx.owned.init(mbufs);
    tx.owned.init(mbufs);
  }

  // Rx ring -> mbufs (port, queue stamped), then tops up the fill ring.
  uint16_t rx_burst(const Umem& u, uint16_t port, uint16_t queue, Mbuf** mbufs, uint16_t n);
  // Mbufs -> tx ring; frames shorter than 14 bytes, longer than max_len or
  // outside their chunk are freed and counted. Takes the lock when shared.
  uint16_t tx_burst(const Umem& u, Mempool::Cache* cache, uint32_t max_len, Mbuf** mbufs, uint16_t n);
  // Posts mbufs to the fill ring up to rx.fill_target, in batches of 32 or more
  // unless `initial`.
  void refill(const Umem& u, Mempool::Cache* cache, bool initial);
  // Mbufs the kernel holds (fill ring, rx ring, tx ring, not yet completed).
  uint64_t held() const;
  // After the program is detached: drains the completion and rx rings, closes
  // the socket, frees every mbuf still marked, adds the counters to `totals`
  // and zeroes them. The queue can be opened again.
  void reclaim(const Umem& u, QueueTotals& totals);

 private:
  void reap(const Umem& u, Mempool::Cache* cache);
  void kick_tx();
};

}  // namespace lr::xdp
