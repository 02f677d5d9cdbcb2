#include "pipeline/capture/capture.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "core/cycles.h"
#include "core/error.h"
#include "pipeline/port.h"

namespace lr {

Capture::Capture(CaptureOptions opts, uint16_t rx_slots, uint16_t tx_slots, uint16_t control_slot, uint32_t max_frame)
    : opts_(std::move(opts)), rx_slots_(rx_slots), control_slot_(control_slot), slots_(size_t(rx_slots) + tx_slots) {
  if (!opts_.prog.empty()) {
    const std::string why = cbpf::check(opts_.prog.data(), opts_.prog.size());
    if (!why.empty()) fail("CAPTURE_BPF_INVALID", "capture filter program refused: " + why);
  }
  const uint32_t n = opts_.ring_records;
  if (n < 2 || (n & (n - 1))) fail("INVALID_OPTION", "capture ringSize must be a power of two >= 2");
  if (opts_.snaplen == 0) fail("INVALID_OPTION", "capture snaplen must be at least 1");
  snaplen_ = opts_.snaplen;
  const uint32_t copy = copy_max_ = std::min(snaplen_, max_frame);
  record_size_ = uint32_t(sizeof(CaptureRecord)) + ((copy + 7) & ~7u);
  mask_ = n - 1;
  for (uint16_t i = 0; i < slots_.size(); i++) {
    // Only the slots of the chosen directions get memory; new[] without () leaves
    // the pages untouched until a record is written.
    const bool used = i < rx_slots_ ? opts_.rx : opts_.tx;
    if (used) slots_[i].mem.reset(new uint8_t[size_t(n) * record_size_]);
  }
}

Capture::Slot* Capture::slot(CaptureDir dir, uint16_t q) {
  const size_t i = dir == CaptureDir::Rx ? q : size_t(rx_slots_) + q;
  if ((dir == CaptureDir::Rx && q >= rx_slots_) || i >= slots_.size()) return nullptr;
  return slots_[i].mem ? &slots_[i] : nullptr;
}

void Capture::tap(Mbuf* const* m, uint16_t n, CaptureDir dir, uint16_t q) {
  if (dir == CaptureDir::Rx && opts_.rx_queue >= 0 && q != uint32_t(opts_.rx_queue)) return;
  Slot* s = slot(dir, q);
  if (!s) return;
  std::unique_lock<std::mutex> lock;
  if (dir == CaptureDir::Tx && q == control_slot_) lock = std::unique_lock<std::mutex>(control_mu_);
  const uint32_t size = mask_ + 1, room = copy_max_;
  uint32_t head = s->head.load(std::memory_order_relaxed);
  uint32_t tail = s->tail.load(std::memory_order_acquire);  // pairs with drain()'s release: its reads are done
  uint64_t now = 0, accepted = 0, dropped = 0;
  for (uint16_t i = 0; i < n; i++) {
    const Mbuf* b = m[i];
    const uint32_t len = b->data_len;
    const uint32_t ret = opts_.prog.empty() ? len : cbpf::run(opts_.prog.data(), b->data(), len, len);
    if (!ret) continue;
    accepted++;
    if (head - tail == size) {
      tail = s->tail.load(std::memory_order_acquire);
      if (head - tail == size) {
        dropped++;
        continue;
      }
    }
    uint8_t* rec = s->mem.get() + size_t(head & mask_) * record_size_;
    CaptureRecord h{};
    if (b->flags & kMbufTimestampValid) {
      h.ts_ns = b->timestamp;
    } else {
      if (!now) now = realtime_ns();  // once per burst: a clock read per frame would cost more than the copy
      h.ts_ns = now;
    }
    h.orig_len = len;
    h.cap_len = std::min({len, ret, room});
    h.queue = q;
    h.dir = uint8_t(dir);
    std::memcpy(rec, &h, sizeof h);
    std::memcpy(rec + sizeof h, b->data(), h.cap_len);
    head++;
  }
  s->head.store(head, std::memory_order_release);  // the records are written before JS sees the new head
  s->seen.add(n);
  s->accepted.add(accepted);
  s->filtered.add(n - accepted);
  s->dropped.add(dropped);
}

size_t Capture::drain(uint8_t* out, size_t cap) {
  size_t done = 0;
  const size_t ns = slots_.size();
  // Round-robin from where the last drain stopped, so a busy slot cannot starve the others.
  for (size_t k = 0; k < ns && cap - done >= record_size_; k++) {
    Slot& s = slots_[(drain_next_ + k) % ns];
    if (!s.mem) continue;
    uint32_t tail = s.tail.load(std::memory_order_relaxed);
    const uint32_t head = s.head.load(std::memory_order_acquire);
    while (tail != head && cap - done >= record_size_) {
      std::memcpy(out + done, s.mem.get() + size_t(tail & mask_) * record_size_, record_size_);
      done += record_size_;
      tail++;
    }
    s.tail.store(tail, std::memory_order_release);
  }
  drain_next_ = (drain_next_ + 1) % ns;
  return done;
}

CaptureStats Capture::stats() const {
  CaptureStats t;
  for (auto& s : slots_) {
    t.seen += s.seen.get();
    t.accepted += s.accepted.get();
    t.filtered += s.filtered.get();
    t.dropped += s.dropped.get();
  }
  return t;
}

void capture_attach(Port& port, std::shared_ptr<Capture> c) {
  Capture* raw = c.get();
  port.capture_owner = std::move(c);
  port.capture.store(raw, std::memory_order_seq_cst);  // the capture is built before an lcore can see it
}

void capture_detach(Port& port) {
  if (!port.capture.load()) return;
  port.capture.store(nullptr, std::memory_order_seq_cst);
  // Taps in progress finish their burst (microseconds); none starts on the old
  // capture after this: a tap announces itself before it loads the pointer
  // (capture_tap), and both sides are seq_cst, so either it sees nullptr or we
  // see its count.
  while (port.capture_users.load(std::memory_order_seq_cst)) std::this_thread::yield();
}

void capture_tap(Port& port, Mbuf* const* m, uint16_t n, CaptureDir dir, uint16_t queue) {
  // Announce the use before loading the pointer (both seq_cst): a detach that
  // stores nullptr and then sees no users knows no tap still holds the old one.
  port.capture_users.fetch_add(1, std::memory_order_seq_cst);
  if (Capture* c = port.capture.load(std::memory_order_seq_cst))
    if (c->wants(dir)) c->tap(m, n, dir, queue);
  port.capture_users.fetch_sub(1, std::memory_order_release);
}

}  // namespace lr
