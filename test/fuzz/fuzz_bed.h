// What the libFuzzer harnesses (test/fuzz/*_fuzz.cc) share: a small mempool
// whose unused slots are poisoned for AddressSanitizer, and a port with a fake
// driver that checks and frees what it is given to transmit.
//
// Why poisoning: a mempool is one mmap'd region, so ASan sees a read past the
// end of one mbuf's slot as a valid read of the next slot. Here every slot the
// pool does not lend out is held by the bed and poisoned, and the few it lends
// (kLent) are far apart, so any access that leaves its own slot by less than
// kGap slots lands in poisoned memory and ASan stops the run there.
#pragma once
#include <sanitizer/asan_interface.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/mempool.h"
#include "core/net.h"
#include "drivers/driver.h"
#include "pipeline/port.h"

namespace fuzz {

[[noreturn]] inline void die(const char* what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
  std::abort();
}
#define FUZZ_ASSERT(c) \
  do {                 \
    if (!(c)) ::fuzz::die(#c); \
  } while (0)

class GuardedPool {
 public:
  static constexpr uint32_t kLent = 12;  // mbufs the pool may hand out: the inputs, replies, probes
  static constexpr uint32_t kGap = 24;   // poisoned slots between two lent ones (24 * 2240 B > 52 KiB)
  static constexpr uint32_t kMbufs = (kLent + 1) * kGap;

  GuardedPool() : pool_(opts()) {
    std::vector<lr::Mbuf*> all(pool_.size());
    FUZZ_ASSERT(pool_.alloc_bulk(nullptr, all.data(), pool_.size()));
    for (lr::Mbuf* m : all) {
      const uint32_t i = pool_.index_of(m);
      if (i % kGap == kGap / 2 && i / kGap < kLent) lent_.push_back(m);
      else held_.push_back(m);
    }
    FUZZ_ASSERT(lent_.size() == kLent);
    for (lr::Mbuf* m : held_) ASAN_POISON_MEMORY_REGION(m, pool_.slot_size());
    pool_.free_bulk(nullptr, lent_.data(), kLent);
  }
  ~GuardedPool() {
    for (lr::Mbuf* m : held_) ASAN_UNPOISON_MEMORY_REGION(m, pool_.slot_size());
  }

  lr::Mempool& pool() { return pool_; }

  // One mbuf holding `data` (cut to the mbuf's room), as a driver's rx gives it.
  lr::Mbuf* rx(const uint8_t* data, size_t len) {
    lr::Mbuf* m;
    FUZZ_ASSERT(pool_.alloc_bulk(nullptr, &m, 1));
    const uint32_t room = pool_.slot_size() - m->data_off;
    if (len > room) len = room;
    std::memcpy(m->data(), data, len);
    m->data_len = uint16_t(len);
    return m;
  }

  // After an input: every lent mbuf is back, none freed twice.
  void check_whole() const {
    FUZZ_ASSERT(pool_.available() == kLent);
    FUZZ_ASSERT(pool_.free_overflows() == 0);
  }

 private:
  static lr::MempoolOptions opts() {
    lr::MempoolOptions o;
    o.mbufs = kMbufs;
    o.cache_size = 0;
    o.caches = 0;
    o.region.hugepages = lr::HugepagePolicy::Off;
    return o;
  }
  lr::Mempool pool_;
  std::vector<lr::Mbuf*> lent_, held_;
};

// A driver that transmits into nothing: it checks that each frame lies inside
// its own slot, reads every byte of it (so ASan sees a frame that reaches into
// poisoned memory), keeps a copy of the last few for the harness, and frees it.
class SinkDriver final : public lr::Driver {
 public:
  // host_frames: what arrives was built by the host (whole Ethernet headers);
  // false for the exception path, which passes on runts as they came.
  SinkDriver(lr::Mempool* pool, lr::MacAddr mac, bool host_frames) : pool_(pool), mac_(mac), host_frames_(host_frames) {}
  lr::DriverInfo info() const override {
    lr::DriverInfo i;
    i.driver = "fuzz-sink";
    return i;
  }
  void configure(uint16_t, uint16_t) override {}
  void setup_rx_queue(const lr::QueueSetup&) override {}
  void setup_tx_queue(const lr::QueueSetup&) override {}
  lr::MacAddr mac() const override { return mac_; }
  uint16_t rx_burst(uint16_t, lr::Mbuf**, uint16_t) override { return 0; }
  uint16_t tx_burst(uint16_t, lr::Mbuf** m, uint16_t n) override {
    for (uint16_t i = 0; i < n; i++) {
      FUZZ_ASSERT(pool_->owns(m[i]));
      FUZZ_ASSERT(m[i]->data_off >= lr::kMbufHeaderSize);
      FUZZ_ASSERT(uint32_t(m[i]->data_off) + m[i]->data_len <= pool_->slot_size());
      if (host_frames_) FUZZ_ASSERT(m[i]->data_len >= sizeof(lr::net::EthHdr));
      sent.emplace_back(m[i]->data(), m[i]->data() + m[i]->data_len);
    }
    pool_->free_bulk(nullptr, m, n);
    return n;
  }
  std::vector<std::vector<uint8_t>> sent;  // cleared by the harness per input

 private:
  lr::Mempool* pool_;
  lr::MacAddr mac_;
  bool host_frames_;
};

inline const lr::MacAddr kHostMac = {0x02, 0x4c, 0x52, 0x00, 0x00, 0x01};

// A port on the sink driver, one tx queue.
inline std::unique_ptr<lr::Port> sink_port(lr::Mempool* pool, SinkDriver** drv, bool host_frames) {
  auto d = std::make_unique<SinkDriver>(pool, kHostMac, host_frames);
  *drv = d.get();
  return std::make_unique<lr::Port>(0, "fuzz0", "fuzz-sink", std::move(d), 1, 1, lr::RssOptions{});
}

// Every IPv4 packet the host sends has a header whose checksum verifies (RFC 791 section 3.1).
inline void check_ipv4_headers(const std::vector<std::vector<uint8_t>>& frames) {
  for (auto& f : frames) {
    if (f.size() < 14) continue;
    size_t l3 = 14;
    uint16_t type = uint16_t(f[12] << 8 | f[13]);
    if (type == 0x8100) {
      if (f.size() < 18) continue;
      type = uint16_t(f[16] << 8 | f[17]);
      l3 = 18;
    }
    if (type != 0x0800) continue;
    FUZZ_ASSERT(f.size() >= l3 + 20);
    const uint32_t ihl = uint32_t(f[l3] & 0xf) * 4;
    FUZZ_ASSERT(ihl >= 20 && f.size() >= l3 + ihl);
    FUZZ_ASSERT(lr::net::csum_fold(lr::net::csum_partial(f.data() + l3, ihl)) == 0xffff);
  }
}

}  // namespace fuzz
