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

}  // namespace

TEST_CASE("without a window every rx burst goes to to_js as it comes") {
  Mempool pool(opts(256));
  JsChannel ch(0, 0, 256, 32);
  auto idx = take(pool, 3);
  ch.batcher.add(ch, pool, nullptr, idx.data(), 3);
  CHECK(ch.to_js().count() == 3);
  CHECK(ch.batcher.held() == 0);
  CHECK(drain_to_js(ch, pool) == 3);
  CHECK(pool.available() == pool.size());
}

TEST_CASE("with a window a partial burst waits; a full one goes at once") {
  Mempool pool(opts(256));
  JsChannel ch(0, 0, 256, 32);
  ch.batcher.configure(32, kForever);
  auto a = take(pool, 10);
  ch.batcher.add(ch, pool, nullptr, a.data(), 10);
  ch.batcher.publish_due(ch, pool, nullptr);  // the window has not run out
  CHECK(ch.to_js().count() == 0);
  CHECK(ch.batcher.held() == 10);
  CHECK(ch.held() == 10);  // counted where the pool accounting looks
  auto b = take(pool, 25);
  ch.batcher.add(ch, pool, nullptr, b.data(), 25);  // 35 >= 32: all of it goes, in order
  CHECK(ch.to_js().count() == 35);
  CHECK(ch.batcher.held() == 0);
  uint32_t got[64];
  REQUIRE(ch.to_js().dequeue_burst(got, 64) == 35);
  for (uint32_t i = 0; i < 10; i++) CHECK(got[i] == a[i]);
  for (uint32_t i = 0; i < 25; i++) CHECK(got[10 + i] == b[i]);
  for (uint32_t i = 0; i < 35; i++) {
    Mbuf* m = pool.mbuf(got[i]);
    pool.free_bulk(nullptr, &m, 1);
  }
  CHECK(pool.available() == pool.size());
}

TEST_CASE("a partial burst goes when its window has run out") {
  Mempool pool(opts(256));
  JsChannel ch(0, 0, 256, 32);
  ch.batcher.configure(32, 1);  // one TSC cycle
  auto a = take(pool, 5);
  ch.batcher.add(ch, pool, nullptr, a.data(), 5);
  std::this_thread::sleep_for(std::chrono::microseconds(10));
  ch.batcher.publish_due(ch, pool, nullptr);
  CHECK(ch.to_js().count() == 5);
  CHECK(ch.batcher.held() == 0);
  CHECK(drain_to_js(ch, pool) == 5);
  CHECK(pool.available() == pool.size());
}

TEST_CASE("a full to_js ring is a counted drop, and the dropped mbufs go back to the pool") {
  Mempool pool(opts(256));
  JsChannel ch(0, 0, 64, 32);  // to_js holds 64
  ch.batcher.configure(32, kForever);
  for (int i = 0; i < 3; i++) {
    auto b = take(pool, 32);
    ch.batcher.add(ch, pool, nullptr, b.data(), 32);
  }
  CHECK(ch.to_js().count() == 64);
  CHECK(ch.full.get() == 32);
  CHECK(pool.available() == pool.size() - 64);
  CHECK(drain_to_js(ch, pool) == 64);
  CHECK(pool.available() == pool.size());
}

TEST_CASE("stop: what the batcher holds goes back to the pool") {
  Mempool pool(opts(256));
  JsChannel ch(0, 0, 256, 32);
  ch.batcher.configure(32, kForever);
  auto a = take(pool, 20);
  ch.batcher.add(ch, pool, nullptr, a.data(), 20);
  ch.drain(pool);
  CHECK(ch.batcher.held() == 0);
  CHECK(ch.held() == 0);
  CHECK(pool.available() == pool.size());
}

TEST_CASE("held() read by another thread while the lcore stages and publishes (TSan)") {
  Mempool pool(opts(4096));
  JsChannel ch(0, 0, 1024, 32);
  ch.batcher.configure(32, kForever);
  std::atomic<bool> done{false};
  std::thread reader([&] {
    uint64_t seen = 0;
    while (!done.load(std::memory_order_acquire)) seen += ch.held();
    (void)seen;
  });
  for (int round = 0; round < 2000; round++) {
    auto b = take(pool, 7);
    ch.batcher.add(ch, pool, nullptr, b.data(), 7);
    CHECK(ch.batcher.held() < 32);
    if (round % 50 == 0) drain_to_js(ch, pool);
  }
  ch.batcher.flush(ch, pool, nullptr);
  drain_to_js(ch, pool);
  done.store(true, std::memory_order_release);
  reader.join();
  CHECK(ch.full.get() == 0);
  CHECK(pool.available() == pool.size());
}

TEST_MAIN()
