// The engine's stats snapshots: plain copies of the counters that the
// lcores write, taken on the control thread. Kept apart from engine.cc, which
// builds and runs the engine, the way engine_host.cc and engine_capture.cc are.
#include "pipeline/engine.h"
#include "pipeline/handler.h"
#include "pipeline/host/host.h"
#include "pipeline/js_channel.h"

namespace lr {

std::vector<PortSnapshot> Engine::port_stats() const {
  std::vector<PortSnapshot> v;
  for (auto& p : ports_) {
    PortSnapshot s;
    s.id = p->id();
    s.name = p->name();
    s.driver = p->driver_name();
    s.link_up = !p->closed && p->driver().link().up;
    for (auto& q : p->rxq()) s.rx.push_back({q.packets.get(), q.bytes.get(), q.nombuf.get(), q.ring_full.get(), 0, 0});
    for (auto& q : p->txq())
      s.tx.push_back({q.packets.get(), q.bytes.get(), 0, 0, q.full.get(), q.malformed.get(), q.group_dst.get()});
    if (!p->closed) p->driver().xstats(s.xstats);
    s.held_mbufs = p->closed ? 0 : p->driver().held_mbufs();
    for (auto& q : p->rxq()) s.handler.unmatched += q.unmatched.get();
    if (p->handler) {
      HandlerSnapshot& h = s.handler;
      h.present = true;
      h.inline_mode = p->handler->inline_mode;
      auto add = [&](const VerdictCounters& c) {
        h.replied += c.replied.get();
        h.forwarded += c.forwarded.get();
        h.dropped += c.dropped.get();
        h.bad += c.bad.get();
      };
      for (auto& c : p->handler->channels) {
        h.to_js_full += c->full.get();
        h.doorbells += c->doorbells.get();
        h.unreturned += c->unreturned.get();
        add(c->verdicts);
        h.js_batches += c->js_counter(0);
        h.js_packets += c->js_counter(1);
        h.js_errors += c->js_counter(2);
        h.js_error_drops += c->js_counter(3);
      }
      for (auto& q : p->handler->inline_queues) add(q->verdicts);
    }
    v.push_back(std::move(s));
  }
  return v;
}

std::vector<LcoreSnapshot> Engine::lcore_stats() const {
  std::vector<LcoreSnapshot> v;
  for (auto& l : lcores_) {
    auto& c = l->counters();
    LcoreSnapshot s{};
    s.index = l->index();
    s.cpu = l->cpu();
    s.loops = c.loops.get();
    s.busy_loops = c.busy_loops.get();
    s.packets = c.packets.get();
    s.cycles = c.cycles.get();
    s.busy_cycles = c.busy_cycles.get();
    s.sleeps = c.sleeps.get();
    s.waits = c.waits.get();
    s.wakeups = c.wakeups.get();
    s.wait_timeouts = c.wait_timeouts.get();
    s.waits_on_fds = l->waits_on_fds();
    s.tasks = uint32_t(l->tasks().size());
    s.tid = l->tid();
    v.push_back(s);
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
  for (auto& p : ports_) {
    if (p->handler) s.js += handler_held(*p->handler);
    if (p->host) {
      for (auto& sock : p->host->sockets()) s.js += handler_held(*sock.handler);
      s.host += p->host->neighbours().held();
    }
  }
  s.alloc_failures = pool_->alloc_failures();
  s.free_overflows = pool_->free_overflows();
  return s;
}

}  // namespace lr
