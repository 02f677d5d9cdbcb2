// The engine: one mempool, the ports, the lcores, and the wiring between them.
// Control-path only: everything here runs on the caller's thread (the JS main
// thread through the binding) while the lcores run the tasks it builds at start().
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/lcore.h"
#include "core/mempool.h"
#include "core/ring.h"
#include "pipeline/host/host.h"
#include "pipeline/port.h"

namespace lr {

struct EngineOptions {
  std::vector<int> cpus;  // one lcore per entry
  MempoolOptions pool;
  LcoreOptions lcore;
  uint16_t burst = 32;
  uint32_t rss_ring_size = 1024;
};

constexpr uint32_t kMaxInlineQueues = 16;

struct HandlerSnapshot {
  bool present = false, inline_mode = false;
  uint64_t to_js_full = 0, doorbells = 0, replied = 0, forwarded = 0, dropped = 0, bad = 0, unmatched = 0, unreturned = 0;
  double js_batches = 0, js_packets = 0, js_errors = 0, js_error_drops = 0;
};

struct QueueSnapshot {
  uint64_t packets = 0, bytes = 0, nombuf = 0, ring_full = 0, full = 0, malformed = 0, group_dst = 0;
};
struct PortSnapshot {
  uint16_t id;
  std::string name, driver;
  bool link_up;
  std::vector<QueueSnapshot> rx, tx;
  XStats xstats;
  uint32_t held_mbufs;
  HandlerSnapshot handler;
};
struct LcoreSnapshot {
  uint32_t index;
  int cpu;
  uint64_t loops, busy_loops, packets, cycles, busy_cycles, sleeps;
  uint64_t waits, wakeups, wait_timeouts;  // adaptive idle blocking on wake-up fds
  bool waits_on_fds;
  uint32_t tasks;
  int tid;  // the lcore thread's kernel id while it runs (Lcore::tid), else 0
};
struct PoolSnapshot {
  uint32_t size, free_ring, free_caches, driver, rings, js, host;
  uint64_t alloc_failures;
  uint64_t free_overflows;
  // host: held by a host's neighbour table while their next hop resolves.
  // size - free - driver - rings - js - host: in an lcore's burst, a tx buffer, or the application.
  int64_t in_flight() const { return int64_t(size) - free_ring - free_caches - driver - rings - js - host; }
};

class Engine {
 public:
  explicit Engine(const EngineOptions& opts);
  ~Engine();

  // Ports are added before start(). Throws on a bad driver or option.
  uint16_t add_port(const std::string& name, const std::string& driver, Config cfg, uint16_t rx_queues, RssOptions rss);
  void forward(uint16_t src, uint16_t dst, ForwardMode mode, const MacAddr& dst_mac);
  void echo(uint16_t port);
  // Hands the packets matching `match` to JavaScript: through a channel per rx
  // queue (pipeline mode) or to a worker that polls the queue itself (inline).
  void handle(uint16_t port, const struct Match& match, bool inline_mode, uint32_t ring_size);
  // The exception path (pipeline/exception.h): what `port` does not keep goes to `tap`, what `tap` receives goes out of `port`.
  void exception_path(uint16_t port, uint16_t tap, const struct Match& keep);
  // The host layer (pipeline/host/): the port owns addresses; UDP sockets on it
  // get handlers like handle()'s. Returns the socket's index.
  void host(uint16_t port, const host::HostConfig& cfg);
  uint16_t host_udp(uint16_t port, uint16_t udp_port, bool inline_mode, uint32_t ring_size);
  host::Host* host_of(uint16_t port);
  // Control path: a datagram from a socket to (dst, dst_port), from any thread.
  // Returns false when it could not be queued (no mbuf, no route, hold full).
  bool host_send(uint16_t port, uint16_t socket, const uint8_t* payload, size_t len, const host::IpAddr& dst, uint16_t dst_port);
  // A handler key names a handler's channels: the port id for handle(), or
  // port | (socket + 1) << 16 for a host socket (what JS passes to attach calls).
  class JsChannel* channel(uint32_t key, uint16_t queue);
  class InlineQueue* inline_queue(uint32_t key, uint16_t queue);
  // Copies frames into new mbufs and transmits them on the port's control tx
  // queue (any thread; serialised). Returns how many were sent.
  uint32_t send(uint16_t port, const std::vector<std::pair<const uint8_t*, size_t>>& frames);
  // Packet capture (pipeline/capture/engine_capture.cc): one capture per port at
  // a time, attached while the engine runs; stop() (or the engine's) detaches it,
  // and the last one stays readable (stats, undrained records) until the next.
  void capture_start(uint16_t port, struct CaptureOptions opts);
  void capture_stop(uint16_t port);
  std::shared_ptr<class Capture> capture_of(uint16_t port);
  void start();
  void stop();
  void close();

  bool running() const { return running_; }
  bool closed() const { return closed_; }
  const EngineOptions& options() const { return opts_; }
  Mempool& pool() { return *pool_; }
  size_t port_count() const { return ports_.size(); }
  Port& port(uint16_t id);
  const std::vector<std::unique_ptr<Lcore>>& lcores() const { return lcores_; }
  uint64_t tsc_hz() const;
  // True when every polled port is a finite source that has run dry, or a port
  // fed only by this engine's other ports (a ring wire) with nothing waiting on it.
  bool sources_done() const;

  std::vector<PortSnapshot> port_stats() const;
  std::vector<LcoreSnapshot> lcore_stats() const;
  PoolSnapshot pool_stats() const;

 private:
  void check_open(const char* what) const;
  void check_stopped(const char* what) const;
  void build_tasks();
  void release_handlers();
  std::unique_ptr<class Stage> make_stage(Port& p, uint16_t queue, Lcore& l);
  std::unique_ptr<class Stage> make_native_stage(Port& p, uint16_t txq, Mempool::Cache* cache);
  std::unique_ptr<class Stage> make_action_stage(Port& p, uint16_t txq, Mempool::Cache* cache);
  std::unique_ptr<class Stage> make_host_stage(Port& p, uint16_t queue, uint16_t txq, Mempool::Cache* cache, class InlineQueue* iq);
  struct PortHandler* handler_for(uint32_t key);
  // Inline handlers: the port's queues must be hardware queues, and the engine has room for their workers.
  void check_inline(Port& p) const;
  // One channel (pipeline) or inline queue per rx queue of the port.
  void add_handler_queues(Port& p, struct PortHandler& h, bool inline_mode, uint32_t ring_size);
  struct PortHandler* inline_handler(Port& p);
  void capture_detach_all();
  void host_announce();
  void host_kernel_start();
  void host_kernel_stop();
  void host_drain();
  std::vector<Port*> port_list() const;
  uint16_t control_txq() const { return uint16_t(lcores_.size() + inline_count_); }

  EngineOptions opts_;
  std::unique_ptr<Mempool> pool_;
  std::vector<std::unique_ptr<Port>> ports_;
  std::vector<std::unique_ptr<Lcore>> lcores_;
  std::vector<std::unique_ptr<OwnedRing>> rss_rings_;
  bool running_ = false, closed_ = false;
  uint32_t inline_count_ = 0;
  std::mutex send_mu_;
};

}  // namespace lr
