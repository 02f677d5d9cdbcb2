// The driver interface. Every driver (null, ring, pcap; later af_packet, af_xdp,
// tap, vfio) implements this and nothing above it knows which driver it runs.
//
// Control path: the virtual methods of Driver (an ops table), called from the
// control thread while the port's queues are not being polled.
// Hot path: per queue, rx_burst and tx_burst. They run on the one lcore that owns
// the queue, never concurrently for the same queue, and never block.
//
// Ownership rules (the mempool's accounting depends on them):
//  - rx_burst hands the caller up to n mbufs; the caller owns them.
//  - tx_burst takes ownership of the first k mbufs it returns it accepted; the
//    caller still owns mbufs[k..n) and must transmit them later or free them.
//  - A driver that holds mbufs between calls (a wire ring, a descriptor ring)
//    reports that count through held_mbufs(),
//    and gives them all back in stop().
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/counter.h"
#include "core/mbuf.h"
#include "core/mempool.h"
#include "drivers/netlink/neigh_watch.h"

namespace lr {

using MacAddr = std::array<uint8_t, 6>;
using XStats = std::vector<std::pair<std::string, uint64_t>>;

struct DriverInfo {
  std::string driver;       // "null", "ring", "pcap", ...
  uint16_t max_rx_queues = 1;
  uint16_t max_tx_queues = 1024;
  bool hw_rss = false;      // spreads rx over queues itself; otherwise the engine does software RSS
  uint32_t mtu = 1500;
  std::vector<std::pair<std::string, std::string>> details;  // driver-specific facts for info()
};

struct LinkStatus {
  bool up = true;
  uint64_t speed_mbps = 0;  // 0 = unknown / virtual
};

// One (destination address, UDP destination port) a port takes for itself when
// it shares its interface with the kernel (Driver::set_udp_steering).
struct UdpSteerRule {
  uint8_t family = 4;      // 4 or 6
  uint8_t addr[16] = {};   // network order; IPv4 in [0..3], the rest zero
  uint16_t port = 0;       // host order
};

// What a queue needs at run time: the pool and the cache of the lcore polling it.
struct QueueSetup {
  Mempool* pool = nullptr;
  Mempool::Cache* cache = nullptr;
  uint16_t port_id = 0;
  uint16_t queue_id = 0;
  // rx only: the driver adds one per packet it could not receive for want of an
  // mbuf (the pool was empty). Owned by the engine; written by the polling lcore.
  Counter* nombuf = nullptr;
  // rx only: the lcore polling this queue may block on rx_wait_fd() when idle
  // (adaptive idle). A driver that needs setup for it (MSI-X vectors) does it in
  // start(); one that is never asked does none.
  bool rx_wakeup = false;
};

class Driver {
 public:
  virtual ~Driver() = default;

  // Control path.
  virtual DriverInfo info() const = 0;
  // Called once before start(): how many queues of each kind the engine will poll.
  virtual void configure(uint16_t rx_queues, uint16_t tx_queues) = 0;
  virtual void setup_rx_queue(const QueueSetup& q) = 0;
  virtual void setup_tx_queue(const QueueSetup& q) = 0;
  virtual void start() {}
  // Stops the device and returns every mbuf the driver holds to the pool.
  virtual void stop() {}
  virtual void close() {}
  virtual LinkStatus link() const { return {}; }
  virtual void xstats(XStats& out) const { (void)out; }
  virtual void set_promiscuous(bool on) { (void)on; }
  // Receive every multicast frame, whatever the NIC's multicast filter holds: the
  // host layer's IPv6 neighbour solicitations come to solicited-node multicast
  // addresses (RFC 4861 §7.2.2, RFC 4291 §2.7.1) that no filter of ours lists.
  // Drivers of NICs that filter in hardware implement it (kept across stop/start);
  // the others receive what their kernel interface does.
  virtual void set_allmulticast(bool on) { (void)on; }
  virtual MacAddr mac() const = 0;
  // True when tx_burst honours kMbufTxL4Csum (core/mbuf.h): the device completes
  // the TCP/UDP checksum, so the host layer stores only the pseudo-header's sum.
  virtual bool tx_l4_csum_offload() const { return false; }
  // Mbufs the driver holds between calls (in a wire ring, on descriptors).
  virtual uint32_t held_mbufs() const { return 0; }
  // True when a finite source (pcap read once, null with a count) has nothing more
  // to give; for a port fed only by the engine's other ports (a ring wire), when
  // nothing waits on its rx (Engine::sources_done() then waits for those ports).
  virtual bool rx_done() const { return false; }
  // Options that may change while the port runs (af_xdp: dropRules), from the
  // control thread. Drivers without any refuse with INVALID_OPTION.
  virtual void set_runtime_options(const Config& cfg) {
    fail("INVALID_OPTION", cfg.scope + ": this driver has no options that can change while it runs");
  }

  // rss.key of a driver that spreads flows itself (info().hw_rss), before start().
  // false: the driver's hash takes no key from linerate (the kernel's fanout
  // hash, a NIC owned by a kernel driver); the engine then refuses the key with
  // RSS_KEY_UNSUPPORTED. A device that has a key but not this one (length, no
  // RSS feature) throws RSS_KEY_UNSUPPORTED itself, naming what it takes.
  virtual bool set_rss_key(const std::vector<uint8_t>& key) {
    (void)key;
    return false;
  }

  // Sharing the interface with the kernel (issue 10, owner 'kernel').
  //
  // Deliver to linerate only the UDP datagrams to these (address, port) pairs
  // (only frames with this 802.1Q VLAN id; 0: untagged frames only) and leave
  // every other frame to the kernel. Set before start() (af_xdp also takes it
  // while running: the program reads it from maps). An empty list restores the
  // default, everything to linerate. Returns false when the driver cannot share
  // its interface this way; throws INVALID_OPTION for rules it cannot take.
  virtual bool set_udp_steering(const std::vector<UdpSteerRule>& rules, uint16_t vlan) {
    (void)rules;
    (void)vlan;
    return false;
  }
  // Mirrors the kernel's neighbour table of this port's interface, in the
  // namespace the driver uses (drivers/netlink/neigh_watch.h: a dump now, then
  // notifications on a thread of its own). nullptr when the driver has no
  // kernel interface. Throws what opening the netlink socket throws.
  virtual std::unique_ptr<KernelNeighbourWatch> watch_kernel_neighbours(KernelNeighbourWatch::Callback cb) {
    (void)cb;
    return nullptr;
  }

  // Hot path.
  virtual uint16_t rx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) = 0;
  virtual uint16_t tx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) = 0;

  // Rx wake-ups for adaptive idle (optional; docs/tuning.md). All three run on
  // the lcore that polls `queue`, like rx_burst.
  //  - rx_wait_fd: an fd that turns readable (POLLIN) when the queue receives
  //    while its wake-up is enabled (an MSI-X eventfd, an AF_XDP socket); -1 when
  //    the queue has none (the lcore then sleeps in short steps instead). Stable
  //    from start() to stop().
  //  - rx_intr_enable: from now on a received packet makes the fd readable
  //    (unmask the queue's interrupt, after clearing what is stale).
  //  - rx_intr_disable: back to polling; no more interrupts from the queue.
  // The caller polls the queue once more after enabling, so a packet that came
  // just before is not left waiting for the next one.
  virtual int rx_wait_fd(uint16_t queue) const {
    (void)queue;
    return -1;
  }
  virtual void rx_intr_enable(uint16_t queue) { (void)queue; }
  virtual void rx_intr_disable(uint16_t queue) { (void)queue; }
};

// A driver factory, from the registry (drivers/registry.cc).
using DriverFactory = std::unique_ptr<Driver> (*)(const Config& cfg, Mempool& pool, uint16_t port_id);

std::unique_ptr<Driver> open_driver(const std::string& name, const Config& cfg, Mempool& pool, uint16_t port_id);
std::vector<std::string> driver_names();

// A locally administered MAC derived from the port id: 02:4c:52:00:00:<id>
// ('L' 'R'), for virtual ports that have no hardware address.
MacAddr virtual_mac(uint16_t port_id);

}  // namespace lr
