// null: a source of synthetic packets and a sink, for benchmarks (the workload
// DPDK's net_null gives testpmd). rx allocates a burst from the lcore's mempool
// cache and stamps length (and, by default, content); tx frees what it is given.
//
// Benchmark options, all off by default (and then nothing on the hot path but a
// predictable branch):
//  - rate: packets per second on rx, a token bucket per rx queue on the TSC
//    (the rate is split evenly over the queues; the bucket holds one burst).
//  - stamp: rx writes Mbuf::timestamp (nanoseconds since the epoch, from the TSC:
//    one rdtsc per burst) and sets kMbufTimestampValid.
//  - latency: tx records now - timestamp of every flagged mbuf into a histogram
//    per tx queue (one writer: the thread owning the queue), clears the flag, and
//    xstats reports latency_count, latency_p50_ns, latency_p99_ns,
//    latency_p999_ns, latency_max_ns, latency_mean_ns. Buckets: 64 ns wide up to
//    65.536 µs, then one per power of two. A percentile is the upper edge of the
//    bucket holding that rank, capped at the maximum seen. The runtime option
//    resetLatency (engine.setPortOptions) starts the histograms over.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>

#include "drivers/driver.h"
#include "core/counter.h"
#include "core/cycles.h"
#include "core/net.h"

namespace lr {

namespace {

// TSC -> nanoseconds since the epoch: anchored to CLOCK_REALTIME once per
// process (so rx and tx ports, and every thread, share it), then a multiply and
// a shift per burst. Mbuf::timestamp is documented as CLOCK_REALTIME ns.
struct TscClock {
  uint64_t tsc0 = 0, ns0 = 0, mult = 0;  // ns = ns0 + ((tsc - tsc0) * mult) >> 32
  static const TscClock& get() {
    static std::once_flag once;
    static TscClock c;
    std::call_once(once, [] {
      c.mult = uint64_t((__uint128_t(1000000000ull) << 32) / tsc_hz());
      c.tsc0 = rdtsc();
      c.ns0 = realtime_ns();
    });
    return c;
  }
  uint64_t ns(uint64_t tsc) const { return ns0 + uint64_t((__uint128_t(tsc - tsc0) * mult) >> 32); }
};

// Latency histogram of one tx queue. One writer (the thread that owns the
// queue); readers (xstats) sum the buckets without locks.
struct LatencyHist {
  static constexpr uint32_t kLinear = 1024;    // 64 ns buckets: [0, 65536) ns
  static constexpr uint32_t kLinearShift = 6;  // 64 ns
  static constexpr uint32_t kLog = 48;         // [2^16, 2^17), ..., [2^63, 2^64) ns
  static constexpr uint32_t kBuckets = kLinear + kLog;
  Counter bucket[kBuckets];
  Counter sum, max;
  // resetLatency: the control thread bumps `requested`; the writer zeroes the
  // histogram at its next burst and publishes `applied`. Readers skip a queue
  // whose reset is pending.
  std::atomic<uint32_t> requested{0}, applied{0};

  static uint32_t index(uint64_t ns) {
    if (ns < (uint64_t(kLinear) << kLinearShift)) return uint32_t(ns >> kLinearShift);
    return kLinear + uint32_t(63 - __builtin_clzll(ns)) - 16;
  }
  // Exclusive upper edge of a bucket, in ns.
  static uint64_t upper(uint32_t i) {
    if (i < kLinear) return uint64_t(i + 1) << kLinearShift;
    const uint32_t bit = i - kLinear + 17;
    return bit >= 64 ? UINT64_MAX : (uint64_t(1) << bit);
  }
  void record(uint64_t ns) {
    bucket[index(ns)].add(1);
    sum.add(ns);
    if (ns > max.get()) max.set(ns);
  }
  void apply_reset() {
    const uint32_t want = requested.load(std::memory_order_acquire);
    if (want == applied.load(std::memory_order_relaxed)) return;
    for (auto& b : bucket) b.set(0);
    sum.set(0);
    max.set(0);
    applied.store(want, std::memory_order_release);
  }
};

class NullDriver final : public Driver {
 public:
  NullDriver(const Config& cfg, Mempool& pool, uint16_t port_id) : pool_(pool), port_id_(port_id) {
    cfg.allow_only({"packetSize", "content", "copy", "count", "rxQueues", "rate", "stamp", "latency"});
    size_ = uint16_t(cfg.get_uint("packetSize", 64, 14, pool.data_room()));
    copy_ = cfg.get_bool("copy", true);
    limit_ = cfg.get_uint("count", 0, 0, UINT64_MAX >> 12);
    rate_ = cfg.get_uint("rate", 0, 0, 1000000000000ull);
    stamp_ = cfg.get_bool("stamp", false);
    latency_ = cfg.get_bool("latency", false);
    if (stamp_ || latency_) clock_ = &TscClock::get();
    const MacAddr src = virtual_mac(port_id), dst = virtual_mac(uint16_t(port_id ^ 1));
    content_ = cfg.get_bytes("content", net::udp4_frame(size_, src.data(), dst.data()));
    if (content_.size() > pool.data_room())
      fail("FRAME_TOO_LARGE", "null port content is " + std::to_string(content_.size()) + " bytes, larger than mempool.dataRoom " +
                                  std::to_string(pool.data_room()));
    // Copy whole cache lines: the tail of content_ past size_ is never sent.
    content_.resize((std::max<size_t>(content_.size(), size_) + 63) / 64 * 64, 0);
  }

  DriverInfo info() const override {
    DriverInfo i;
    i.driver = "null";
    i.max_rx_queues = 64;
    i.hw_rss = true;  // queues are independent sources; nothing to spread
    i.details = {{"packetSize", std::to_string(size_)}, {"copy", copy_ ? "true" : "false"}};
    if (rate_) i.details.push_back({"rate", std::to_string(rate_)});
    if (stamp_) i.details.push_back({"stamp", "true"});
    if (latency_) i.details.push_back({"latency", "true"});
    return i;
  }
  void configure(uint16_t rxq, uint16_t txq) override {
    rx_.clear();
    rx_.resize(rxq);
    tx_.clear();
    tx_.resize(txq);
    if (rate_) {
      // Each queue gets an even share of the rate, in packets per TSC cycle.
      const double hz = double(tsc_hz());
      for (uint16_t q = 0; q < rxq; q++) {
        const uint64_t share = rate_ / rxq + (q < rate_ % rxq ? 1 : 0);
        rx_[q].per_cycle = double(share) / hz;
      }
    }
    if (latency_)
      for (auto& q : tx_) q.hist = std::make_unique<LatencyHist>();
  }
  void setup_rx_queue(const QueueSetup& q) override { rx_.at(q.queue_id).cache = q.cache;
    rx_.at(q.queue_id).nombuf = q.nombuf; }
  void setup_tx_queue(const QueueSetup& q) override { tx_.at(q.queue_id).cache = q.cache; }
  MacAddr mac() const override { return virtual_mac(port_id_); }
  bool rx_done() const override {
    if (!limit_) return false;
    uint64_t s = 0;
    for (auto& q : rx_) s += q.produced.get();
    return s >= limit_;
  }
  void xstats(XStats& out) const override {
    uint64_t s = 0;
    for (auto& q : rx_) s += q.produced.get();
    out.push_back({"produced", s});
    if (latency_) latency_xstats(out);
  }
  void set_runtime_options(const Config& cfg) override {
    cfg.allow_only({"resetLatency"});
    if (!cfg.get_bool("resetLatency", false)) return;
    if (!latency_) fail("INVALID_OPTION", cfg.scope + ": resetLatency needs a port opened with latency: true");
    for (auto& q : tx_)
      if (q.hist) q.hist->requested.fetch_add(1, std::memory_order_release);
  }

  uint16_t rx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    Q& q = rx_[queue];
    if (limit_) {
      // A count is shared by all queues of the port; each queue takes an even share.
      uint64_t share = limit_ / rx_.size() + (queue < limit_ % rx_.size() ? 1 : 0);
      const uint64_t done = q.produced.get();
      if (done >= share) return 0;
      n = uint16_t(std::min<uint64_t>(n, share - done));
    }
    uint64_t now = 0;
    if (rate_ | stamp_) now = rdtsc();
    if (rate_) {
      // Token bucket: credit accrues with the TSC; the bucket holds one burst.
      double t = q.tokens + double(now - q.last) * q.per_cycle;
      q.last = now;
      if (t > double(n)) t = double(n);
      const uint16_t k = uint16_t(t);
      q.tokens = t - k;
      if (!k) return 0;
      n = k;
    }
    if (!pool_.alloc_bulk(q.cache, mbufs, n)) {
      if (q.nombuf) q.nombuf->add(n);
      if (rate_) q.tokens += n;  // not sent: the credit stays
      return 0;
    }
    for (uint16_t i = 0; i < n; i++) {
      Mbuf* m = mbufs[i];
      m->data_len = size_;
      m->port = port_id_;
      m->queue = queue;
      if (copy_) std::memcpy(m->data(), content_.data(), (size_ + 63) & ~63u);
    }
    if (stamp_) {
      const uint64_t ns = clock_->ns(now);
      for (uint16_t i = 0; i < n; i++) {
        mbufs[i]->timestamp = ns;
        mbufs[i]->flags |= kMbufTimestampValid;
      }
    }
    q.produced.add(n);
    return n;
  }

  uint16_t tx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    if (latency_) record_latency(*tx_[queue].hist, mbufs, n);
    pool_.free_bulk(tx_[queue].cache, mbufs, n);
    return n;
  }

 private:
  struct Q {
    Mempool::Cache* cache = nullptr;
    Counter* nombuf = nullptr;
    Counter produced;
    // rate: token bucket (rx queues)
    double per_cycle = 0, tokens = 0;
    uint64_t last = 0;
    // latency: histogram (tx queues)
    std::unique_ptr<LatencyHist> hist;
  };

  void record_latency(LatencyHist& h, Mbuf** mbufs, uint16_t n) {
    h.apply_reset();
    const uint64_t now = clock_->ns(rdtsc());
    for (uint16_t i = 0; i < n; i++) {
      Mbuf* m = mbufs[i];
      if (!(m->flags & kMbufTimestampValid)) continue;
      h.record(now > m->timestamp ? now - m->timestamp : 0);
      m->flags &= ~kMbufTimestampValid;  // measured once, whatever reuses this mbuf next
    }
  }

  void latency_xstats(XStats& out) const {
    uint64_t b[LatencyHist::kBuckets] = {};
    uint64_t count = 0, sum = 0, max = 0;
    for (auto& q : tx_) {
      const LatencyHist* h = q.hist.get();
      if (!h || h->requested.load(std::memory_order_acquire) != h->applied.load(std::memory_order_acquire)) continue;
      for (uint32_t i = 0; i < LatencyHist::kBuckets; i++) {
        const uint64_t v = h->bucket[i].get();
        b[i] += v;
        count += v;
      }
      sum += h->sum.get();
      max = std::max(max, h->max.get());
    }
    // Rank r = ceil(p * count): the upper edge of the bucket holding the r-th
    // smallest latency, but never above the largest one seen.
    auto pct = [&](uint64_t num, uint64_t den) -> uint64_t {
      if (!count) return 0;
      const uint64_t rank = std::max<uint64_t>(1, uint64_t((__uint128_t(count) * num + den - 1) / den));
      uint64_t seen = 0;
      for (uint32_t i = 0; i < LatencyHist::kBuckets; i++) {
        seen += b[i];
        if (seen >= rank) return std::min(LatencyHist::upper(i), max);
      }
      return max;
    };
    out.push_back({"latency_count", count});
    out.push_back({"latency_p50_ns", pct(50, 100)});
    out.push_back({"latency_p99_ns", pct(99, 100)});
    out.push_back({"latency_p999_ns", pct(999, 1000)});
    out.push_back({"latency_max_ns", max});
    out.push_back({"latency_mean_ns", count ? sum / count : 0});
  }

  Mempool& pool_;
  uint16_t port_id_;
  uint16_t size_;
  bool copy_;
  uint64_t limit_;
  uint64_t rate_ = 0;
  bool stamp_ = false, latency_ = false;
  const TscClock* clock_ = nullptr;
  Config::Bytes content_;
  std::vector<Q> rx_, tx_;
};

}  // namespace

std::unique_ptr<Driver> make_null_driver(const Config& cfg, Mempool& pool, uint16_t port_id) {
  return std::make_unique<NullDriver>(cfg, pool, port_id);
}

}  // namespace lr
