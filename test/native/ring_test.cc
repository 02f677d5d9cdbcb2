// Ring and OwnedRing: bulk/burst semantics, wrap-around of the free-running
// 32-bit counters, the shared-memory header checks, and MPMC/SPSC correctness
// under real threads (run under TSan by scripts/test-native.mjs).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "check.h"
#include "core/ring.h"

using lr::OwnedRing;
using lr::Ring;

namespace {

constexpr uint16_t kSPSC = lr::kRingSingleProducer | lr::kRingSingleConsumer;

// Moves every counter of a freshly initialised, empty ring to v.
void set_counters(Ring& r, uint32_t v) {
  auto* h = r.header();
  h->prod_head.store(v);
  h->prod_tail.store(v);
  h->cons_head.store(v);
  h->cons_tail.store(v);
}

struct AlignedMem {
  explicit AlignedMem(size_t bytes) : p(std::aligned_alloc(64, (bytes + 63) / 64 * 64)) {}
  ~AlignedMem() { std::free(p); }
  void* p;
};

}  // namespace

TEST_CASE("empty ring: dequeue returns 0") {
  for (uint16_t flags : {uint16_t(0), kSPSC}) {
    OwnedRing r(8, flags);
    uint32_t out[4] = {7, 7, 7, 7};
    CHECK(r.count() == 0);
    CHECK(r.free_count() == 8);
    CHECK(r.capacity() == 8);
    CHECK(r.dequeue_bulk(out, 1) == 0);
    CHECK(r.dequeue_burst(out, 4) == 0);
    CHECK(out[0] == 7);
    // n == 0 is a no-op on both sides.
    CHECK(r.enqueue_bulk(out, 0) == 0);
    CHECK(r.dequeue_burst(out, 0) == 0);
    CHECK(r.count() == 0);
  }
}

TEST_CASE("full ring: bulk moves nothing, burst moves what fits") {
  for (uint16_t flags : {uint16_t(0), kSPSC}) {
    OwnedRing r(8, flags);
    const uint32_t in[8] = {10, 11, 12, 13, 14, 15, 16, 17};
    CHECK(r.enqueue_bulk(in, 6) == 6);
    CHECK(r.count() == 6);
    CHECK(r.free_count() == 2);
    const uint32_t more[4] = {20, 21, 22, 23};
    CHECK(r.enqueue_bulk(more, 4) == 0);  // all or nothing
    CHECK(r.count() == 6);
    CHECK(r.enqueue_burst(more, 4) == 2);  // as many as fit
    CHECK(r.count() == 8);
    CHECK(r.free_count() == 0);
    CHECK(r.enqueue_bulk(more, 1) == 0);
    CHECK(r.enqueue_burst(more, 1) == 0);
    CHECK(r.count() == 8);

    uint32_t out[16] = {};
    CHECK(r.dequeue_bulk(out, 9) == 0);  // more than there is: nothing
    CHECK(r.count() == 8);
    CHECK(r.dequeue_bulk(out, 3) == 3);
    CHECK(out[0] == 10 && out[1] == 11 && out[2] == 12);
    CHECK(r.dequeue_burst(out, 16) == 5);
    const uint32_t want[5] = {13, 14, 15, 20, 21};
    for (int i = 0; i < 5; i++) CHECK(out[i] == want[i]);
    CHECK(r.count() == 0);
    CHECK(r.free_count() == 8);
  }
}

TEST_CASE("smallest ring (2 slots) uses every slot") {
  OwnedRing r(2, 0);
  const uint32_t in[3] = {1, 2, 3};
  CHECK(r.enqueue_burst(in, 3) == 2);
  uint32_t out[2];
  CHECK(r.dequeue_bulk(out, 2) == 2);
  CHECK(out[0] == 1 && out[1] == 2);
}

TEST_CASE("wrap-around of slots and of 32-bit counters near 2^32") {
  for (uint16_t flags : {uint16_t(0), kSPSC, lr::kRingSingleConsumer}) {
    for (uint32_t start : {0u, 0xFFFFFFF0u, 0xFFFFFFFFu, 0x7FFFFFF8u}) {
      OwnedRing r(16, flags);
      set_counters(r, start);
      CHECK(r.count() == 0);
      CHECK(r.free_count() == 16);
      std::mt19937 rng(start ^ flags);
      uint32_t next_in = 0, next_out = 0;
      uint32_t buf[32];
      // Many cycles: the counters pass 2^32 (for the high starts) and the slot
      // index wraps hundreds of times, with every split of a burst across the end.
      for (int iter = 0; iter < 4000; iter++) {
        const uint32_t n = 1 + rng() % 17;
        const bool bulk = rng() & 1;
        const uint32_t before = r.count();
        for (uint32_t i = 0; i < n; i++) buf[i] = next_in + i;
        const uint32_t put = bulk ? r.enqueue_bulk(buf, n) : r.enqueue_burst(buf, n);
        if (bulk) CHECK(put == (before + n <= 16 ? n : 0));
        else CHECK(put == std::min(n, 16 - before));
        next_in += put;
        CHECK(r.count() == before + put);
        CHECK(r.free_count() == 16 - r.count());

        const uint32_t m = 1 + rng() % 17;
        const uint32_t have = r.count();
        const uint32_t got = (rng() & 1) ? r.dequeue_bulk(buf, m) : r.dequeue_burst(buf, m);
        CHECK(got <= have);
        for (uint32_t i = 0; i < got; i++) {
          if (buf[i] != next_out) {
            CHECK(buf[i] == next_out);
            break;
          }
          next_out++;
        }
        CHECK(r.count() == have - got);
      }
      // Drain and check the counters really went round.
      while (uint32_t got = r.dequeue_burst(buf, 32)) {
        for (uint32_t i = 0; i < got; i++) CHECK(buf[i] == next_out++);
      }
      CHECK(next_out == next_in);
      CHECK(next_in > 1000);
      const uint32_t tail = r.header()->prod_tail.load();
      CHECK(tail == uint32_t(start + next_in));
      CHECK(r.header()->cons_tail.load() == tail);
      if (start >= 0xFFFFFFF0u) CHECK(tail < start);  // wrapped past 2^32
    }
  }
}

TEST_CASE("count() and free_count() straddling 2^32") {
  OwnedRing r(8, 0);
  set_counters(r, 0xFFFFFFFDu);
  const uint32_t in[5] = {1, 2, 3, 4, 5};
  CHECK(r.enqueue_bulk(in, 5) == 5);  // prod_tail wraps to 2, cons_tail stays at 2^32 - 3
  CHECK(r.header()->prod_tail.load() == 2u);
  CHECK(r.count() == 5);
  CHECK(r.free_count() == 3);
  uint32_t out[8];
  CHECK(r.dequeue_bulk(out, 5) == 5);
  CHECK(out[0] == 1 && out[4] == 5);
  CHECK(r.count() == 0);
}

TEST_CASE("init rejects sizes that are not a power of two") {
  AlignedMem mem(Ring::bytes_for(64));
  CHECK_THROWS_CODE(Ring::init(mem.p, 6, 0), "INVALID_OPTION");
  CHECK_THROWS_CODE(Ring::init(mem.p, 0, 0), "INVALID_OPTION");
  CHECK_THROWS_CODE(Ring::init(mem.p, 1, 0), "INVALID_OPTION");
  CHECK_THROWS_CODE(Ring::init(mem.p, 100, 0), "INVALID_OPTION");
  CHECK_THROWS_CODE(OwnedRing(12, 0), "INVALID_OPTION");
  CHECK_THROWS_CODE(OwnedRing(0x80000000u, 0), "INVALID_OPTION");  // above 2^30
  CHECK(Ring::valid_size(2) && Ring::valid_size(1u << 30) && !Ring::valid_size(3));
  CHECK(Ring::bytes_for(64) == 256 + 64 * 4);
}

TEST_CASE("header fields follow the documented format") {
  AlignedMem mem(Ring::bytes_for(32));
  Ring r = Ring::init(mem.p, 32, kSPSC);
  auto* b = static_cast<const uint8_t*>(mem.p);
  uint32_t magic, size, mask, cap;
  uint16_t version, flags;
  std::memcpy(&magic, b + 0, 4);
  std::memcpy(&version, b + 4, 2);
  std::memcpy(&flags, b + 6, 2);
  std::memcpy(&size, b + 8, 4);
  std::memcpy(&mask, b + 12, 4);
  std::memcpy(&cap, b + 16, 4);
  CHECK(magic == 0x4c52524eu);
  CHECK(b[0] == 'N' && b[1] == 'R' && b[2] == 'R' && b[3] == 'L');
  CHECK(version == 1);
  CHECK(flags == kSPSC);
  CHECK(size == 32 && mask == 31 && cap == 32);
  CHECK(r.single_producer() && r.single_consumer());
  const uint32_t v = 0xabcdef01;
  CHECK(r.enqueue_bulk(&v, 1) == 1);
  uint32_t slot0, prod_tail;
  std::memcpy(&slot0, b + 256, 4);
  std::memcpy(&prod_tail, b + 68, 4);
  CHECK(slot0 == v);
  CHECK(prod_tail == 1);
}

TEST_CASE("attach checks magic, version and size") {
  AlignedMem mem(Ring::bytes_for(16));
  Ring r = Ring::init(mem.p, 16, 0);
  const uint32_t in[3] = {4, 5, 6};
  r.enqueue_bulk(in, 3);
  Ring a = Ring::attach(mem.p);
  CHECK(a.header() == r.header());
  CHECK(a.count() == 3);
  uint32_t out[3];
  CHECK(a.dequeue_bulk(out, 3) == 3);
  CHECK(out[2] == 6);

  auto* h = r.header();
  h->magic = 0x12345678;
  CHECK_THROWS_CODE(Ring::attach(mem.p), "RING_FORMAT");
  h->magic = lr::kRingMagic;
  h->version = 2;
  CHECK_THROWS_CODE(Ring::attach(mem.p), "RING_FORMAT");
  h->version = 0;
  CHECK_THROWS_CODE(Ring::attach(mem.p), "RING_FORMAT");
  h->version = lr::kRingVersion;
  h->size = 12;
  h->mask = 11;
  CHECK_THROWS_CODE(Ring::attach(mem.p), "RING_FORMAT");
  h->size = 16;
  h->mask = 7;  // inconsistent with size
  CHECK_THROWS_CODE(Ring::attach(mem.p), "RING_FORMAT");
  h->mask = 15;
  Ring::attach(mem.p);  // valid again: no throw
}

TEST_CASE("OwnedRing move keeps the memory and the contents") {
  OwnedRing a(8, 0);
  const uint32_t in[2] = {1, 2};
  a.enqueue_bulk(in, 2);
  lr::RingHeader* h = a.header();
  OwnedRing b(std::move(a));
  CHECK(b.header() == h);
  CHECK(b.count() == 2);
  OwnedRing c(4, 0);
  c = std::move(b);
  CHECK(c.header() == h);
  uint32_t out[2];
  CHECK(c.dequeue_bulk(out, 2) == 2);
  CHECK(out[1] == 2);
}

// 2 producers and 2 consumers on one multi-producer/multi-consumer ring: every
// value comes out exactly once.
TEST_CASE("MPMC: 2 producers + 2 consumers, 2M unique values, each received once") {
  constexpr uint32_t kPerProducer = 1u << 20;
  constexpr uint32_t kTotal = 2 * kPerProducer;
  OwnedRing r(1024, 0);
  std::vector<std::atomic<uint64_t>> seen(kTotal / 64);
  for (auto& w : seen) w.store(0, std::memory_order_relaxed);
  std::atomic<uint32_t> received{0}, duplicates{0}, out_of_range{0};
  std::atomic<bool> go{false};

  auto producer = [&](uint32_t id) {
    std::minstd_rand rng(id + 1);
    uint32_t buf[64];
    uint32_t next = 0;
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    while (next < kPerProducer) {
      const uint32_t n = std::min<uint32_t>(1 + rng() % 64, kPerProducer - next);
      for (uint32_t i = 0; i < n; i++) buf[i] = id * kPerProducer + next + i;
      const bool bulk = rng() & 1;
      const uint32_t put = bulk ? r.enqueue_bulk(buf, n) : r.enqueue_burst(buf, n);
      if (bulk && put != 0 && put != n) out_of_range++;  // bulk is all or nothing
      next += put;
      if (put == 0) std::this_thread::yield();
    }
  };
  auto consumer = [&](uint32_t id) {
    std::minstd_rand rng(id + 100);
    uint32_t buf[64];
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    while (received.load(std::memory_order_relaxed) < kTotal) {
      const uint32_t n = 1 + rng() % 64;
      const bool bulk = rng() & 1;
      const uint32_t got = bulk ? r.dequeue_bulk(buf, n) : r.dequeue_burst(buf, n);
      if (bulk && got != 0 && got != n) out_of_range++;
      for (uint32_t i = 0; i < got; i++) {
        const uint32_t v = buf[i];
        if (v >= kTotal) {
          out_of_range++;
          continue;
        }
        const uint64_t bit = uint64_t(1) << (v % 64);
        if (seen[v / 64].fetch_or(bit, std::memory_order_relaxed) & bit) duplicates++;
      }
      received.fetch_add(got, std::memory_order_relaxed);
      if (got == 0) std::this_thread::yield();
    }
  };

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  threads.emplace_back(producer, 0);
  threads.emplace_back(producer, 1);
  threads.emplace_back(consumer, 0);
  threads.emplace_back(consumer, 1);
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("  MPMC: %u values in %.2f s\n", kTotal, secs);

  CHECK(received.load() == kTotal);
  CHECK(duplicates.load() == 0);
  CHECK(out_of_range.load() == 0);
  uint32_t missing = 0;
  for (auto& w : seen) missing += 64 - __builtin_popcountll(w.load());
  CHECK(missing == 0);
  CHECK(r.count() == 0);
}

// Many producers and consumers on a small multi-producer/multi-consumer ring,
// so reservations race all the time and the counters wrap the slots often.
// Bursts ask for up to 3x the capacity: a side that read a fresh head of its
// own with an older tail of the other side would compute free/avail as ~2^32
// (ring.h, "Reading the head") and move more than the ring holds, which the
// returned counts show; overwritten or unfilled slots show up as values lost,
// duplicated or out of range. Every value must come out exactly once.
// scripts/test-native.mjs also runs this file on aarch64 (under qemu-user, or
// natively on an arm64 runner), where the loads may really be reordered.
TEST_CASE("MPMC stress: 4 producers + 4 consumers on a 16-slot ring, every value once, no move above capacity") {
  constexpr uint32_t kProducers = 4, kConsumers = 4, kCapacity = 16, kMaxBurst = 3 * kCapacity;
  constexpr uint32_t kPerProducer = 1u << 17;
  constexpr uint32_t kTotal = kProducers * kPerProducer;
  // Producers stop early at this deadline: eight threads on a loaded 2-CPU
  // machine under qemu-user (an oversubscribed CI box) once took minutes for
  // the full count. Whatever was produced must still come out exactly once,
  // and kMinimum values is the least a run must move to count.
  constexpr auto kDeadline = std::chrono::seconds(10);
  constexpr uint32_t kMinimum = 1u << 14;
  OwnedRing r(kCapacity, 0);
  std::vector<std::atomic<uint64_t>> seen(kTotal / 64);
  for (auto& w : seen) w.store(0, std::memory_order_relaxed);
  std::atomic<uint32_t> received{0}, duplicates{0}, out_of_range{0}, over_capacity{0}, bulk_partial{0};
  std::atomic<uint32_t> produced_total{0}, producers_done{0};
  uint32_t produced[kProducers] = {};
  std::atomic<bool> go{false};
  const auto t0 = std::chrono::steady_clock::now();

  auto producer = [&](uint32_t id) {
    std::minstd_rand rng(id + 11);
    uint32_t buf[kMaxBurst];
    uint32_t next = 0;
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    while (next < kPerProducer) {
      if ((next & 1023) == 0 && std::chrono::steady_clock::now() - t0 > kDeadline) break;
      const uint32_t n = std::min<uint32_t>(1 + rng() % kMaxBurst, kPerProducer - next);
      for (uint32_t i = 0; i < n; i++) buf[i] = id * kPerProducer + next + i;
      const bool bulk = rng() % 4 == 0;
      const uint32_t put = bulk ? r.enqueue_bulk(buf, n) : r.enqueue_burst(buf, n);
      if (put > kCapacity) over_capacity++;
      if (bulk && put != 0 && put != n) bulk_partial++;
      next += put;
      if (put == 0) std::this_thread::yield();
    }
    produced[id] = next;
    produced_total.fetch_add(next, std::memory_order_relaxed);
    // Release: a consumer that sees every producer done also sees the final total.
    producers_done.fetch_add(1, std::memory_order_release);
  };
  auto consumer = [&](uint32_t id) {
    std::minstd_rand rng(id + 101);
    uint32_t buf[kMaxBurst];
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    for (;;) {
      if (producers_done.load(std::memory_order_acquire) == kProducers &&
          received.load(std::memory_order_relaxed) >= produced_total.load(std::memory_order_relaxed))
        break;
      const uint32_t n = 1 + rng() % kMaxBurst;
      const bool bulk = rng() % 4 == 0;
      const uint32_t got = bulk ? r.dequeue_bulk(buf, n) : r.dequeue_burst(buf, n);
      if (got > kCapacity) over_capacity++;
      if (bulk && got != 0 && got != n) bulk_partial++;
      for (uint32_t i = 0; i < std::min(got, kMaxBurst); i++) {
        const uint32_t v = buf[i];
        if (v >= kTotal) {
          out_of_range++;
          continue;
        }
        const uint64_t bit = uint64_t(1) << (v % 64);
        if (seen[v / 64].fetch_or(bit, std::memory_order_relaxed) & bit) duplicates++;
      }
      received.fetch_add(got, std::memory_order_relaxed);
      if (got == 0) std::this_thread::yield();
    }
  };

  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < kProducers; i++) threads.emplace_back(producer, i);
  for (uint32_t i = 0; i < kConsumers; i++) threads.emplace_back(consumer, i);
  go.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();
  const uint32_t total = produced_total.load();
  std::printf("  MPMC stress: %u of %u values in %.2f s\n", total, kTotal,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  CHECK(total >= kMinimum);
  CHECK(over_capacity.load() == 0);
  CHECK(bulk_partial.load() == 0);
  CHECK(out_of_range.load() == 0);
  CHECK(duplicates.load() == 0);
  CHECK(received.load() == total);
  // Each producer's values [0, produced[id]) arrived; none past them did.
  uint32_t missing = 0, extra = 0;
  for (uint32_t v = 0; v < kTotal; v++) {
    const bool got = seen[v / 64].load() >> (v % 64) & 1;
    const bool sent = v % kPerProducer < produced[v / kPerProducer];
    missing += sent && !got;
    extra += got && !sent;
  }
  CHECK(missing == 0);
  CHECK(extra == 0);
  CHECK(r.count() == 0);
  auto* h = r.header();
  CHECK(h->prod_head.load() == total && h->prod_tail.load() == total);
  CHECK(h->cons_head.load() == total && h->cons_tail.load() == total);
}

// One producer, one consumer, single-producer/single-consumer flags: strict FIFO.
TEST_CASE("SPSC: 1 producer + 1 consumer, FIFO order") {
  constexpr uint32_t kTotal = 1u << 20;
  OwnedRing r(256, kSPSC);
  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<uint32_t> misordered{0};
  uint32_t received = 0;

  std::thread prod([&] {
    std::minstd_rand rng(7);
    uint32_t buf[32];
    uint32_t next = 0;
    while (next < kTotal) {
      const uint32_t n = std::min<uint32_t>(1 + rng() % 32, kTotal - next);
      for (uint32_t i = 0; i < n; i++) buf[i] = next + i;
      const uint32_t put = (rng() & 1) ? r.enqueue_bulk(buf, n) : r.enqueue_burst(buf, n);
      next += put;
      if (put == 0) std::this_thread::yield();
    }
  });
  std::thread cons([&] {
    std::minstd_rand rng(8);
    uint32_t buf[32];
    uint32_t expect = 0;
    while (expect < kTotal) {
      const uint32_t n = 1 + rng() % 32;
      const uint32_t got = (rng() & 1) ? r.dequeue_bulk(buf, n) : r.dequeue_burst(buf, n);
      for (uint32_t i = 0; i < got; i++) {
        if (buf[i] != expect) misordered++;
        expect = buf[i] + 1;
      }
      if (got == 0) std::this_thread::yield();
    }
    received = expect;
  });
  prod.join();
  cons.join();
  std::printf("  SPSC: %u values in %.2f s\n", kTotal,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  CHECK(misordered.load() == 0);
  CHECK(received == kTotal);
  CHECK(r.count() == 0);
}

// The wire configuration of the ring driver: many producers, one consumer.
TEST_CASE("MPSC: 2 producers + 1 consumer, per-producer order kept") {
  constexpr uint32_t kPerProducer = 1u << 18;
  OwnedRing r(512, lr::kRingSingleConsumer);
  const auto t0 = std::chrono::steady_clock::now();
  std::atomic<uint32_t> errors{0};
  auto producer = [&](uint32_t id) {
    uint32_t buf[16];
    uint32_t next = 0;
    while (next < kPerProducer) {
      const uint32_t n = std::min<uint32_t>(16, kPerProducer - next);
      for (uint32_t i = 0; i < n; i++) buf[i] = (id << 31) | (next + i);
      const uint32_t put = r.enqueue_burst(buf, n);
      next += put;
      if (put == 0) std::this_thread::yield();
    }
  };
  std::thread p0(producer, 0), p1(producer, 1);
  uint32_t expect[2] = {0, 0};
  uint32_t buf[64];
  while (expect[0] + expect[1] < 2 * kPerProducer) {
    const uint32_t got = r.dequeue_burst(buf, 64);
    for (uint32_t i = 0; i < got; i++) {
      const uint32_t id = buf[i] >> 31, v = buf[i] & 0x7fffffffu;
      if (v != expect[id]) errors++;
      expect[id] = v + 1;
    }
    if (got == 0) std::this_thread::yield();
  }
  p0.join();
  p1.join();
  std::printf("  MPSC: %u values in %.2f s\n", 2 * kPerProducer,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  CHECK(errors.load() == 0);
  CHECK(expect[0] == kPerProducer && expect[1] == kPerProducer);
}

// count() is read by stats threads while both sides move: it must stay within
// [0, capacity] (a reader that loads prod_tail before cons_tail can see the
// consumer pass the producer value it read and underflow).
TEST_CASE("count() read concurrently stays within capacity") {
  OwnedRing r(64, 0);
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> bad{0};
  std::thread mover([&] {
    uint32_t buf[64] = {};
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    while (std::chrono::steady_clock::now() < end) {
      for (int k = 0; k < 256; k++) {
        r.enqueue_burst(buf, 64);
        r.dequeue_burst(buf, 64);
      }
    }
    stop.store(true);
  });
  while (!stop.load()) {
    const uint32_t c = r.count(), f = r.free_count();
    if (c > 64 || f > 64) bad++;
  }
  mover.join();
  CHECK(bad.load() == 0);
}

TEST_MAIN()
