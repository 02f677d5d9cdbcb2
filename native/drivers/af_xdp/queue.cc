#include "drivers/af_xdp/queue.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace lr::xdp {

void add_stats(xdp_statistics& a, const xdp_statistics& b) {
  a.rx_dropped += b.rx_dropped;
  a.rx_invalid_descs += b.rx_invalid_descs;
  a.tx_invalid_descs += b.tx_invalid_descs;
  a.rx_ring_full += b.rx_ring_full;
  a.rx_fill_ring_empty_descs += b.rx_fill_ring_empty_descs;
  a.tx_ring_empty_descs += b.tx_ring_empty_descs;
}

uint16_t XskQueue::rx_burst(const Umem& u, uint16_t port, uint16_t queue, Mbuf** mbufs, uint16_t n) {
  auto& ring = xsk.rx;
  const uint32_t got = ring.peek(n);
  uint16_t out = 0;
  if (got) {
    uint32_t back = 0;
    for (uint32_t i = 0; i < got; i++) {
      const xdp_desc& d = ring.at(ring.cached_cons + i);
      const uint64_t base = d.addr & XSK_UNALIGNED_BUF_ADDR_MASK;
      const uint64_t off = d.addr >> XSK_UNALIGNED_BUF_OFFSET_SHIFT;
      const uint64_t idx = base / u.slot;
      if (idx >= u.n || idx * u.slot != base || !rx.owned.test(uint32_t(idx))) {
        rx.bad_desc.add(1);
        continue;
      }
      rx.owned.clear(uint32_t(idx));
      back++;
      Mbuf* m = u.pool.mbuf(uint32_t(idx));
      if (off < kMbufHeaderSize || off + d.len > u.slot || d.len == 0) {
        u.pool.free_one(rx.cache, m);
        rx.bad_desc.add(1);
        continue;
      }
      m->data_off = uint16_t(off);
      m->data_len = uint16_t(d.len);
      m->port = port;
      m->queue = queue;
      m->flags = 0;
      mbufs[out++] = m;
    }
    ring.release(got);
    rx.received.add(back);
  }
  refill(u, rx.cache, false);
  // af_xdp.rst "XDP_USE_NEED_WAKEUP": the driver stopped fetching from the
  // fill ring and needs a syscall to look again.
  if (!got && xsk.fill.needs_wakeup()) {
    recvfrom(xsk.fd(), nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
    rx.kicks.add(1);
  }
  return out;
}

uint16_t XskQueue::tx_burst(const Umem& u, Mempool::Cache* cache, uint32_t max_len, Mbuf** mbufs, uint16_t n) {
  if (tx.shared) tx.lock.lock();
  reap(u, cache);
  auto& ring = xsk.tx;
  const uint32_t room = ring.free_slots(n);
  uint16_t k = 0;
  uint32_t posted = 0;
  for (; k < n && posted < room; k++) {
    Mbuf* m = mbufs[k];
    if (m->data_len < 14 || m->data_len > max_len || uint32_t(m->data_off) + m->data_len > u.slot) {
      u.pool.free_one(cache, m);  // accepted and dropped: counted, never lost
      tx.invalid.add(1);
      continue;
    }
    // The index from the address, not the header a handler can write (core/mempool.h index_of).
    const uint32_t idx = u.pool.index_of(m);
    xdp_desc& d = ring.at(ring.cached_prod + posted);
    d.addr = uint64_t(idx) * u.slot + m->data_off;
    d.len = m->data_len;
    d.options = 0;
    tx.owned.set(idx);
    posted++;
  }
  if (posted) {
    ring.submit(posted);
    tx.posted.add(posted);
  }
  kick_tx();
  if (tx.shared) tx.lock.unlock();
  return k;
}

void XskQueue::refill(const Umem& u, Mempool::Cache* cache, bool initial) {
  auto& fill = xsk.fill;
  const uint64_t out = rx.posted.get() - rx.received.get();
  if (out >= rx.fill_target) return;
  uint32_t want = uint32_t(rx.fill_target - out);
  if (!initial && want < 32) return;  // top up in batches
  want = std::min(want, fill.free_slots(want));
  Mbuf* m[64];
  while (want) {
    const uint32_t k = std::min<uint32_t>(want, 64);
    if (!u.pool.alloc_bulk(cache, m, k)) break;
    for (uint32_t j = 0; j < k; j++) {
      const uint32_t idx = u.pool.index_of(m[j]);
      fill.at(fill.cached_prod + j) = uint64_t(idx) * u.slot;
      rx.owned.set(idx);
    }
    fill.submit(k);
    rx.posted.add(k);
    want -= k;
  }
}

// Completion ring -> pool. Caller holds the tx side.
void XskQueue::reap(const Umem& u, Mempool::Cache* cache) {
  auto& comp = xsk.comp;
  const uint32_t got = comp.peek(comp.size);
  if (!got) return;
  Mbuf* m[64];
  uint32_t k = 0, back = 0;
  for (uint32_t i = 0; i < got; i++) {
    const uint64_t addr = comp.at(comp.cached_cons + i) & XSK_UNALIGNED_BUF_ADDR_MASK;
    const uint64_t idx = addr / u.slot;
    if (idx >= u.n || !tx.owned.test(uint32_t(idx))) {
      tx.bad_completion.add(1);
      continue;
    }
    tx.owned.clear(uint32_t(idx));
    m[k++] = u.pool.mbuf(uint32_t(idx));
    back++;
    if (k == 64) {
      u.pool.free_bulk(cache, m, k);
      k = 0;
    }
  }
  if (k) u.pool.free_bulk(cache, m, k);
  comp.release(got);
  tx.completed.add(back);
}

// af_xdp.rst "XDP_USE_NEED_WAKEUP": a sendto() only when the kernel asks for
// one. In copy mode it always does, and each call sends at most 32 frames
// (net/xdp/xsk.c TX_BATCH_SIZE), so kick until the ring is empty or stuck.
void XskQueue::kick_tx() {
  auto& ring = xsk.tx;
  for (int tries = 0; tries < 8 && ring.pending() && ring.needs_wakeup(); tries++) {
    tx.kicks.add(1);
    if (sendto(xsk.fd(), nullptr, 0, MSG_DONTWAIT, nullptr, 0) >= 0) continue;
    const int e = errno;
    if (e == EAGAIN || e == EBUSY) continue;  // more to send, or the kernel is busy: again
    tx.kick_errors.add(1);  // ENOBUFS, ENETDOWN (interface gone), ENXIO: give up this round
    break;
  }
}

uint64_t XskQueue::held() const {
  // Read what comes back before what went out: both only grow, so the
  // difference never goes negative.
  const uint64_t rx_back = rx.received.get(), tx_back = tx.completed.get();
  return rx.posted.get() - rx_back + tx.posted.get() - tx_back;
}

void XskQueue::reclaim(const Umem& u, QueueTotals& totals) {
  if (xsk.fd() >= 0) {
    reap(u, nullptr);
    // Received but never polled: ours again.
    auto& ring = xsk.rx;
    for (uint32_t got; (got = ring.peek(ring.size)) != 0;) {
      for (uint32_t i = 0; i < got; i++) {
        const uint64_t base = ring.at(ring.cached_cons + i).addr & XSK_UNALIGNED_BUF_ADDR_MASK;
        const uint64_t idx = base / u.slot;
        if (idx < u.n && idx * u.slot == base && rx.owned.test(uint32_t(idx))) {
          rx.owned.clear(uint32_t(idx));
          u.pool.free_one(nullptr, u.pool.mbuf(uint32_t(idx)));
        }
      }
      ring.release(got);
    }
    xdp_statistics st;
    if (xsk.statistics(st)) add_stats(totals.kernel, st);
  }
  xsk.close();
  // The socket is gone: whatever is still marked sat in the fill ring, in
  // the kernel's hands, or on the tx side. All of it is ours now.
  for (Bitmap* b : {&rx.owned, &tx.owned}) {
    for (size_t w = 0; w < b->w.size(); w++) {
      while (uint64_t bits = b->w[w]) {
        const uint32_t idx = uint32_t(w * 64 + size_t(__builtin_ctzll(bits)));
        b->w[w] &= bits - 1;
        u.pool.free_one(nullptr, u.pool.mbuf(idx));
      }
    }
  }
  totals.bad_rx += rx.bad_desc.get();
  totals.rx_kicks += rx.kicks.get();
  totals.tx_invalid += tx.invalid.get();
  totals.bad_comp += tx.bad_completion.get();
  totals.tx_kicks += tx.kicks.get();
  totals.kick_err += tx.kick_errors.get();
  for (Counter* c : {&rx.posted, &rx.received, &rx.bad_desc, &rx.kicks, &tx.posted, &tx.completed, &tx.invalid, &tx.bad_completion,
                     &tx.kicks, &tx.kick_errors})
    c->set(0);
}

}  // namespace lr::xdp
