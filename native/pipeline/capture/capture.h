// A packet capture on one port: a checked cBPF filter (cbpf.h) run on the
// lcore, and the copies of what it accepts in fixed-size records, one SPSC ring
// per producer (each rx queue, each tx queue), drained by JavaScript.
//
// The data path pays nothing while no capture runs: a Port holds an atomic
// pointer that its poll task and tx buffers load (relaxed) once per burst; only
// when it is set do they call tap() (capture_tap below). A full ring drops the
// copy and counts it (`dropped`); the frame itself goes on untouched and no mbuf
// is held: the record is a copy made during the burst.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/counter.h"
#include "core/mbuf.h"
#include "pipeline/capture/cbpf.h"

namespace lr {

class Port;

enum class CaptureDir : uint8_t { Rx = 1, Tx = 2 };

// A record as JS reads it (src/capture/capture.ts, drainOnce): a 24-byte header,
// then cap_len bytes of the frame, padded so every record has the same size.
struct CaptureRecord {
  uint64_t ts_ns;     // 0: CLOCK_REALTIME, nanoseconds (the mbuf's rx timestamp when it has one)
  uint32_t orig_len;  // 8: the frame's length on the wire
  uint32_t cap_len;   // 12: bytes copied (<= snaplen, <= what the filter's RET allowed)
  uint16_t queue;     // 16: rx queue, or tx queue
  uint8_t dir;        // 18: CaptureDir
  uint8_t reserved[5];
};
static_assert(sizeof(CaptureRecord) == 24, "capture record header is part of the JS format");

struct CaptureOptions {
  std::vector<cbpf::Insn> prog;  // empty: accept everything
  uint32_t snaplen = 65535;
  bool rx = true, tx = true;
  int32_t rx_queue = -1;         // >= 0: only that rx queue's frames (rx only; tx queues belong to lcores)
  uint32_t ring_records = 1024;  // per producer; a power of two
};

struct CaptureStats {
  uint64_t seen = 0, accepted = 0, filtered = 0, dropped = 0;
};

class Capture {
 public:
  // rx_slots: the port's hardware rx queues; tx_slots: its tx queues (lcores, inline workers, control).
  // max_frame: the largest frame an mbuf holds (records are sized min(snaplen, max_frame)).
  Capture(CaptureOptions opts, uint16_t rx_slots, uint16_t tx_slots, uint16_t control_slot, uint32_t max_frame);

  // On the producer's thread: filter and copy a burst. `slot` is the queue.
  void tap(Mbuf* const* m, uint16_t n, CaptureDir dir, uint16_t slot);

  // On the consumer's thread (one at a time): copies whole records into out,
  // oldest first per slot, round-robin over slots. Returns the bytes written.
  size_t drain(uint8_t* out, size_t cap);
  CaptureStats stats() const;
  uint32_t record_size() const { return record_size_; }
  uint32_t snaplen() const { return snaplen_; }
  bool wants(CaptureDir d) const { return d == CaptureDir::Rx ? opts_.rx : opts_.tx; }

 private:
  struct alignas(64) Slot {
    std::atomic<uint32_t> head{0};  // producer: records written
    alignas(64) std::atomic<uint32_t> tail{0};  // consumer: records read
    alignas(64) Counter seen, accepted, filtered, dropped;
    std::unique_ptr<uint8_t[]> mem;
  };
  Slot* slot(CaptureDir dir, uint16_t q);

  CaptureOptions opts_;
  uint32_t snaplen_, copy_max_, record_size_, mask_;
  uint16_t rx_slots_, control_slot_;
  std::vector<Slot> slots_;  // rx slots, then tx slots
  std::mutex control_mu_;    // the control tx queue has several producer threads, serialised here
  size_t drain_next_ = 0;
};

// The data-path entry (pipeline code calls it when Port::capture is set): holds
// the port's capture against detach for the duration of one tap.
void capture_tap(Port& port, Mbuf* const* m, uint16_t n, CaptureDir dir, uint16_t queue);

// Control path (one caller at a time): attach publishes a built capture to the
// port's taps and keeps it alive (Port::capture_owner, until the next attach);
// detach returns once no tap can be using it, in progress or later.
void capture_attach(Port& port, std::shared_ptr<Capture> c);
void capture_detach(Port& port);

}  // namespace lr
