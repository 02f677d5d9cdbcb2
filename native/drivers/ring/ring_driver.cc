// ring: two ports in one process joined by a pair of rings, a virtual wire.
// Transmit on one end enqueues mbuf indices; receive on the other dequeues the
// same mbufs: no copy. Ports join a wire by name ({ driver: 'ring', wire: 'w0' });
// the first two ports to name a wire are its ends.
//
// Each direction is one ring: multi-producer (every lcore has its own tx queue
// on the port and may transmit concurrently) and single-consumer (the port has
// one rx queue; the engine spreads it over lcores with software RSS if asked).
#include <map>
#include <mutex>

#include "core/counter.h"
#include "drivers/driver.h"

namespace lr {

namespace {

struct Wire {
  explicit Wire(uint32_t size) : dir{OwnedRing(size, kRingSingleConsumer), OwnedRing(size, kRingSingleConsumer)} {}
  OwnedRing dir[2];  // dir[i]: what end i receives
  bool attached[2] = {false, false};
};

// Wires are per mempool: an mbuf must never reach a port whose engine frees it
// into another pool.
std::mutex g_wires_mu;
std::map<std::pair<const Mempool*, std::string>, std::shared_ptr<Wire>> g_wires;

class RingDriver final : public Driver {
 public:
  RingDriver(const Config& cfg, Mempool& pool, uint16_t port_id) : pool_(pool), port_id_(port_id) {
    cfg.allow_only({"wire", "size", "rxQueues"});
    name_ = cfg.get_string("wire", "");
    if (name_.empty()) fail("INVALID_OPTION", cfg.scope + ": option 'wire' (the name both ends share) is required");
    const uint32_t size = uint32_t(cfg.get_uint("size", 1024, 2, 1u << 20));
    if (!Ring::valid_size(size)) fail("INVALID_OPTION", cfg.scope + ": option 'size' must be a power of two");
    std::lock_guard<std::mutex> lock(g_wires_mu);
    auto& w = g_wires[{&pool, name_}];
    if (!w) w = std::make_shared<Wire>(size);
    if (w->attached[0] && w->attached[1])
      fail("WIRE_FULL", "ring wire '" + name_ + "' already joins two ports; give this port another wire name");
    size_ = w->dir[0].capacity();  // the wire's size: the first port to name it sets it
    end_ = w->attached[0] ? 1 : 0;
    w->attached[end_] = true;
    wire_ = w;
  }
  ~RingDriver() override { detach(); }

  DriverInfo info() const override {
    DriverInfo i;
    i.driver = "ring";
    i.max_rx_queues = 1;
    i.hw_rss = false;
    i.mtu = pool_.data_room() - 14;
    i.details = {{"wire", name_}, {"end", std::to_string(end_)}, {"size", std::to_string(size_)}};
    return i;
  }
  void configure(uint16_t rxq, uint16_t txq) override {
    if (rxq > 1) fail("INVALID_OPTION", "ring ports have one hardware rx queue; the engine spreads it with software RSS");
    tx_caches_.assign(txq, nullptr);
  }
  void setup_rx_queue(const QueueSetup& q) override { rx_cache_ = q.cache; }
  void setup_tx_queue(const QueueSetup& q) override { tx_caches_.at(q.queue_id) = q.cache; }
  MacAddr mac() const override { return virtual_mac(port_id_); }
  LinkStatus link() const override {
    std::lock_guard<std::mutex> lock(g_wires_mu);
    return {wire_ && wire_->attached[end_ ^ 1], 0};
  }
  uint32_t held_mbufs() const override { return wire_ ? inbound().count() : 0; }
  // A wire carries only what this engine's own ports transmit into it (wires are
  // per mempool, so per engine). Its rx has run dry when nothing waits on it: if
  // what feeds it is a finite source, that source is polled by the same engine and
  // Engine::sources_done() waits for it too; if it is endless, that source is never done.
  bool rx_done() const override { return !wire_ || inbound().count() == 0; }

  void stop() override {
    if (!wire_) return;  // closed: detach() gave everything back already
    // Give back what is still on the wire towards us.
    uint32_t idx[256];
    while (uint32_t n = inbound().dequeue_burst(idx, 256)) {
      Mbuf* m[256];
      for (uint32_t i = 0; i < n; i++) m[i] = pool_.mbuf(idx[i]);
      pool_.free_bulk(nullptr, m, n);
    }
  }
  void close() override { detach(); }

  uint16_t rx_burst(uint16_t, Mbuf** mbufs, uint16_t n) override {
    uint32_t idx[512];
    if (n > 512) n = 512;
    const uint32_t got = inbound().dequeue_burst(idx, n);
    for (uint32_t i = 0; i < got; i++) {
      Mbuf* m = pool_.mbuf(idx[i]);
      m->port = port_id_;
      m->queue = 0;
      mbufs[i] = m;
    }
    return uint16_t(got);
  }

  uint16_t tx_burst(uint16_t, Mbuf** mbufs, uint16_t n) override {
    uint32_t idx[512];
    if (n > 512) n = 512;
    for (uint16_t i = 0; i < n; i++) idx[i] = pool_.index_of(mbufs[i]);
    // Burst, not bulk: what does not fit stays with the caller (a full wire is a counted drop there).
    return uint16_t(outbound().enqueue_burst(idx, n));
  }

 private:
  Ring& inbound() const { return wire_->dir[end_]; }
  Ring& outbound() const { return wire_->dir[end_ ^ 1]; }
  void detach() {
    if (!wire_) return;
    stop();
    std::lock_guard<std::mutex> lock(g_wires_mu);
    wire_->attached[end_] = false;
    if (!wire_->attached[end_ ^ 1]) {
      // Last end gone: anything still queued towards the other end goes back too.
      Ring& other = wire_->dir[end_ ^ 1];
      uint32_t idx[256];
      while (uint32_t n = other.dequeue_burst(idx, 256)) {
        Mbuf* m[256];
        for (uint32_t i = 0; i < n; i++) m[i] = pool_.mbuf(idx[i]);
        pool_.free_bulk(nullptr, m, n);
      }
      g_wires.erase({&pool_, name_});
    }
    wire_.reset();
  }

  Mempool& pool_;
  uint16_t port_id_;
  std::string name_;
  int end_ = 0;
  uint32_t size_ = 0;
  std::shared_ptr<Wire> wire_;
  Mempool::Cache* rx_cache_ = nullptr;
  std::vector<Mempool::Cache*> tx_caches_;
};

}  // namespace

std::unique_ptr<Driver> make_ring_driver(const Config& cfg, Mempool& pool, uint16_t port_id) {
  return std::make_unique<RingDriver>(cfg, pool, port_id);
}

}  // namespace lr
