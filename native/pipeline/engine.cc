#include "pipeline/engine.h"

#include <algorithm>
#include <set>

#include "core/cycles.h"
#include "core/error.h"
#include "pipeline/echo.h"
#include "pipeline/forward.h"
#include "pipeline/rss.h"
#include "pipeline/tasks.h"

namespace lr {

Engine::Engine(const EngineOptions& o) : opts_(o) {
  if (o.cpus.empty()) fail("INVALID_OPTION", "lcores must name at least one CPU");
  if (o.burst < 1 || o.burst > 64) fail("INVALID_OPTION", "burst must be in [1, 64]");
  const auto allowed = allowed_cpus();
  std::set<int> seen;
  for (int cpu : o.cpus) {
    if (!seen.insert(cpu).second) fail("INVALID_OPTION", "lcores names CPU " + std::to_string(cpu) + " twice");
    if (std::find(allowed.begin(), allowed.end(), cpu) == allowed.end()) {
      std::string list;
      for (int a : allowed) list += (list.empty() ? "" : ",") + std::to_string(a);
      fail("CPU_UNAVAILABLE", "CPU " + std::to_string(cpu) + " does not exist or is not allowed for this process (allowed: " +
                                  list + "); check with: taskset -pc $$ or nproc");
    }
  }
  MempoolOptions po = o.pool;
  po.caches = uint32_t(o.cpus.size());
  pool_ = std::make_unique<Mempool>(po);
  for (size_t i = 0; i < o.cpus.size(); i++) lcores_.push_back(std::make_unique<Lcore>(uint32_t(i), o.cpus[i], o.lcore));
  tsc_hz();  // calibrate now, not on the first stats call
}

Engine::~Engine() {
  try {
    close();
  } catch (...) {
  }
}

void Engine::check_open(const char* what) const {
  if (closed_) fail("ENGINE_CLOSED", std::string("cannot ") + what + ": the engine is closed; create a new one with Engine.create()");
}
void Engine::check_stopped(const char* what) const {
  check_open(what);
  if (running_) fail("ENGINE_RUNNING", std::string("cannot ") + what + " while the engine runs; call engine.stop() first");
}

Port& Engine::port(uint16_t id) {
  if (id >= ports_.size()) fail("INVALID_PORT", "no port with id " + std::to_string(id));
  return *ports_[id];
}

uint64_t Engine::tsc_hz() const { return lr::tsc_hz(); }

uint16_t Engine::add_port(const std::string& name, const std::string& driver, Config cfg, uint16_t rx_queues, RssOptions rss) {
  check_stopped("add a port");
  for (auto& p : ports_)
    if (p->name() == name) fail("INVALID_OPTION", "a port named '" + name + "' exists already");
  if (ports_.size() >= 1024) fail("INVALID_OPTION", "at most 1024 ports per engine");
  if (rx_queues < 1 || rx_queues > 64) fail("INVALID_OPTION", "port '" + name + "': rxQueues must be in [1, 64]");
  const uint16_t id = uint16_t(ports_.size());
  cfg.scope = "port '" + name + "' (" + driver + ")";
  auto d = open_driver(driver, cfg, *pool_, id);
  const DriverInfo info = d->info();
  if (info.hw_rss && rx_queues > info.max_rx_queues)
    fail("INVALID_OPTION", cfg.scope + ": rxQueues " + std::to_string(rx_queues) + " exceeds the driver's " +
                               std::to_string(info.max_rx_queues));
  ports_.push_back(std::make_unique<Port>(id, name, driver, std::move(d), rx_queues, uint32_t(lcores_.size()), std::move(rss)));
  return id;
}

void Engine::forward(uint16_t src, uint16_t dst, ForwardMode mode, const MacAddr& dst_mac) {
  check_stopped("set up forwarding");
  Port& s = port(src);
  port(dst);
  if (s.action != PortAction::None)
    fail("PORT_BUSY", "port '" + s.name() + "' already has a consumer (forward or echo); one per port");
  s.action = PortAction::Forward;
  s.forward_to = dst;
  s.forward_mode = mode;
  s.forward_dst_mac = dst_mac;
}

void Engine::echo(uint16_t id) {
  check_stopped("set up echo");
  Port& p = port(id);
  if (p.action != PortAction::None)
    fail("PORT_BUSY", "port '" + p.name() + "' already has a consumer (forward or echo); one per port");
  p.action = PortAction::Echo;
}

std::unique_ptr<Stage> Engine::make_stage(Port& p, Lcore& l) {
  Mempool::Cache* cache = pool_->cache(l.index());
  const uint16_t txq = uint16_t(l.index());
  if (p.action == PortAction::Echo) return std::make_unique<EchoStage>(TxBuffer(&p, txq, pool_.get(), cache, opts_.burst), pool_.get());
  Port& dst = *ports_[p.forward_to];
  return std::make_unique<ForwardStage>(TxBuffer(&dst, txq, pool_.get(), cache, opts_.burst), pool_.get(), p.forward_mode,
                                        dst.driver().mac(), p.forward_dst_mac);
}

void Engine::build_tasks() {
  // Queues go round-robin over the lcores, in port order: predictable, and with
  // one lcore per queue nothing on the hot path is shared.
  size_t rr = 0;
  auto next_lcore = [&]() -> Lcore& { return *lcores_[rr++ % lcores_.size()]; };
  rss_rings_.clear();
  for (auto& l : lcores_) l->clear_tasks();
  for (auto& pp : ports_) {
    Port& p = *pp;
    const uint16_t txq = uint16_t(lcores_.size());
    p.driver().configure(p.hw_rx_queues(), txq);
    for (uint16_t q = 0; q < txq; q++) p.driver().setup_tx_queue({pool_.get(), pool_->cache(q), p.id(), q, nullptr});
    if (p.action == PortAction::None) {
      // Not polled: its rx queues get no cache (nothing allocates on them).
      for (uint16_t q = 0; q < p.hw_rx_queues(); q++)
        p.driver().setup_rx_queue({pool_.get(), nullptr, p.id(), q, &p.rxq()[q].nombuf});
      continue;
    }
    if (p.software_rss()) {
      Lcore& disp = next_lcore();
      std::vector<Ring*> rings;
      for (uint16_t q = 0; q < p.rx_queues(); q++) {
        rss_rings_.push_back(std::make_unique<OwnedRing>(opts_.rss_ring_size, kRingSingleProducer | kRingSingleConsumer));
        rings.push_back(rss_rings_.back().get());
      }
      p.driver().setup_rx_queue({pool_.get(), pool_->cache(disp.index()), p.id(), 0, &p.rxq()[0].nombuf});
      auto rss = std::make_unique<RssStage>(&p, rings, pool_.get(), pool_->cache(disp.index()));
      disp.add_task(std::make_unique<PortPollTask>(&p, 0, std::move(rss), opts_.burst, nullptr));
      for (uint16_t q = 0; q < p.rx_queues(); q++) {
        Lcore& l = next_lcore();
        l.add_task(std::make_unique<RingPollTask>(rings[q], make_stage(p, l), pool_.get(), opts_.burst));
      }
    } else {
      for (uint16_t q = 0; q < p.rx_queues(); q++) {
        Lcore& l = next_lcore();
        p.driver().setup_rx_queue({pool_.get(), pool_->cache(l.index()), p.id(), q, &p.rxq()[q].nombuf});
        l.add_task(std::make_unique<PortPollTask>(&p, q, make_stage(p, l), opts_.burst, &p.rxq()[q]));
      }
    }
  }
}

void Engine::start() {
  check_stopped("start");
  build_tasks();
  size_t started_ports = 0;
  try {
    for (auto& p : ports_) {
      p->driver().start();
      started_ports++;
    }
    for (auto& l : lcores_)
      if (!l->tasks().empty()) l->start();
  } catch (...) {
    for (auto& l : lcores_) l->stop();
    for (auto& l : lcores_)
      for (auto& t : l->tasks()) t->drain();
    for (size_t i = 0; i < started_ports; i++) ports_[i]->driver().stop();
    pool_->flush_caches();
    throw;
  }
  running_ = true;
}

void Engine::stop() {
  check_open("stop");
  if (!running_) return;
  // Every lcore first, so no task still feeds a ring another one drains.
  for (auto& l : lcores_) l->stop();
  for (auto& l : lcores_)
    for (auto& t : l->tasks()) t->drain();
  for (auto& p : ports_) p->driver().stop();
  for (auto& l : lcores_) l->clear_tasks();
  rss_rings_.clear();
  pool_->flush_caches();
  running_ = false;
}

void Engine::close() {
  if (closed_) fail("ENGINE_CLOSED", "the engine is closed already");
  stop();
  for (auto& p : ports_) {
    p->driver().close();
    p->closed = true;
  }
  closed_ = true;
}

bool Engine::sources_done() const {
  bool any = false;
  for (auto& p : ports_) {
    if (p->action == PortAction::None) continue;
    any = true;
    if (!p->driver().rx_done()) return false;
  }
  return any;
}

std::vector<PortSnapshot> Engine::port_stats() const {
  std::vector<PortSnapshot> v;
  for (auto& p : ports_) {
    PortSnapshot s;
    s.id = p->id();
    s.name = p->name();
    s.driver = p->driver_name();
    s.link_up = !p->closed && p->driver().link().up;
    for (auto& q : p->rxq()) s.rx.push_back({q.packets.get(), q.bytes.get(), q.nombuf.get(), q.ring_full.get(), 0, 0});
    for (auto& q : p->txq()) s.tx.push_back({q.packets.get(), q.bytes.get(), 0, 0, q.full.get(), q.malformed.get()});
    if (!p->closed) p->driver().xstats(s.xstats);
    s.held_mbufs = p->closed ? 0 : p->driver().held_mbufs();
    v.push_back(std::move(s));
  }
  return v;
}

std::vector<LcoreSnapshot> Engine::lcore_stats() const {
  std::vector<LcoreSnapshot> v;
  for (auto& l : lcores_) {
    auto& c = l->counters();
    v.push_back({l->index(), l->cpu(), c.loops.get(), c.busy_loops.get(), c.packets.get(), c.cycles.get(),
                 c.busy_cycles.get(), c.sleeps.get(), uint32_t(l->tasks().size())});
  }
  return v;
}

PoolSnapshot Engine::pool_stats() const {
  PoolSnapshot s{};
  s.size = pool_->size();
  s.free_ring = pool_->free_in_ring();
  s.free_caches = pool_->free_in_caches();
  for (auto& p : ports_)
    if (!p->closed) s.driver += p->driver().held_mbufs();
  for (auto& r : rss_rings_) s.rings += r->count();
  s.alloc_failures = pool_->alloc_failures();
  return s;
}

}  // namespace lr
