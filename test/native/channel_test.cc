// A handler channel's trust boundary (pipeline/js_channel.h, "Trust"): the
// lcore applies only indices it handed to JavaScript and has not had back;
// anything else is counted as bad and not touched; what JavaScript never gives
// back is recovered at stop; a consumer's garbage in the ring counters loses
// no mbuf; and from_js always takes a whole batch, however small ringSize is.
// The test plays both sides: the lcore (batcher, ChannelReturnTask) and the JS
// consumer (plain ring operations on the shared block).
#include <cstdint>
#include <vector>

#include "check.h"
#include "core/mempool.h"
#include "pipeline/handler.h"
#include "pipeline/js_channel.h"

using lr::ChannelReturnTask;
using lr::JsChannel;
using lr::Mbuf;
using lr::Mempool;
using lr::MempoolOptions;

namespace {

MempoolOptions opts(uint32_t mbufs) {
  MempoolOptions o;
  o.mbufs = mbufs;
  o.cache_size = 64;
  o.caches = 1;
  o.region.hugepages = lr::HugepagePolicy::Off;
  return o;
}

// A pool of 1024 (a power of two: the free ring has no spare slot, so a
// double free cannot hide), one channel, and its return task on "lcore" 0.
struct Bed {
  Mempool pool;
  JsChannel ch;
  std::vector<lr::Port*> no_ports;
  ChannelReturnTask ret;
  explicit Bed(uint32_t ring = 256)
      : pool(opts(1024)), ch(0, 0, ring, 32, 1024), ret(&ch, no_ports, 0, &pool, pool.cache(0), 32) {}

  // The lcore hands n fresh mbufs to JS (their verdicts are "drop" after alloc).
  std::vector<uint32_t> hand(uint32_t n) {
    std::vector<Mbuf*> m(n);
    REQUIRE(pool.alloc_bulk(pool.cache(0), m.data(), n));
    std::vector<uint32_t> idx(n);
    for (uint32_t i = 0; i < n; i++) idx[i] = pool.index_of(m[i]);
    ch.batcher.add(ch, pool, pool.cache(0), idx.data(), n);
    return idx;
  }
  // JS takes up to n from to_js.
  std::vector<uint32_t> js_take(uint32_t n) {
    std::vector<uint32_t> idx(n);
    idx.resize(ch.to_js().dequeue_burst(idx.data(), n));
    return idx;
  }
  // JS gives indices back (whatever they are).
  void js_return(const std::vector<uint32_t>& idx) {
    REQUIRE(ch.from_js().enqueue_bulk(idx.data(), uint32_t(idx.size())) == idx.size());
  }
  // The lcore applies what came back until from_js is empty.
  void lcore_poll() {
    while (ch.from_js().count()) ret.poll();
  }
  // Engine::stop: the lcore's task drains, then the channel.
  void stop() {
    ret.drain();
    ch.drain(pool);
    pool.flush_caches();
  }
  bool pool_whole() const { return pool.available() == pool.size() && pool.free_overflows() == 0; }
};

}  // namespace

TEST_CASE("indices JS does not hold are counted as bad and never touched") {
  Bed b;
  auto handed = b.hand(4);
  auto got = b.js_take(4);
  REQUIRE(got.size() == 4);
  // An index never handed over (mbuf 1000 is free in the pool), one out of
  // range, and the first one twice.
  std::vector<uint32_t> back = got;
  back.push_back(1000);
  back.push_back(5000);
  back.push_back(got[0]);
  b.js_return(back);
  b.lcore_poll();
  CHECK(b.ch.verdicts.dropped.get() == 4);
  CHECK(b.ch.verdicts.bad.get() == 3);
  b.stop();
  CHECK(b.ch.unreturned.get() == 0);
  CHECK(b.pool_whole());
}

TEST_CASE("an index returned after it came back once is bad (a stale index from an earlier burst)") {
  Bed b;
  b.hand(8);
  auto first = b.js_take(8);
  b.hand(8);
  auto second = b.js_take(8);
  // Both bursts, then one index of the first again (batch.count += 1 in a
  // handler, on old code). One poll takes all 17: the stale one comes after
  // its mbuf came back.
  auto back = first;
  back.insert(back.end(), second.begin(), second.end());
  back.push_back(first[7]);
  b.js_return(back);
  b.ret.poll();
  CHECK(b.ch.verdicts.dropped.get() == 16);
  CHECK(b.ch.verdicts.bad.get() == 1);
  b.stop();
  CHECK(b.pool_whole());
}

TEST_CASE("a stale index of an mbuf the channel handed over again is applied once, never twice") {
  // The bitmap records what the JavaScript side holds, not which burst: an mbuf
  // that came back and went out again (here into the free ring) is JS's again.
  // Whatever JS returns, each handing-over is applied at most once.
  Bed b;
  b.hand(8);
  auto first = b.js_take(8);
  b.js_return(first);
  b.lcore_poll();  // applies them, and restocks the free ring (LIFO cache: with these very mbufs)
  auto back = std::vector<uint32_t>(8, first[7]);
  b.js_return(back);
  b.lcore_poll();
  CHECK(b.ch.verdicts.dropped.get() + b.ch.verdicts.bad.get() == 16);
  CHECK(b.ch.verdicts.bad.get() >= 7);
  b.stop();
  CHECK(b.pool_whole());
}

TEST_CASE("what JS took and never gave back is recovered at stop, and counted") {
  Bed b;
  b.hand(10);
  auto got = b.js_take(10);
  b.js_return({got.begin(), got.begin() + 6});  // batch.count = 6 in a handler, on old code
  b.lcore_poll();
  b.hand(5);  // still in to_js at stop: not a leak
  CHECK(b.ch.held() == 4 + 5 + b.ch.free_ring().count());
  b.stop();
  CHECK(b.ch.unreturned.get() == 4);
  CHECK(b.ch.held() == 0);
  CHECK(b.pool_whole());
}

TEST_CASE("a committed burst still in to_js (the consumer died before advancing it) is freed once") {
  Bed b;
  b.hand(6);
  // JS peeks without advancing to_js, commits into from_js, and dies.
  uint32_t peek[6];
  auto* th = b.ch.to_js().header();
  for (uint32_t i = 0; i < 6; i++) peek[i] = th->slots[(th->cons_tail.load() + i) & th->mask];
  b.js_return({peek, peek + 6});
  b.stop();
  CHECK(b.ch.unreturned.get() == 0);
  CHECK(b.pool_whole());
}

TEST_CASE("the free ring: refills are marked, and garbage in its counters loses no mbuf") {
  Bed b;
  b.ret.poll();  // stocks the free ring for batch.alloc()
  REQUIRE(b.ch.free_ring().count() == 32);
  CHECK(b.ch.held() == 32);
  // JS takes 3 for alloc() and gives them back through from_js.
  uint32_t a[3];
  REQUIRE(b.ch.free_ring().dequeue_burst(a, 3) == 3);
  b.js_return({a, a + 3});
  b.lcore_poll();
  CHECK(b.ch.verdicts.bad.get() == 0);
  // A consumer scribbles over the producer head: the lcore's next refill
  // cannot enqueue what it checked room for. Old code lost those mbufs.
  auto* fh = b.ch.free_ring().header();
  fh->prod_head.store(fh->prod_tail.load() + 60);
  b.ret.poll();
  b.stop();
  CHECK(b.pool_whole());
}

TEST_CASE("from_js takes a whole batch (2 x burst) even with ringSize 2 or 4") {
  for (uint32_t ring : {2u, 4u, 16u, 1024u}) {
    JsChannel ch(0, 0, ring, 32, 64);
    CHECK(ch.from_js().capacity() >= JsChannel::kBatchFactor * 32);
    CHECK(ch.from_js().capacity() >= 2 * ring);
  }
  JsChannel big(0, 0, 4, 64, 64);
  CHECK(big.from_js().capacity() >= 128);
}

TEST_MAIN()
