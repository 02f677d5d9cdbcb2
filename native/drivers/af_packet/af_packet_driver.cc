// af_packet: a kernel network interface through packet sockets (packet(7)) with
// mmap rings (Documentation/networking/packet_mmap.rst). Works on any interface,
// where XDP cannot attach too; slower than af_xdp because every frame is copied
// once each way (ring <-> mbuf).
//
// Per port:
//  - one rx socket per rx queue, each with a TPACKET_V3 block ring; with several
//    queues they form one PACKET_FANOUT group (PACKET_FANOUT_HASH with
//    PACKET_FANOUT_FLAG_DEFRAG: the kernel spreads flows by their flow hash, and
//    reassembles IP fragments first so a flow's fragments land on one queue).
//    So the driver does RSS itself (info().hw_rss): the engine gives each queue
//    its own poll task. PACKET_IGNORE_OUTGOING keeps our own transmissions out.
//  - one tx socket per tx queue (= per lcore), bound with protocol 0 so it
//    receives nothing, with a TPACKET_V2 tx ring (see TxRing for why V2) and
//    PACKET_QDISC_BYPASS (packet_mmap.rst "PACKET_QDISC_BYPASS": frames go to the
//    driver's xmit directly, without the qdisc layer).
//  - a control socket for ioctls (link state, MTU), in the interface's namespace.
//  - with `consume`, a tcx ingress program that keeps received frames out of
//    the kernel's stack while the port is started (stack_drop.h says why).
//
// netns: sockets are created inside the named namespace (drivers/netns.h) and
// keep working there from the lcores, which stay in the original namespace.
//
// Ownership: rx copies frames into freshly allocated mbufs; tx copies mbufs into
// ring slots and frees them at once. The driver never holds an mbuf between calls.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <mutex>

#include "drivers/allmulti.h"
#include "drivers/af_packet/packet_socket.h"
#include "drivers/af_packet/stack_drop.h"
#include "drivers/driver.h"
#include "drivers/netns.h"

namespace lr {

namespace {

using afp::RxCounters;
using afp::RxRing;
using afp::RxRingConfig;
using afp::SockCtx;
using afp::TxCounters;
using afp::TxRing;

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_FANOUT_FLAG_UNIQUEID
#define PACKET_FANOUT_FLAG_UNIQUEID 0x2000
#endif

struct FdGuard {
  int fd = -1;
  FdGuard() = default;
  explicit FdGuard(int f) : fd(f) {}
  ~FdGuard() { reset(); }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

struct RxQ {
  FdGuard fd;  // declared before the ring: the ring is unmapped first (members die in reverse)
  RxRing ring;
  Mempool::Cache* cache = nullptr;
  Counter* nombuf = nullptr;
  RxCounters cnt;
  // PACKET_STATISTICS resets on read: the control thread accumulates here.
  uint64_t kernel_packets = 0, kernel_drops = 0, freeze = 0, errors = 0;
};

struct TxQ {
  FdGuard fd;
  TxRing ring;
  Mempool::Cache* cache = nullptr;
  TxCounters cnt;
};

bool is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

class AfPacketDriver final : public Driver {
 public:
  AfPacketDriver(const Config& cfg, Mempool& pool, uint16_t port_id) : pool_(pool), port_id_(port_id) {
    cfg.allow_only({"interface", "netns", "promiscuous", "rxQueues", "blockSize", "blockCount", "frameSize", "qdiscBypass",
                    "blockTimeoutMs", "txFrames", "consume"});
    scope_ = cfg.scope.empty() ? "af_packet port" : cfg.scope;
    ctx_.scope = scope_;
    ctx_.ifname = cfg.get_string("interface", "");
    if (ctx_.ifname.empty()) fail("INVALID_OPTION", scope_ + ": option 'interface' (the network interface to open) is required");
    ctx_.netns = cfg.get_string("netns", "");
    promisc_ = cfg.get_bool("promiscuous", true);
    bypass_ = cfg.get_bool("qdiscBypass", true);
    consume_ = cfg.get_bool("consume", false);
    const uint64_t page = uint64_t(::sysconf(_SC_PAGESIZE));
    // Ring shape: what a TPACKET_V3 ring absorbs while the poller is away is
    // counted in blocks, not bytes. Below the rate that fills a block within
    // blockTimeoutMs, the kernel retires each block part-filled when that timer
    // runs out (packet_mmap.rst, "TPACKET_V3"), so a ring lasts about
    // blockCount x blockTimeoutMs. 16 blocks of 256 KiB lasted 16 ms, and a
    // descheduled poller lost up to 0.9% (docs/bench.md, bench/kernel); 64 blocks
    // of 64 KiB use the same 4 MiB and last 64 ms. A frameSize above 64 KiB
    // gets blocks that hold it.
    rc_.frame_size = uint32_t(cfg.get_uint("frameSize", 2048, 128, 1u << 18));
    uint32_t default_block = 1u << 16;
    while (default_block < rc_.frame_size) default_block <<= 1;
    rc_.block_size = uint32_t(cfg.get_uint("blockSize", default_block, page, 1u << 26));
    rc_.block_count = uint32_t(cfg.get_uint("blockCount", 64, 1, 1u << 16));
    rc_.retire_tov_ms = uint32_t(cfg.get_uint("blockTimeoutMs", 1, 1, 1000));
    tx_frames_ = uint32_t(cfg.get_uint("txFrames", 512, 16, 1u << 16));
    if (!is_pow2(rc_.block_size) || rc_.block_size % page)
      fail("INVALID_OPTION", scope_ + ": option 'blockSize' must be a power of two and a multiple of the page size (" +
                                 std::to_string(page) + "), got " + std::to_string(rc_.block_size));
    if (rc_.frame_size % TPACKET_ALIGNMENT)
      fail("INVALID_OPTION", scope_ + ": option 'frameSize' must be a multiple of " + std::to_string(TPACKET_ALIGNMENT) + ", got " +
                                 std::to_string(rc_.frame_size));
    if (rc_.frame_size > rc_.block_size)
      fail("INVALID_OPTION", scope_ + ": option 'frameSize' (" + std::to_string(rc_.frame_size) + ") must not exceed blockSize (" +
                                 std::to_string(rc_.block_size) + ")");
    if (uint64_t(rc_.block_size) * rc_.block_count > (1ull << 30))
      fail("INVALID_OPTION", scope_ + ": blockSize x blockCount must be at most 1 GiB per queue");

    ns_ = Netns(ctx_.netns, scope_);
    NetnsScope in(ns_, scope_);
    ctl_.fd = afp::packet_socket(ctx_);
    nif_ = netif_by_name(ctl_.fd, ctx_.ifname, ctx_.netns, scope_);
    require_up(nif_, ctx_.netns, scope_);
    // The largest frame this port carries: an mbuf's data room, and a ring slot.
    capacity_ = std::min<uint32_t>(pool.data_room(), rc_.frame_size - afp::kRxFrameOverhead);
    const uint32_t need = nif_.mtu + 14;
    if (need > capacity_)
      fail("MTU_TOO_LARGE", scope_ + ": interface '" + ctx_.ifname + "' has MTU " + std::to_string(nif_.mtu) + ", so frames of up to " +
                                std::to_string(need) + " bytes, but this port carries at most " + std::to_string(capacity_) +
                                " (mempool.dataRoom " + std::to_string(pool.data_room()) + ", frameSize " + std::to_string(rc_.frame_size) +
                                " - " + std::to_string(afp::kRxFrameOverhead) + "); lower the MTU with: " + netns_cmd_prefix(ctx_.netns) +
                                "ip link set dev " + ctx_.ifname + " mtu " + std::to_string(capacity_ - 14) +
                                ", or raise mempool.dataRoom and frameSize (and blockSize) above " + std::to_string(need + afp::kRxFrameOverhead));
    // The first rx queue now: permission, ring and bind errors show at addPort.
    rx_.push_back(open_rx());
    if (promisc_) membership(*rx_[0], true);
    if (consume_) {
      // Load and attach once now, so a kernel without tcx or a missing
      // capability fails at addPort; the program stays attached only while the
      // port is started (a stopped port gives the interface back to the kernel).
      stack_.load(scope_, ctx_.ifname, ctx_.netns);
      stack_.attach(nif_.index);
      stack_.detach();
    }
  }

  ~AfPacketDriver() override { close(); }

  DriverInfo info() const override {
    DriverInfo i;
    i.driver = "af_packet";
    i.max_rx_queues = 64;
    i.hw_rss = true;  // PACKET_FANOUT spreads flows over the queues' sockets
    i.mtu = nif_.mtu;
    i.details = {{"interface", ctx_.ifname},
                 {"netns", ctx_.netns},
                 {"ifindex", std::to_string(nif_.index)},
                 {"rxRing", "TPACKET_V3"},
                 {"txRing", "TPACKET_V2"},
                 {"blockSize", std::to_string(rc_.block_size)},
                 {"blockCount", std::to_string(rc_.block_count)},
                 {"frameSize", std::to_string(rc_.frame_size)},
                 {"maxFrame", std::to_string(capacity_)},
                 {"fanout", "hash,defrag"},
                 {"qdiscBypass", bypass_ ? "true" : "false"},
                 {"consume", consume_ ? "tcx" : "false"},
                 // Frames leave as linear skbs (PACKET_VNET_HDR), or with a fragment pointing into the tx ring.
                 {"txSkb", (tx_.empty() ? afp::tpacket_snd_knows_vnet() : tx_[0]->ring.linear()) ? "linear" : "fragments"},
                 {"promiscuous", promisc_ ? "true" : "false"}};
    return i;
  }

  void configure(uint16_t rxq, uint16_t txq) override {
    if (closed_) fail("PORT_CLOSED", scope_ + ": the port is closed");
    if (rx_.size() == rxq && tx_.size() == txq) return;  // a restart: keep the sockets
    NetnsScope in(ns_, scope_);
    while (rx_.size() < rxq) rx_.push_back(open_rx());
    while (tx_.size() < txq) tx_.push_back(open_tx());
    if (rxq > 1 && !fanout_) join_fanout(rxq);
  }
  void setup_rx_queue(const QueueSetup& q) override {
    RxQ& r = *rx_.at(q.queue_id);
    r.cache = q.cache;
    r.nombuf = q.nombuf;
  }
  void setup_tx_queue(const QueueSetup& q) override { tx_.at(q.queue_id)->cache = q.cache; }

  void start() override {
    if (consume_) {
      NetnsScope in(ns_, scope_);
      stack_.attach(nif_.index);
    }
    // What arrived while the port was not polled is stale: hand it back.
    for (auto& r : rx_) discarded_ += r->ring.discard();
  }
  // No mbuf to give back (frames are copied, none stays with the driver); the
  // kernel gets the interface's frames again.
  void stop() override { stack_.detach(); }

  void close() override {
    if (closed_) return;
    closed_ = true;
    stack_.detach();
    allmulti_.release();
    rx_.clear();  // closes the sockets (leaving the fanout group and dropping promiscuous membership) and unmaps
    tx_.clear();
    ctl_.reset();
  }

  LinkStatus link() const override {
    if (closed_) return {false, 0};
    NetIf now;
    if (!netif_by_index(ctl_.fd, nif_.index, now)) return {false, 0};  // removed
    return {now.up && now.running, 0};
  }

  void xstats(XStats& out) const override {
    std::lock_guard<std::mutex> lock(stats_mu_);
    uint64_t oversize = 0, runt = 0, outgoing = 0, vlan = 0, csum = 0, kpk = 0, kdrop = 0, freeze = 0, rxerr = 0;
    for (auto& rp : rx_) {
      RxQ& r = *rp;
      struct tpacket_stats_v3 st {};
      socklen_t len = sizeof st;
      if (::getsockopt(r.fd.fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) {
        r.kernel_packets += st.tp_packets;
        r.kernel_drops += st.tp_drops;
        r.freeze += st.tp_freeze_q_cnt;
      }
      int err = 0;
      len = sizeof err;
      // A pending socket error (ENETDOWN when the interface went away) is an rx error.
      if (::getsockopt(r.fd.fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err) r.errors++;
      oversize += r.cnt.oversize.get();
      runt += r.cnt.runt.get();
      outgoing += r.cnt.outgoing.get();
      vlan += r.cnt.vlan.get();
      csum += r.cnt.csum.get();
      kpk += r.kernel_packets;
      kdrop += r.kernel_drops;
      freeze += r.freeze;
      rxerr += r.errors;
    }
    uint64_t txover = 0, kickerr = 0, wrong = 0, kicks = 0;
    for (auto& t : tx_) {
      txover += t->cnt.bad_length.get();
      kickerr += t->cnt.kick_errors.get();
      wrong += t->cnt.wrong_format.get();
      kicks += t->cnt.kicks.get();
    }
    out.push_back({"rx_kernel_packets", kpk});
    out.push_back({"rx_kernel_drops", kdrop});
    out.push_back({"rx_freeze_queue", freeze});
    out.push_back({"rx_oversize", oversize});
    out.push_back({"rx_runt", runt});
    out.push_back({"rx_outgoing", outgoing});
    out.push_back({"rx_vlan_restored", vlan});
    out.push_back({"rx_csum_completed", csum});
    out.push_back({"rx_discarded_at_start", discarded_});
    out.push_back({"rx_errors", rxerr});
    out.push_back({"tx_bad_length", txover});
    out.push_back({"tx_wrong_format", wrong});
    out.push_back({"tx_errors", kickerr});
    out.push_back({"tx_kicks", kicks});
    // consume: frames the tcx program kept from the kernel's stack (stack_drop.h).
    out.push_back({"rx_consumed", stack_.consumed()});
    for (size_t q = 0; q < rx_.size(); q++) out.push_back({"rx_q" + std::to_string(q) + "_kernel_packets", rx_[q]->kernel_packets});
  }

  void set_promiscuous(bool on) override {
    if (closed_ || rx_.empty() || on == promisc_) return;
    membership(*rx_[0], on);
    promisc_ = on;
  }
  // The kernel's neighbour table of this interface (driver.h), read in the
  // port's namespace: af_packet leaves ARP and ND to the kernel.
  std::unique_ptr<KernelNeighbourWatch> watch_kernel_neighbours(KernelNeighbourWatch::Callback cb) override {
    if (closed_) fail("PORT_CLOSED", scope_ + ": the port is closed");
    return std::make_unique<KernelNeighbourWatch>(ns_, nif_.index, std::move(cb), scope_);
  }

  MacAddr mac() const override { return nif_.mac; }
  // A host's IPv6 solicited-node group (drivers/allmulti.h): the kernel does not join it for us.
  void set_allmulticast(bool on) override { allmulti_.set(on, ctx_.netns, int(nif_.index), scope_); }

  uint16_t rx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    RxQ& r = *rx_[queue];
    return r.ring.burst(pool_, r.cache, port_id_, queue, mbufs, n, r.nombuf, r.cnt);
  }
  // Adaptive idle (driver.h): the TPACKET_V3 rx socket polls readable once a
  // block is handed to user space (full, or after blockTimeoutMs), so an idle
  // lcore wakes at most that long after a packet. Level-triggered: nothing to arm.
  int rx_wait_fd(uint16_t queue) const override { return queue < rx_.size() ? rx_[queue]->fd.fd : -1; }

  uint16_t tx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    TxQ& t = *tx_[queue];
    return t.ring.burst(t.fd.fd, pool_, t.cache, mbufs, n, t.cnt);
  }

 private:
  // Inside the namespace (the caller holds a NetnsScope).
  std::unique_ptr<RxQ> open_rx() {
    auto r = std::make_unique<RxQ>();
    r->fd.fd = afp::packet_socket(ctx_);
    r->ring.setup(r->fd.fd, rc_, ctx_);
    const int one = 1;
    // Kernel 4.20+; older kernels: outgoing frames are recognised by sll_pkttype on rx.
    if (::setsockopt(r->fd.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0 && errno != ENOPROTOOPT)
      afp::set_packet_opt(r->fd.fd, PACKET_IGNORE_OUTGOING, &one, sizeof one, "PACKET_IGNORE_OUTGOING", ctx_);
    afp::bind_packet(r->fd.fd, nif_.index, ETH_P_ALL, ctx_);
    return r;
  }

  std::unique_ptr<TxQ> open_tx() {
    auto t = std::make_unique<TxQ>();
    t->fd.fd = afp::packet_socket(ctx_);
    if (bypass_) {
      const int one = 1;
      afp::set_packet_opt(t->fd.fd, PACKET_QDISC_BYPASS, &one, sizeof one, "PACKET_QDISC_BYPASS", ctx_);
    }
    t->ring.setup(t->fd.fd, rc_.frame_size, tx_frames_, ctx_);
    afp::bind_packet(t->fd.fd, nif_.index, 0, ctx_);  // protocol 0: this socket only sends
    return t;
  }

  // "AF_PACKET fanout mode" in packet_mmap.rst: the first socket asks for an
  // unused group id (PACKET_FANOUT_FLAG_UNIQUEID, so we never join another
  // process's group by accident), the others join that id.
  void join_fanout(uint16_t rxq) {
    const int mode = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_DEFRAG;
    int arg = (mode | PACKET_FANOUT_FLAG_UNIQUEID) << 16;
    afp::set_packet_opt(rx_[0]->fd.fd, PACKET_FANOUT, &arg, sizeof arg, "PACKET_FANOUT", ctx_);
    int got = 0;
    socklen_t len = sizeof got;
    if (::getsockopt(rx_[0]->fd.fd, SOL_PACKET, PACKET_FANOUT, &got, &len) != 0)
      fail_syscall("SOCKET_SETUP", scope_ + ": getsockopt(PACKET_FANOUT)", errno, "CAP_NET_RAW");
    const int id = got & 0xffff;
    for (uint16_t q = 1; q < rxq; q++) {
      int a = id | (mode << 16);
      afp::set_packet_opt(rx_[q]->fd.fd, PACKET_FANOUT, &a, sizeof a, "PACKET_FANOUT (join)", ctx_);
    }
    fanout_ = true;
  }

  // PACKET_ADD_MEMBERSHIP / PACKET_DROP_MEMBERSHIP with PACKET_MR_PROMISC
  // (packet(7)): the kernel counts promiscuous users per device and drops ours
  // when the socket closes, even on SIGKILL.
  void membership(RxQ& r, bool on) {
    struct packet_mreq mr {};
    mr.mr_ifindex = nif_.index;
    mr.mr_type = PACKET_MR_PROMISC;
    afp::set_packet_opt(r.fd.fd, on ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP, &mr, sizeof mr,
                        on ? "PACKET_ADD_MEMBERSHIP PACKET_MR_PROMISC" : "PACKET_DROP_MEMBERSHIP PACKET_MR_PROMISC", ctx_);
  }

  Mempool& pool_;
  uint16_t port_id_;
  std::string scope_;
  SockCtx ctx_;
  Netns ns_;
  AllMulticast allmulti_;
  bool promisc_ = true, bypass_ = true, consume_ = false, fanout_ = false, closed_ = false;
  afp::StackDrop stack_;
  RxRingConfig rc_;
  uint32_t tx_frames_ = 512;
  uint32_t capacity_ = 0;
  NetIf nif_;
  FdGuard ctl_;
  std::vector<std::unique_ptr<RxQ>> rx_;
  std::vector<std::unique_ptr<TxQ>> tx_;
  uint64_t discarded_ = 0;
  mutable std::mutex stats_mu_;
};

}  // namespace

std::unique_ptr<Driver> make_af_packet_driver(const Config& cfg, Mempool& pool, uint16_t port_id) {
  return std::make_unique<AfPacketDriver>(cfg, pool, port_id);
}

}  // namespace lr
