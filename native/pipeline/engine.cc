#include "pipeline/engine.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "core/cycles.h"
#include "core/error.h"
#include "pipeline/echo.h"
#include "pipeline/forward.h"
#include "pipeline/handler.h"
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
  // One cache per lcore, then one per possible inline worker.
  po.caches = uint32_t(o.cpus.size()) + kMaxInlineQueues;
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

namespace {
std::string detail(const DriverInfo& info, const std::string& key) {
  for (const auto& [k, v] : info.details)
    if (k == key) return v;
  return "";
}

// rxQueues above what a port's device offers. The limit is the device's (a
// veth's or a NIC's channel count, a virtio device's queue pairs), not the
// driver's: name the device and how to see and change its count.
std::string too_many_queues(const std::string& scope, const DriverInfo& info, uint16_t asked) {
  const std::string have = std::to_string(info.max_rx_queues);
  std::string msg = scope + ": rxQueues " + std::to_string(asked) + " is more than the ";
  const std::string ifname = detail(info, "interface"), pci = detail(info, "pci");
  if (!ifname.empty()) {
    const std::string netns = detail(info, "netns");
    const std::string in = netns.empty() ? "" : " (network namespace '" + netns + "')";
    const std::string run = netns.empty() ? "" : "ip netns exec " + netns + " ";
    return msg + have + " rx queue(s) of device '" + ifname + "'" + in + ". See its queue count with: " + run + "ethtool -l " +
           ifname + "; raise it with: " + run + "ethtool -L " + ifname + " combined " + std::to_string(asked) +
           " (a veth takes its count when created: ip link add ... numrxqueues " + std::to_string(asked) + " numtxqueues " +
           std::to_string(asked) + "); or lower rxQueues to " + have;
  }
  if (!pci.empty())
    return msg + have + " rx queue(s) that device " + pci + " offers (" + detail(info, "model") +
           "); lower rxQueues to " + have + ", or give the device more queues (for a virtual NIC, in its host's configuration)";
  return msg + have + " rx queue(s) this " + info.driver + " port has; lower rxQueues to " + have;
}
}  // namespace

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
  if (info.hw_rss && rx_queues > info.max_rx_queues) fail("INVALID_OPTION", too_many_queues(cfg.scope, info, rx_queues));
  // A driver that spreads flows itself must take the key, or say it cannot: a
  // key that silently does nothing would spread flows unlike the user expects.
  // (Software RSS uses it in the engine: pipeline/rss.cc.)
  if (info.hw_rss && !rss.key.empty() && !d->set_rss_key(rss.key))
    fail("RSS_KEY_UNSUPPORTED",
         cfg.scope + ": rss.key cannot be given to the " + driver + " driver: its queues are not spread by a hash " +
             "linerate programs (af_packet: the kernel's fanout hash; af_xdp: the NIC's kernel driver; null: " +
             "independent sources). Leave rss.key out" +
             (driver == "af_xdp" ? "; set the NIC's own key with: ethtool -X <interface> hkey <aa:bb:...>" : ""));
  // Symmetric hashing is a property of the hash the queues are spread by. The
  // engine's software RSS has it (pipeline/toeplitz.cc); af_packet's fanout hash
  // has it already (the kernel's flow hash orders the two endpoints before
  // hashing: __flow_hash_consistentify); on any other hardware-RSS port it would
  // silently do nothing, so it is refused with the way to get it.
  if (info.hw_rss && rss.symmetric && driver != "af_packet")
    fail("INVALID_OPTION",
         cfg.scope + ": rss.symmetric applies to software RSS, and the " + driver + " driver spreads its queues itself. " +
             (driver == "vfio"
                  ? "For a symmetric hash on the NIC, give rss.key as the 40-byte key 0x6d,0x5a repeated (a Toeplitz key "
                    "whose halves repeat every 16 bits hashes both directions of an IPv4/TCP/UDP flow alike) and leave "
                    "rss.symmetric out"
                  : "Leave rss.symmetric out"));
  ports_.push_back(std::make_unique<Port>(id, name, driver, std::move(d), rx_queues, uint32_t(lcores_.size()), std::move(rss)));
  return id;
}

void Engine::forward(uint16_t src, uint16_t dst, ForwardMode mode, const MacAddr& dst_mac) {
  check_stopped("set up forwarding");
  Port& s = port(src);
  port(dst);
  if (s.action != PortAction::None || s.host)
    fail("PORT_BUSY", "port '" + s.name() + "' already has a consumer (forward, echo or a host); one per port");
  s.action = PortAction::Forward;
  s.forward_to = dst;
  s.forward_mode = mode;
  s.forward_dst_mac = dst_mac;
}

void Engine::echo(uint16_t id) {
  check_stopped("set up echo");
  Port& p = port(id);
  if (p.action != PortAction::None || p.host)
    fail("PORT_BUSY", "port '" + p.name() + "' already has a consumer (forward, echo or a host); one per port");
  p.action = PortAction::Echo;
}

// The port's own action (echo, forward); make_native_stage (pipeline/exception.cc) wraps it with the exception path.
std::unique_ptr<Stage> Engine::make_action_stage(Port& p, uint16_t txq, Mempool::Cache* cache) {
  if (p.action == PortAction::Echo) return std::make_unique<EchoStage>(TxBuffer(&p, txq, pool_.get(), cache, opts_.burst), pool_.get());
  if (p.action == PortAction::Forward) {
    Port& dst = *ports_[p.forward_to];
    return std::make_unique<ForwardStage>(TxBuffer(&dst, txq, pool_.get(), cache, opts_.burst), pool_.get(), p.forward_mode,
                                          dst.driver().mac(), p.forward_dst_mac);
  }
  return nullptr;
}

std::unique_ptr<Stage> Engine::make_stage(Port& p, uint16_t queue, Lcore& l) {
  Mempool::Cache* cache = pool_->cache(l.index());
  const uint16_t txq = uint16_t(l.index());
  if (p.host) {
    // Each pipeline socket's channel for this queue returns its verdicts on this lcore.
    for (auto& sock : p.host->sockets())
      if (!sock.inline_mode)
        l.add_task(std::make_unique<ChannelReturnTask>(sock.handler->channels[queue].get(), port_list(), txq, pool_.get(), cache,
                                                       opts_.burst));
    return make_host_stage(p, queue, txq, cache, nullptr);
  }
  auto native = make_native_stage(p, txq, cache);
  if (!p.handler) return native;
  // Pipeline handler: matched packets to JS, the rest to the native path; the
  // verdicts come back on this same lcore.
  JsChannel* ch = p.handler->channels[queue].get();
  l.add_task(std::make_unique<ChannelReturnTask>(ch, port_list(), txq, pool_.get(), cache, opts_.burst));
  return std::make_unique<HandlerStage>(p.handler->match, ch, std::move(native), pool_.get(), cache, &p.rxq()[queue].unmatched);
}

std::vector<Port*> Engine::port_list() const {
  std::vector<Port*> v;
  for (auto& p : ports_) v.push_back(p.get());
  return v;
}

void Engine::handle(uint16_t id, const Match& match, bool inline_mode, uint32_t ring_size) {
  check_stopped("add a handler");
  Port& p = port(id);
  if (p.handler) fail("PORT_BUSY", "port '" + p.name() + "' has a handler already; one handler per port");
  if (p.host)
    fail("PORT_BUSY", "port '" + p.name() + "' is a host: its handlers are UDP sockets (host.udp(), host.udpInWorkers())");
  if (inline_mode) check_inline(p);
  auto h = std::make_shared<PortHandler>();
  h->match = match;
  add_handler_queues(p, *h, inline_mode, ring_size);
  p.handler = std::move(h);
}

void Engine::check_inline(Port& p) const {
  if (p.software_rss())
    fail("INVALID_OPTION", "port '" + p.name() + "': inline handlers poll hardware queues; the " + p.driver_name() +
                               " driver has one rx queue (use pipeline mode for software RSS, or rxQueues: 1)");
  if (inline_count_ + p.rx_queues() > kMaxInlineQueues)
    fail("INVALID_OPTION", "at most " + std::to_string(kMaxInlineQueues) + " inline handler queues per engine");
}

void Engine::add_handler_queues(Port& p, PortHandler& h, bool inline_mode, uint32_t ring_size) {
  h.inline_mode = inline_mode;
  for (uint16_t q = 0; q < p.rx_queues(); q++) {
    if (inline_mode)
      h.inline_queues.push_back(std::make_unique<InlineQueue>(&p, q, uint16_t(lcores_.size() + inline_count_++), h.match, pool_.get()));
    else
      h.channels.push_back(std::make_unique<JsChannel>(p.id(), q, ring_size, opts_.burst, pool_->size()));
  }
}

PortHandler* Engine::handler_for(uint32_t key) {
  Port& p = port(uint16_t(key & 0xffff));
  const uint32_t sock = key >> 16;
  if (!sock) return p.handler.get();
  if (!p.host || sock > p.host->sockets().size()) fail("INVALID_PORT", "port '" + p.name() + "' has no host socket " + std::to_string(sock - 1));
  return p.host->sockets()[sock - 1].handler.get();
}

JsChannel* Engine::channel(uint32_t key, uint16_t queue) {
  PortHandler* h = handler_for(key);
  if (!h || h->inline_mode || queue >= h->channels.size())
    fail("INVALID_PORT", "port '" + port(uint16_t(key & 0xffff)).name() + "' has no pipeline handler on queue " + std::to_string(queue));
  return h->channels[queue].get();
}

InlineQueue* Engine::inline_queue(uint32_t key, uint16_t queue) {
  PortHandler* h = handler_for(key);
  if (!h || !h->inline_mode || queue >= h->inline_queues.size())
    fail("INVALID_PORT", "port '" + port(uint16_t(key & 0xffff)).name() + "' has no inline handler on queue " + std::to_string(queue));
  return h->inline_queues[queue].get();
}

PortHandler* Engine::inline_handler(Port& p) {
  if (p.handler && p.handler->inline_mode) return p.handler.get();
  if (p.host)
    for (auto& s : p.host->sockets())
      if (s.inline_mode) return s.handler.get();
  return nullptr;
}

uint32_t Engine::send(uint16_t id, const std::vector<std::pair<const uint8_t*, size_t>>& frames) {
  check_open("send");
  Port& p = port(id);
  if (!running_) fail("ENGINE_STOPPED", "port '" + p.name() + "': send() needs a running engine; call engine.start() first");
  for (auto& f : frames)
    if (f.second > pool_->data_room() || f.second == 0)
      fail("FRAME_TOO_LARGE", "a frame of " + std::to_string(f.second) + " bytes does not fit an mbuf (1.." +
                                  std::to_string(pool_->data_room()) + " bytes; raise mempool.dataRoom)");
  std::lock_guard<std::mutex> lock(send_mu_);
  uint32_t sent = 0;
  for (size_t at = 0; at < frames.size();) {
    const uint16_t n = uint16_t(std::min<size_t>(64, frames.size() - at));
    Mbuf* m[64];
    if (!pool_->alloc_bulk(nullptr, m, n)) break;
    for (uint16_t i = 0; i < n; i++) {
      std::memcpy(m[i]->data(), frames[at + i].first, frames[at + i].second);
      m[i]->data_len = uint16_t(frames[at + i].second);
      m[i]->port = p.id();
    }
    TxQueueStats& st = p.txq()[control_txq()];
    if (p.capture.load(std::memory_order_relaxed)) capture_tap(p, m, n, CaptureDir::Tx, control_txq());
    const uint16_t ok = p.driver().tx_burst(control_txq(), m, n);
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < ok; i++) bytes += m[i]->data_len;
    st.packets.add(ok);
    st.bytes.add(bytes);
    if (ok < n) {
      pool_->free_bulk(nullptr, m + ok, n - ok);
      st.full.add(n - ok);
    }
    sent += ok;
    at += n;
    if (ok < n) break;
  }
  return sent;
}

void Engine::build_tasks() {
  // Queues go round-robin over the lcores, in port order: predictable, and with
  // one lcore per queue nothing on the hot path is shared.
  size_t rr = 0;
  auto next_lcore = [&]() -> Lcore& { return *lcores_[rr++ % lcores_.size()]; };
  rss_rings_.clear();
  for (auto& l : lcores_) l->clear_tasks();
  // Tx queues: one per lcore, one per inline worker, and the control queue
  // (send()). Sized for every port first: stages keep pointers into them.
  for (auto& pp : ports_) {
    if (pp->txq().size() < size_t(control_txq() + 1)) pp->txq().resize(control_txq() + 1);
    // Host counters: one block per thread slot (lcores, inline workers, control).
    if (pp->host) {
      pp->host->set_slots(control_txq() + 1u);
      pp->host->set_mac(pp->driver().mac());
    }
  }
  // Queues an lcore polls may wake it when idle (adaptive idle, core/lcore.h).
  const bool wakeup = opts_.lcore.idle == IdleMode::Adaptive;
  for (auto& pp : ports_) {
    Port& p = *pp;
    const uint16_t txq = uint16_t(control_txq() + 1);
    p.driver().configure(p.hw_rx_queues(), txq);
    for (uint16_t q = 0; q < txq; q++)
      p.driver().setup_tx_queue({pool_.get(), q == control_txq() ? nullptr : pool_->cache(q), p.id(), q, nullptr});
    if (PortHandler* ih = inline_handler(p)) {
      // The inline workers poll these queues themselves: no task.
      for (uint16_t q = 0; q < p.rx_queues(); q++) {
        InlineQueue& iq = *ih->inline_queues[q];
        Mempool::Cache* cache = pool_->cache(iq.slot());
        p.driver().setup_rx_queue({pool_.get(), cache, p.id(), q, &p.rxq()[q].nombuf});
        if (p.host) {
          iq.set_host_mode();
          iq.bind(port_list(), cache, opts_.burst, make_host_stage(p, q, iq.slot(), cache, &iq), &p.rxq()[q].unmatched);
        } else {
          iq.bind(port_list(), cache, opts_.burst, make_native_stage(p, iq.slot(), cache), &p.rxq()[q].unmatched);
        }
      }
      continue;
    }
    if (p.action == PortAction::None && !p.handler && !p.exception && !p.host) {
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
      p.driver().setup_rx_queue({pool_.get(), pool_->cache(disp.index()), p.id(), 0, &p.rxq()[0].nombuf, wakeup});
      auto rss = std::make_unique<RssStage>(&p, rings, pool_.get(), pool_->cache(disp.index()));
      disp.add_task(std::make_unique<PortPollTask>(&p, 0, std::move(rss), opts_.burst, nullptr));
      for (uint16_t q = 0; q < p.rx_queues(); q++) {
        Lcore& l = next_lcore();
        l.add_task(std::make_unique<RingPollTask>(rings[q], make_stage(p, q, l), pool_.get(), opts_.burst));
      }
    } else {
      for (uint16_t q = 0; q < p.rx_queues(); q++) {
        Lcore& l = next_lcore();
        p.driver().setup_rx_queue({pool_.get(), pool_->cache(l.index()), p.id(), q, &p.rxq()[q].nombuf, wakeup});
        auto stage = make_stage(p, q, l);
        l.add_task(std::make_unique<PortPollTask>(&p, q, std::move(stage), opts_.burst, &p.rxq()[q]));
      }
    }
  }
}

void Engine::start() {
  check_stopped("start");
  build_tasks();
  size_t started_ports = 0;
  try {
    host_kernel_start();
    for (auto& p : ports_) {
      p->driver().start();
      started_ports++;
    }
    for (auto& l : lcores_)
      if (!l->tasks().empty()) l->start();
    running_ = true;
    host_announce();
  } catch (...) {
    running_ = false;
    for (auto& l : lcores_) l->stop();
    for (auto& l : lcores_)
      for (auto& t : l->tasks()) t->drain();
    release_handlers();
    host_kernel_stop();
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
  release_handlers();
  host_kernel_stop();
  host_drain();
  for (auto& p : ports_) p->driver().stop();
  capture_detach_all();
  for (auto& l : lcores_) l->clear_tasks();
  rss_rings_.clear();
  pool_->flush_caches();
  running_ = false;
}

void Engine::release_handlers() {
  // JS consumers and inline workers are stopped (or dead) by now: whatever they
  // held comes back (JsChannel::recover, InlineQueue::recover).
  auto release = [&](PortHandler& h) {
    for (auto& c : h.channels) c->drain(*pool_);
    for (auto& q : h.inline_queues) q->unbind();
  };
  for (auto& p : ports_) {
    if (p->handler) release(*p->handler);
    if (p->host)
      for (auto& s : p->host->sockets()) release(*s.handler);
  }
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
    if (p->action == PortAction::None && !p->handler && !p->host) continue;
    any = true;
    if (!p->driver().rx_done()) return false;
  }
  return any;
}

}  // namespace lr
