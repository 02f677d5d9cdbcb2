// The lcore-side batcher of a handler channel (pipeline/to_js_batcher.h):
// publishes at once without a window, holds a partial burst until it is full or
// its window runs out, counts a full to_js ring as drops and gives those mbufs
// back, drops what it holds at stop, and lets another thread read held() while
// the lcore works (run under TSan).
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "check.h"
#include "core/mempool.h"
#include "pipeline/js_channel.h"

using lr::JsChannel;
using lr::Mbuf;
using lr::Mempool;
using lr::MempoolOptions;

namespace {

MempoolOptions opts(uint32_t mbufs) {
  MempoolOptions o;
  o.mbufs = mbufs;
  o.region.hugepages = lr::HugepagePolicy::Off;
  return o;
}

// n mbufs from the pool, as the indices the handler stage would stage.
std::vector<uint32_t> take(Mempool& pool, uint32_t n) {
  std::vector<Mbuf*> m(n);
  REQUIRE(pool.alloc_bulk(nullptr, m.data(), n));
  std::vector<uint32_t> idx(n);
  for (uint32_t i = 0; i < n; i++) idx[i] = m[i]->index;
  return idx;
}

// Empties to_js back into the pool; returns how many it held.
uint32_t drain_to_js(JsChannel& ch, Mempool& pool) {
  uint32_t idx[64], total = 0;
  while (uint32_t n = ch.to_js().dequeue_burst(idx, 64)) {
    for (uint32_t i = 0; i < n; i++) {
      Mbuf* m = pool.mbuf(idx[i]);
      pool.free_bulk(nullptr, &m, 1);
    }
    total += n;
  }
  return total;
}

constexpr uint64_t kForever = uint64_t(1) << 62;  // a window that never runs out in a test

// A pool and a channel (to_js of `ring` slots, bursts of 32) with the given window.
struct Bed {
  Mempool pool;
  JsChannel ch;
  explicit Bed(uint64_t window, uint32_t ring = 256, uint32_t mbufs = 256) : pool(opts(mbufs)), ch(0, 0, ring, 32, mbufs) {
    ch.batcher.configure(32, window);
  }
  // Stages n fresh mbufs as one rx burst; returns their indices.
  std::vector<uint32_t> stage(uint32_t n) {
    auto idx = take(pool, n);
    ch.batcher.add(ch, pool, nullptr, idx.data(), n);
    return idx;
  }
  bool pool_whole() const { return pool.available() == pool.size(); }
};

}  // namespace

TEST_CASE("without a window every rx burst goes to to_js as it comes") {
  Bed b(0);
  b.stage(3);
  CHECK(b.ch.to_js().count() == 3);
  CHECK(b.ch.batcher.held() == 0);
  CHECK(drain_to_js(b.ch, b.pool) == 3);
  CHECK(b.pool_whole());
}

TEST_CASE("with a window a partial burst waits; a full one goes at once") {
  Bed b(kForever);
  auto first = b.stage(10);
  b.ch.batcher.publish_due(b.ch, b.pool, nullptr);  // the window has not run out
  CHECK(b.ch.to_js().count() == 0);
  CHECK(b.ch.batcher.held() == 10);
  CHECK(b.ch.held() == 10);  // counted where the pool accounting looks
  auto second = b.stage(25);  // 35 >= 32: all of it goes, in order
  CHECK(b.ch.to_js().count() == 35);
  CHECK(b.ch.batcher.held() == 0);
  uint32_t got[64];
  REQUIRE(b.ch.to_js().dequeue_burst(got, 64) == 35);
  for (uint32_t i = 0; i < 10; i++) CHECK(got[i] == first[i]);
  for (uint32_t i = 0; i < 25; i++) CHECK(got[10 + i] == second[i]);
  for (uint32_t i = 0; i < 35; i++) {
    Mbuf* m = b.pool.mbuf(got[i]);
    b.pool.free_bulk(nullptr, &m, 1);
  }
  CHECK(b.pool_whole());
}

TEST_CASE("a partial burst goes when its window has run out") {
  Bed b(1);  // one TSC cycle
  b.stage(5);
  std::this_thread::sleep_for(std::chrono::microseconds(10));
  b.ch.batcher.publish_due(b.ch, b.pool, nullptr);
  CHECK(b.ch.to_js().count() == 5);
  CHECK(b.ch.batcher.held() == 0);
  CHECK(drain_to_js(b.ch, b.pool) == 5);
  CHECK(b.pool_whole());
}

TEST_CASE("a full to_js ring is a counted drop, and the dropped mbufs go back to the pool") {
  Bed b(kForever, 64);  // to_js holds 64
  for (int i = 0; i < 3; i++) b.stage(32);
  CHECK(b.ch.to_js().count() == 64);
  CHECK(b.ch.full.get() == 32);
  CHECK(b.pool.available() == b.pool.size() - 64);
  CHECK(drain_to_js(b.ch, b.pool) == 64);
  CHECK(b.pool_whole());
}

TEST_CASE("stop: what the batcher holds goes back to the pool") {
  Bed b(kForever);
  b.stage(20);
  b.ch.drain(b.pool);
  CHECK(b.ch.batcher.held() == 0);
  CHECK(b.ch.held() == 0);
  CHECK(b.pool_whole());
}

TEST_CASE("held() read by another thread while the lcore stages and publishes (TSan)") {
  Bed b(kForever, 1024, 4096);
  std::atomic<bool> done{false};
  std::thread reader([&] {
    uint64_t seen = 0;
    while (!done.load(std::memory_order_acquire)) seen += b.ch.held();
    (void)seen;
  });
  for (int round = 0; round < 2000; round++) {
    b.stage(7);
    CHECK(b.ch.batcher.held() < 32);
    if (round % 50 == 0) drain_to_js(b.ch, b.pool);
  }
  b.ch.batcher.flush(b.ch, b.pool, nullptr);
  drain_to_js(b.ch, b.pool);
  done.store(true, std::memory_order_release);
  reader.join();
  CHECK(b.ch.full.get() == 0);
  CHECK(b.pool_whole());
}

TEST_MAIN()
