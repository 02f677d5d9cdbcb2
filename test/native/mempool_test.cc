// Mempool and memory regions: bulk alloc/free with and without per-lcore caches,
// exhaustion, accounting (no mbuf lost), mbuf layout and reset, option checks,
// the hugepage policy, and concurrent use from several lcores (run under TSan).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <thread>
#include <vector>

#include "check.h"
#include "core/memory.h"
#include "core/mempool.h"

using lr::Mbuf;
using lr::Mempool;
using lr::MempoolOptions;

namespace {

MempoolOptions opts(uint32_t mbufs, uint32_t cache_size = 0, uint32_t caches = 0) {
  MempoolOptions o;
  o.mbufs = mbufs;
  o.cache_size = cache_size;
  o.caches = caches;
  o.region.hugepages = lr::HugepagePolicy::Off;
  return o;
}

// Takes every free mbuf out of the pool (no cache) and checks each index comes once.
bool all_unique_and_present(Mempool& p) {
  p.flush_caches();
  if (p.available() != p.size()) return false;
  std::vector<Mbuf*> all(p.size());
  if (!p.alloc_bulk(nullptr, all.data(), p.size())) return false;
  std::vector<bool> seen(p.size());
  bool ok = true;
  for (Mbuf* m : all) {
    if (!p.owns(m) || m->index >= p.size() || seen[m->index]) ok = false;
    else seen[m->index] = true;
  }
  p.free_bulk(nullptr, all.data(), p.size());
  return ok && p.available() == p.size();
}

uint64_t read_u64(const char* path) {
  std::ifstream f(path);
  uint64_t v = 0;
  f >> v;
  return v;
}

}  // namespace

TEST_CASE("a new pool: every mbuf free, index and layout") {
  Mempool p(opts(1000));
  CHECK(p.size() == 1000);
  CHECK(p.available() == 1000);
  CHECK(p.free_in_ring() == 1000);
  CHECK(p.free_in_caches() == 0);
  CHECK(p.headroom() == 128 && p.data_room() == 2048);
  CHECK(p.slot_size() == 64 + 128 + 2048);
  CHECK(p.region_bytes() == size_t(1000) * p.slot_size());
  CHECK(p.region().size() >= p.region_bytes());
  CHECK(reinterpret_cast<uintptr_t>(p.base()) % 64 == 0);
  for (uint32_t i = 0; i < p.size(); i++) {
    Mbuf* m = p.mbuf(i);
    if (m->index != i || reinterpret_cast<uint8_t*>(m) != p.base() + size_t(i) * p.slot_size() ||
        m->buf_len != 128 + 2048 || m->data_off != 64 + 128 || m->data_len != 0 || !p.owns(m)) {
      CHECK(m->index == i);
      CHECK(m->buf_len == 128 + 2048);
      CHECK(m->data_off == 64 + 128);
      CHECK(p.owns(m));
      break;
    }
  }
  CHECK(p.mbuf(0)->tailroom_from_data() == 2048);
  CHECK(!p.owns(reinterpret_cast<Mbuf*>(p.base() + 64)));  // inside a slot, not at its start
  CHECK(!p.owns(reinterpret_cast<Mbuf*>(p.base() + p.region_bytes())));
  CHECK(all_unique_and_present(p));
}

TEST_CASE("alloc and free bulk without a cache") {
  Mempool p(opts(300));
  std::vector<Mbuf*> a(300);
  CHECK(p.alloc_bulk(nullptr, a.data(), 0));
  CHECK(p.alloc_bulk(nullptr, a.data(), 32));
  CHECK(p.available() == 268);
  CHECK(p.alloc_bulk(nullptr, a.data() + 32, 268));  // more than one internal chunk
  CHECK(p.available() == 0);
  std::set<uint32_t> idx;
  for (Mbuf* m : a) idx.insert(m->index);
  CHECK(idx.size() == 300);
  p.free_bulk(nullptr, a.data(), 300);
  CHECK(p.available() == 300);
  p.free_one(nullptr, (p.alloc_bulk(nullptr, a.data(), 1), a[0]));
  CHECK(p.available() == 300);
  CHECK(p.alloc_failures() == 0);
}

TEST_CASE("alloc and free bulk with a cache") {
  Mempool p(opts(1024, 64, 2));
  CHECK(p.cache_count() == 2);
  CHECK(p.cache(2) == nullptr);
  Mempool::Cache* c = p.cache(0);
  REQUIRE(c != nullptr);
  std::vector<Mbuf*> a(600);
  CHECK(p.alloc_bulk(c, a.data(), 32));
  // The refill takes size + n from the ring and serves n: the rest waits in the cache.
  CHECK(p.free_in_caches() == 64);
  CHECK(p.free_in_ring() == 1024 - 96);
  CHECK(p.available() == 1024 - 32);
  p.free_bulk(c, a.data(), 32);
  // At flush_at (1.5 x size = 96) the cache pushes what it holds above size to the ring.
  CHECK(p.free_in_caches() == 64);
  CHECK(p.free_in_ring() == 1024 - 64);
  CHECK(p.available() == 1024);
  CHECK(p.alloc_bulk(c, a.data(), 64));  // served from the cache alone
  CHECK(p.free_in_caches() == 0);
  CHECK(p.free_in_ring() == 1024 - 64);
  p.free_bulk(c, a.data(), 64);  // below flush_at: kept
  CHECK(p.free_in_caches() == 64);
  CHECK(p.alloc_bulk(c, a.data(), 95));  // refill of size + n - len = 95, serve 95
  CHECK(p.free_in_caches() == 64);
  CHECK(p.free_in_ring() == 1024 - 64 - 95);
  p.free_bulk(c, a.data(), 31);  // 95 < 96: kept
  CHECK(p.free_in_caches() == 95);
  p.free_bulk(c, a.data() + 31, 1);  // reaches 96: back to size
  CHECK(p.free_in_caches() == 64);
  p.free_bulk(c, a.data() + 32, 63);
  CHECK(p.free_in_caches() == 64);
  CHECK(p.available() == 1024);
  // A burst larger than kMaxCache goes straight to the ring.
  CHECK(p.alloc_bulk(c, a.data(), 600));
  CHECK(p.available() == 1024 - 600);
  p.free_bulk(c, a.data(), 600);
  CHECK(p.available() == 1024);
  // A LIFO: the last freed comes back first (hot in the CPU caches).
  CHECK(p.alloc_bulk(c, a.data(), 1));
  Mbuf* last = a[0];
  p.free_one(c, last);
  CHECK(p.alloc_bulk(c, a.data(), 1));
  CHECK(a[0] == last);
  p.free_one(c, a[0]);
  p.flush_caches();
  CHECK(p.free_in_caches() == 0);
  CHECK(p.available() == p.size());
  CHECK(all_unique_and_present(p));
}

TEST_CASE("cache_size 0 with caches: straight to the ring") {
  Mempool p(opts(64, 0, 1));
  Mbuf* a[8];
  CHECK(p.alloc_bulk(p.cache(0), a, 8));
  CHECK(p.free_in_caches() == 0);
  CHECK(p.available() == 56);
  p.free_bulk(p.cache(0), a, 8);
  CHECK(p.available() == 64);
}

TEST_CASE("exhaustion: all or nothing, failures counted") {
  {
    Mempool p(opts(100));
    std::vector<Mbuf*> a(600, nullptr);
    CHECK(p.alloc_bulk(nullptr, a.data(), 60));
    CHECK(!p.alloc_bulk(nullptr, a.data() + 60, 50));
    CHECK(p.available() == 40);  // took nothing
    CHECK(p.alloc_failures() == 1);
    CHECK(a[60] == nullptr);
    CHECK(!p.alloc_bulk(nullptr, a.data() + 60, 300));  // more than a chunk
    CHECK(p.alloc_failures() == 2);
    CHECK(p.available() == 40);
    CHECK(p.alloc_bulk(nullptr, a.data() + 60, 40));
    CHECK(p.available() == 0);
    CHECK(!p.alloc_bulk(nullptr, a.data(), 1));
    CHECK(p.alloc_failures() == 3);
    p.free_bulk(nullptr, a.data(), 100);
    CHECK(p.available() == 100);
  }
  {
    Mempool p(opts(100, 32, 1));
    Mempool::Cache* c = p.cache(0);
    std::vector<Mbuf*> a(200, nullptr);
    CHECK(!p.alloc_bulk(c, a.data(), 101));
    CHECK(p.alloc_failures() == 1);
    CHECK(p.available() == 100);
    CHECK(p.free_in_caches() == 0);
    // The refill asks for size + n; when the ring cannot give that it takes just n.
    CHECK(p.alloc_bulk(c, a.data(), 90));
    CHECK(p.available() == 10);
    CHECK(!p.alloc_bulk(c, a.data() + 90, 20));
    CHECK(p.available() == 10);
    CHECK(p.alloc_failures() == 2);
    CHECK(p.alloc_bulk(c, a.data() + 90, 10));
    CHECK(p.available() == 0);
    CHECK(!p.alloc_bulk(c, a.data(), 1));
    CHECK(p.alloc_failures() == 3);
    p.free_bulk(c, a.data(), 100);
    p.flush_caches();
    CHECK(p.available() == 100);
    CHECK(all_unique_and_present(p));
  }
}

TEST_CASE("alloc resets data_off, data_len and flags") {
  for (uint32_t headroom : {0u, 128u, 256u}) {
    MempoolOptions o = opts(128, 16, 1);
    o.headroom = headroom;
    o.data_room = 1024;
    Mempool p(o);
    Mbuf* a[128];
    REQUIRE(p.alloc_bulk(p.cache(0), a, 100));
    for (int i = 0; i < 100; i++) {
      std::memset(a[i]->data(), 0xab, 16);
      a[i]->data_off = 3;
      a[i]->data_len = 999;
      a[i]->flags = 0xff;
    }
    p.free_bulk(p.cache(0), a, 100);
    uint32_t bad = 0;
    for (Mempool::Cache* c : {p.cache(0), static_cast<Mempool::Cache*>(nullptr)}) {
      p.flush_caches();
      REQUIRE(p.alloc_bulk(c, a, 128));
      for (Mbuf* m : a) {
        if (m->data_off != 64 + headroom || m->data_len != 0 || m->flags != 0) bad++;
        if (m->buf_len != headroom + 1024 || m->tailroom_from_data() != 1024) bad++;
      }
      p.free_bulk(c, a, 128);
    }
    CHECK(bad == 0);
  }
}

TEST_CASE("options are validated") {
  auto with = [](auto f) {
    MempoolOptions o = opts(64);
    f(o);
    return o;
  };
  CHECK_THROWS_CODE(Mempool(with([](MempoolOptions& o) { o.headroom = 100; })), "INVALID_OPTION");
  CHECK_THROWS_CODE(Mempool(with([](MempoolOptions& o) { o.data_room = 1000; })), "INVALID_OPTION");
  CHECK_THROWS_CODE(Mempool(with([](MempoolOptions& o) { o.data_room = 0; })), "INVALID_OPTION");
  CHECK_THROWS_CODE(Mempool(with([](MempoolOptions& o) {
                      o.headroom = 512;
                      o.data_room = 65024;  // 64 + 512 + 65024 > 65535
                    })),
                    "INVALID_OPTION");
  CHECK_THROWS_CODE(Mempool(with([](MempoolOptions& o) { o.cache_size = Mempool::kMaxCache + 1; })), "INVALID_OPTION");
  CHECK_THROWS_CODE(Mempool(with([](MempoolOptions& o) { o.mbufs = 0; })), "INVALID_OPTION");
  CHECK_THROWS_CODE(Mempool(with([](MempoolOptions& o) { o.mbufs = (1u << 28) + 1; })), "INVALID_OPTION");
  // The limits themselves are fine.
  Mempool ok1(with([](MempoolOptions& o) { o.cache_size = Mempool::kMaxCache; o.caches = 1; }));
  Mempool ok2(with([](MempoolOptions& o) { o.mbufs = 1; o.headroom = 0; o.data_room = 64; }));
  Mbuf* m[2];
  CHECK(ok2.alloc_bulk(nullptr, m, 1));
  CHECK(!ok2.alloc_bulk(nullptr, m, 1));
  ok2.free_one(nullptr, m[0]);
  CHECK(ok2.available() == 1);
  CHECK_THROWS_CODE(lr::Region::allocate(lr::RegionOptions{}), "INVALID_OPTION");  // 0 bytes
}

TEST_CASE("hugepages: 'off' gives 4 KiB pages and says so") {
  Mempool p(opts(64));
  CHECK(p.region().kind() == lr::PageKind::Small);
  CHECK(!p.region().warning().empty());
  CHECK(p.region().warning().find("off") != std::string::npos);
  CHECK(p.region().source() == "4KiB anonymous");
  CHECK(std::string(lr::page_kind_name(lr::PageKind::Small)) == "4K");
  std::printf("  region: %s, locked %d, warning: %s\n", p.region().source().c_str(), int(p.region().locked()),
              p.region().warning().c_str());
}

TEST_CASE("hugepages: 'require' on a host without them fails with HUGEPAGES_UNAVAILABLE") {
  const size_t k2M = size_t(2) << 20;
  const uint64_t free2m = lr::free_hugepages(k2M);
  const uint64_t overcommit = read_u64("/proc/sys/vm/nr_overcommit_hugepages");
  if (free2m > 0 || overcommit > 0) {
    std::printf("  skipped: this host has 2 MiB hugepages (free %llu, overcommit %llu), so 'require' succeeds\n",
                (unsigned long long)free2m, (unsigned long long)overcommit);
    return;
  }
  MempoolOptions o = opts(64);
  o.region.hugepages = lr::HugepagePolicy::Require;
  std::string msg;
  try {
    Mempool p(o);
  } catch (const lr::Error& e) {
    CHECK(e.code() == "HUGEPAGES_UNAVAILABLE");
    msg = e.what();
  }
  CHECK(!msg.empty());
  CHECK(msg.find("nr_hugepages") != std::string::npos);  // says what to run
  // 'auto' falls back to 4 KiB pages, with the reason.
  o.region.hugepages = lr::HugepagePolicy::Auto;
  Mempool p(o);
  CHECK(p.region().kind() == lr::PageKind::Small);
  CHECK(p.region().warning().find("hugepages") != std::string::npos);
}

TEST_CASE("Region move construction and assignment transfer the mapping") {
  lr::RegionOptions ro;
  ro.bytes = 10000;
  ro.hugepages = lr::HugepagePolicy::Off;
  lr::Region a = lr::Region::allocate(ro);
  lr::Region b = lr::Region::allocate(ro);
  REQUIRE(a.base() && b.base() && a.base() != b.base());
  uint8_t* bb = b.base();
  const std::string warn = b.warning();
  CHECK(a.size() == 10000);
  a.base()[9999] = 1;
  a = std::move(b);  // a's old mapping is released; a takes b's
  CHECK(a.base() == bb);
  CHECK(b.base() == nullptr);
  CHECK(a.warning() == warn);
  CHECK(a.source() == "4KiB anonymous");
  a.base()[9999] = 2;
  lr::Region c(std::move(a));
  CHECK(c.base() == bb);
  CHECK(c.warning() == warn);
  CHECK(a.base() == nullptr);
  lr::Region d;
  d = std::move(c);
  CHECK(d.base() == bb && d.base()[9999] == 2);
}

TEST_CASE("owner accounting") {
  Mempool p(opts(16));
  CHECK(p.held(lr::Owner::Driver) == 0);
  p.account(lr::Owner::Driver, 5);
  p.account(lr::Owner::Js, 3);
  p.account(lr::Owner::Driver, -2);
  CHECK(p.held(lr::Owner::Driver) == 3);
  CHECK(p.held(lr::Owner::Js) == 3);
  CHECK(p.held(lr::Owner::Ring) == 0);
}

// Two lcores, each with its own cache, allocate and free bursts of random sizes
// (holding some across iterations, and sometimes freeing what the other lcore
// allocated, through a hand-off ring) while a stats thread reads available().
TEST_CASE("index_of: an mbuf's index from its address, for every slot size, whatever its header says") {
  // Slots 128 (2^7), 2240 (64 x 35, the default), 2112 (64 x 33) and 65472 (64 x 1023, the largest).
  const uint32_t shapes[][2] = {{0, 64}, {128, 2048}, {64, 1984}, {0, 65408}};
  for (auto& sh : shapes) {
    MempoolOptions o = opts(sh[1] > 8192 ? 64 : 1000, 64, 1);
    o.headroom = sh[0];
    o.data_room = sh[1];
    Mempool p(o);
    for (uint32_t i = 0; i < p.size(); i++) {
      p.mbuf(i)->index = 0xdeadbeef;  // a handler scribbled over it
      CHECK(p.index_of(p.mbuf(i)) == i);
    }
    // Frees go by address: every mbuf comes back once, with its index field
    // rewritten at the next alloc (old code trusted the field and lost them).
    std::vector<Mbuf*> all(p.size());
    p.flush_caches();
    for (uint32_t i = 0; i < p.size(); i++) all[i] = p.mbuf(i);
    // Take them out, scribble, give them back, through a cache and without.
    REQUIRE(p.alloc_bulk(nullptr, all.data(), p.size()));
    for (Mbuf* m : all) m->index = 7;
    p.free_bulk(p.cache(0), all.data(), p.size() / 2);
    p.free_bulk(nullptr, all.data() + p.size() / 2, p.size() - p.size() / 2);
    CHECK(p.free_overflows() == 0);
    CHECK(all_unique_and_present(p));
  }
}

TEST_CASE("a double free is counted, never silently lost, and never overruns a cache") {
  // 1024 mbufs: a power of two, so the free ring has no spare slot.
  Mempool p(opts(1024, 64, 1));
  Mbuf* m;
  REQUIRE(p.alloc_bulk(nullptr, &m, 1));
  p.free_bulk(nullptr, &m, 1);
  p.free_bulk(nullptr, &m, 1);  // twice: the ring is full, the second is refused
  CHECK(p.free_overflows() == 1);
  CHECK(p.available() == p.size());
  // Through a cache: its flushes hit a full ring again and again; the cache
  // stays within its array (ASan) and every refused index is counted.
  Mempool::Cache* c = p.cache(0);
  for (int i = 0; i < 1000; i++) p.free_bulk(c, &m, 1);
  p.flush_caches();
  CHECK(p.free_overflows() == 1001);
  CHECK(p.free_in_ring() == p.size());
}

TEST_CASE("concurrent lcores with caches: no mbuf lost, none shared") {
  constexpr uint32_t kMbufs = 2048;
  Mempool p(opts(kMbufs, 64, 2));
  lr::OwnedRing handoff(4096, 0);  // mbuf indices passed from lcore 0 to lcore 1
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> errors{0}, over{0};
  std::atomic<uint64_t> ops{0}, rounds[2] = {};

  auto lcore = [&](uint32_t id) {
    Mempool::Cache* c = p.cache(id);
    std::minstd_rand rng(id * 31 + 5);
    std::vector<Mbuf*> held;
    Mbuf* burst[600];
    uint64_t n_ops = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      // Sometimes no cache (a control-path caller), sometimes more than kMaxCache.
      const uint32_t pick = rng() % 100;
      Mempool::Cache* use = pick < 5 ? nullptr : c;
      const uint32_t n = pick < 2 ? 513 + rng() % 64 : 1 + rng() % 64;
      if (p.alloc_bulk(use, burst, n)) {
        for (uint32_t i = 0; i < n; i++) {
          Mbuf* m = burst[i];
          if (!p.owns(m) || m->data_off != 64 + 128 || m->data_len != 0) errors++;
          // Mark it: another owner writing the same mbuf shows up below (and to TSan).
          m->user = (uint64_t(id + 1) << 32) | m->index;
          m->data_len = uint16_t(id + 1);
          held.push_back(m);
        }
      }
      // Free a random amount of what we hold, oldest or newest first.
      uint32_t k = held.empty() ? 0 : rng() % (std::min<size_t>(held.size(), 600) + 1);
      if (held.size() > 700) k = std::min<size_t>(held.size(), 600);
      for (uint32_t i = 0; i < k; i++) {
        Mbuf* m = held[held.size() - k + i];
        if (m->user != ((uint64_t(id + 1) << 32) | m->index) || m->data_len != id + 1) errors++;
        burst[i] = m;
      }
      held.resize(held.size() - k);
      if (id == 0 && k && (rng() & 3) == 0 && handoff.count() < 256) {
        // Hand these to lcore 1, which frees them into its own cache (a bounded
        // amount: when lcore 1 gets little CPU the hand-off must not hold the pool).
        uint32_t idx[600];
        for (uint32_t i = 0; i < k; i++) {
          burst[i]->user = 0;
          burst[i]->data_len = 0;
          idx[i] = burst[i]->index;
        }
        uint32_t put = handoff.enqueue_burst(idx, k);
        p.free_bulk(use, burst + put, k - put);
      } else {
        p.free_bulk(use, burst, k);
      }
      if (id == 1) {
        uint32_t idx[64];
        while (uint32_t got = handoff.dequeue_burst(idx, 64)) {
          for (uint32_t i = 0; i < got; i++) {
            burst[i] = p.mbuf(idx[i]);
            if (burst[i]->user != 0) errors++;
          }
          p.free_bulk(c, burst, got);
        }
      }
      rounds[id].store(++n_ops, std::memory_order_relaxed);
    }
    p.free_bulk(c, held.data(), uint32_t(held.size()));
    ops += n_ops;
  };

  std::thread stats([&] {
    uint64_t reads = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const uint32_t a = p.available();
      if (a > kMbufs) over++;
      reads++;
    }
    std::printf("  stats thread: %llu reads of available()\n", (unsigned long long)reads);
  });
  std::thread l0(lcore, 0), l1(lcore, 1);
  // About a second; longer when the host is so busy (or the sanitizer so slow)
  // that either lcore has not yet done a fair number of rounds.
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  while ((rounds[0].load() < 1000 || rounds[1].load() < 1000) &&
         std::chrono::steady_clock::now() - t0 < std::chrono::seconds(8))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  stop.store(true);
  l0.join();
  l1.join();
  stats.join();
  // What is left in the hand-off ring goes back too.
  uint32_t idx[256];
  while (uint32_t got = handoff.dequeue_burst(idx, 256)) {
    Mbuf* m[256];
    for (uint32_t i = 0; i < got; i++) m[i] = p.mbuf(idx[i]);
    p.free_bulk(nullptr, m, got);
  }
  std::printf("  %llu alloc/free rounds, %llu alloc failures\n", (unsigned long long)ops.load(),
              (unsigned long long)p.alloc_failures());
  CHECK(rounds[0].load() > 0 && rounds[1].load() > 0);
  CHECK(errors.load() == 0);
  CHECK(over.load() == 0);
  p.flush_caches();
  CHECK(p.free_in_caches() == 0);
  CHECK(p.available() == kMbufs);
  CHECK(all_unique_and_present(p));
}

TEST_MAIN()
