// af_xdp: XDP sockets (Documentation/networking/af_xdp.rst). One socket per
// NIC rx queue, each polled by one lcore; the UMEM is the mempool's region
// itself, so a received frame is an mbuf with no copy on our side (and none
// on the kernel's in zero-copy mode). A generated XDP program (xdp_program.h)
// redirects every queue to its socket and drops what the early-drop rules
// match before it costs a descriptor.
//
// UMEM layout (include/uapi/linux/if_xdp.h, struct xdp_umem_reg):
//   chunk    = one mempool slot (64 B header + headroom + data room; 2240 B by
//              default, not a power of two, hence XDP_UMEM_UNALIGNED_CHUNK_FLAG:
//              any address is a valid chunk start, af_xdp.rst "XDP_UMEM_REG").
//   fill     = the slot's start. The kernel writes a received frame at
//              fill + umem headroom + XDP_PACKET_HEADROOM (256) and never writes
//              the bytes in front of it (net/xdp/xsk.c __xsk_rcv: only the data
//              is copied; zero-copy drivers DMA to the data address), so the
//              mbuf header at the slot's start stays ours. umem headroom =
//              max(0, 64 + headroom - 256): a received frame starts at
//              data_off = max(256, 64 + headroom) in its slot.
//   rx desc  = base (low 48 bits) + offset (high 16 bits) in unaligned mode
//              (XSK_UNALIGNED_BUF_OFFSET_SHIFT); base is the fill address.
//   tx desc  = offset of the mbuf's data in the region; completion entries
//              return that address.
//
// One UMEM per port: the first socket registers it, the others share it with
// XDP_SHARED_UMEM and bring their own fill and completion rings (one pair per
// (ifindex, queue), kernel >= 5.10). That pins the region once per port instead
// of once per queue. If sharing is refused, a socket registers its own UMEM.
//
// Files: this one opens the sockets and runs the port's life cycle; queue.h is
// the data path of one socket and its mbuf accounting; attach.h attaches the
// program; xdp_program.h generates it; xsk.h maps one socket's rings.
//
// stop() detaches the program, drains the rx and completion rings, closes the
// sockets (the kernel lets go of everything it held for them) and frees every
// mbuf the kernel still held (XskQueue::reclaim).
//
// Threads: tx queue t uses socket t % sockets; tx queues beyond the socket
// count share a socket under its spinlock (only those do).
#include <net/if.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "drivers/allmulti.h"
#include "drivers/af_xdp/attach.h"
#include "drivers/af_xdp/drop_rules.h"
#include "drivers/af_xdp/host.h"
#include "drivers/af_xdp/queue.h"
#include "drivers/af_xdp/udp_steer.h"
#include "drivers/af_xdp/xdp_program.h"
#include "drivers/af_xdp/xsk.h"
#include "drivers/driver.h"
#include "drivers/netns.h"

namespace lr {

namespace {

using namespace xdp;

class AfXdpDriver final : public Driver {
 public:
  AfXdpDriver(const Config& cfg, Mempool& pool, uint16_t port_id) : pool_(pool), port_id_(port_id), scope_(cfg.scope), umem_{pool, 0, 0} {
    cfg.allow_only({"interface", "netns", "mode", "ringSize", "dropRules", "rxQueues", "udpSteer", "udpSteerVlan"});
    ifname_ = cfg.get_string("interface", "");
    if (ifname_.empty()) fail("INVALID_OPTION", scope_ + ": option 'interface' (the network interface to attach to) is required");
    netns_ = cfg.get_string("netns", "");
    mode_ = cfg.get_enum("mode", "auto", {"auto", "zerocopy", "copy"});
    ring_size_ = uint32_t(cfg.get_uint("ringSize", 2048, 64, 16384));
    if (ring_size_ & (ring_size_ - 1)) fail("INVALID_OPTION", scope_ + ": option 'ringSize' must be a power of two");
    const RuleSet rules = parse_drop_rules(cfg.get_string("dropRules", ""), scope_);
    const auto steer = parse_udp_steer(cfg.get_string("udpSteer", ""), scope_);
    const auto steer_vlan = uint16_t(cfg.get_uint("udpSteerVlan", 0, 0, 4094));
    if (steer_vlan && steer.empty()) fail("INVALID_OPTION", scope_ + ": option 'udpSteerVlan' needs 'udpSteer' (the address:port pairs to take)");
    check_udp_steer(steer, steer_vlan, scope_);
    if (const char* a = std::getenv("LINERATE_AF_XDP_ATTACH")) force_netlink_ = std::string(a) == "netlink";
    if (const char* m = std::getenv("LINERATE_AF_XDP_XDP_MODE")) force_skb_ = std::string(m) == "generic";

    layout();
    check_capabilities();
    {
      NetnsScope ns(netns_, scope_);
      // A datagram socket of the interface's namespace, for its ioctls (link status later).
      ctl_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      if (!ctl_) ctl_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      if (!ctl_) fail_syscall("SOCKET_SETUP", scope_ + ": cannot open a control socket", errno, "CAP_NET_ADMIN");
      check_interface();
      probe_mode();
    }
    program_ = std::make_unique<XdpProgram>(scope_);
    program_->set_rules(rules);
    if (!steer.empty()) program_->set_udp_steering(steer, steer_vlan);
  }

  ~AfXdpDriver() override {
    try {
      close();
    } catch (...) {
    }
  }

  DriverInfo info() const override {
    DriverInfo i;
    i.driver = "af_xdp";
    i.max_rx_queues = uint16_t(std::min<uint32_t>(kMaxQueues, rx_queues_ ? rx_queues_ : kMaxQueues));
    i.hw_rss = true;  // the NIC (or veth) spreads flows over its queues; one socket each
    i.mtu = nif_.mtu;
    i.details = {{"interface", ifname_},
                 {"netns", netns_},
                 {"mode", zerocopy_ ? "zerocopy" : "copy"},
                 {"ringSize", std::to_string(ring_size_)},
                 {"ifindex", std::to_string(nif_.index)},
                 {"deviceQueues", rx_queues_ ? std::to_string(rx_queues_) : "unknown"},
                 {"frameSize", std::to_string(frame_room_)},
                 {"maxDropRules", std::to_string(kMaxDropRules)},
                 {"maxUdpSteerRules", std::to_string(kMaxUdpSteerRules)}};
    return i;
  }

  void configure(uint16_t rxq, uint16_t txq) override {
    if (running_) fail("ENGINE_RUNNING", scope_ + ": cannot reconfigure while running");
    if (rx_queues_ && rxq > rx_queues_)
      fail("INVALID_OPTION", scope_ + ": rxQueues " + std::to_string(rxq) + " but interface '" + ifname_ + "' has " +
                                 std::to_string(rx_queues_) + " rx queues; raise them (ethtool -L " + ifname_ +
                                 " combined N, or a veth created with numrxqueues N numtxqueues N) or lower rxQueues");
    socks_.clear();
    for (uint16_t q = 0; q < rxq; q++) socks_.push_back(std::make_unique<XskQueue>(pool_.size()));
    txq_.assign(txq, {});
    std::vector<uint32_t> users(rxq, 0);
    for (uint16_t t = 0; t < txq; t++) {
      txq_[t].sock = socks_[t % rxq].get();
      users[t % rxq]++;
    }
    for (uint16_t q = 0; q < rxq; q++) socks_[q]->tx.shared = users[q] > 1;
  }

  void setup_rx_queue(const QueueSetup& q) override {
    auto& rx = socks_.at(q.queue_id)->rx;
    rx.cache = q.cache;
    rx.nombuf = q.nombuf;
  }
  void setup_tx_queue(const QueueSetup& q) override { txq_.at(q.queue_id).cache = q.cache; }

  void start() override {
    if (closed_) fail("PORT_CLOSED", scope_ + ": the port is closed");
    if (socks_.empty()) fail("NATIVE_ERROR", scope_ + ": start() before configure()");
    try {
      NetnsScope ns(netns_, scope_);
      check_interface();
      // The program first: with no socket in the XSKMAP yet it passes every
      // packet to the kernel, and a busy interface fails here, before any
      // socket exists, with XDP_ATTACH_REFUSED and the fix.
      attach();
      open_sockets();
      fill_all();
      for (uint32_t q = 0; q < socks_.size(); q++) program_->set_socket(q, socks_[q]->xsk.fd());
    } catch (...) {
      teardown();
      throw;
    }
    running_ = true;
  }

  void stop() override { teardown(); }

  void close() override {
    if (closed_) return;
    teardown();
    program_.reset();
    allmulti_.release();
    ctl_.reset();
    socks_.clear();
    closed_ = true;
  }

  LinkStatus link() const override {
    NetIf now;
    if (!ctl_ || !netif_by_index(ctl_.get(), nif_.index, now)) return {false, 0};
    return {now.up && now.running, 0};
  }

  MacAddr mac() const override { return nif_.mac; }
  // A host's IPv6 solicited-node group (drivers/allmulti.h): the kernel does not join it for us.
  void set_allmulticast(bool on) override { allmulti_.set(on, netns_, int(nif_.index), scope_); }

  uint32_t held_mbufs() const override {
    uint64_t held = 0;
    for (auto& s : socks_) held += s->held();
    return uint32_t(held);
  }

  void xstats(XStats& out) const override {
    xdp_statistics k = lost_.kernel;
    uint64_t bad_rx = 0, tx_invalid = 0, bad_comp = 0, rx_kicks = 0, tx_kicks = 0, kick_err = 0;
    for (auto& s : socks_) {
      xdp_statistics st;
      if (s->xsk.statistics(st)) add_stats(k, st);
      bad_rx += s->rx.bad_desc.get();
      rx_kicks += s->rx.kicks.get();
      tx_invalid += s->tx.invalid.get();
      bad_comp += s->tx.bad_completion.get();
      tx_kicks += s->tx.kicks.get();
      kick_err += s->tx.kick_errors.get();
    }
    bad_rx += lost_.bad_rx;
    rx_kicks += lost_.rx_kicks;
    tx_invalid += lost_.tx_invalid;
    bad_comp += lost_.bad_comp;
    tx_kicks += lost_.tx_kicks;
    kick_err += lost_.kick_err;
    out.push_back({"rx_dropped", k.rx_dropped});
    out.push_back({"rx_invalid_descs", k.rx_invalid_descs});
    out.push_back({"tx_invalid_descs", k.tx_invalid_descs});
    out.push_back({"rx_ring_full", k.rx_ring_full});
    out.push_back({"rx_fill_ring_empty_descs", k.rx_fill_ring_empty_descs});
    out.push_back({"tx_ring_empty_descs", k.tx_ring_empty_descs});
    out.push_back({"rx_bad_desc", bad_rx});
    out.push_back({"tx_invalid", tx_invalid});
    out.push_back({"tx_bad_completion", bad_comp});
    out.push_back({"rx_wakeups", rx_kicks});
    out.push_back({"tx_wakeups", tx_kicks});
    out.push_back({"tx_wakeup_errors", kick_err});
    out.push_back({"zerocopy", zerocopy_ ? 1 : 0});
    out.push_back({"xdp_attached", running_ ? 1 : 0});
    out.push_back({"xdp_native", attachment_ && attachment_->native() ? 1 : 0});
    out.push_back({"xdp_link", attachment_ && attachment_->by_link() ? 1 : 0});
    out.push_back({"fill_target", socks_.empty() ? 0 : socks_[0]->rx.fill_target});
    if (program_) {
      const auto drops = program_->drop_counts();
      uint64_t total = 0;
      for (size_t i = 0; i < drops.size(); i++) {
        out.push_back({"drop_rule_" + std::to_string(i), drops[i]});
        total += drops[i];
      }
      out.push_back({"early_dropped", total});
      out.push_back({"drop_rules", program_->rules().count});
      out.push_back({"steer_rules", program_->udp_steer_rules()});
      out.push_back({"steer_redirected", program_->steer_redirected()});
      out.push_back({"steer_passed", program_->steer_passed()});
    }
  }

  // Sharing the interface with the kernel (docs/drivers/af_xdp.md): the
  // program's steering map and control word, so no reload, before or while running.
  bool set_udp_steering(const std::vector<UdpSteerRule>& rules, uint16_t vlan) override {
    if (closed_) fail("PORT_CLOSED", scope_ + ": the port is closed");
    program_->set_udp_steering(rules, vlan);
    return true;
  }

  std::unique_ptr<KernelNeighbourWatch> watch_kernel_neighbours(KernelNeighbourWatch::Callback cb) override {
    if (closed_) fail("PORT_CLOSED", scope_ + ": the port is closed");
    const Netns ns(netns_, scope_);
    return std::make_unique<KernelNeighbourWatch>(ns, nif_.index, std::move(cb), scope_);
  }

  void set_runtime_options(const Config& cfg) override {
    if (closed_) fail("PORT_CLOSED", scope_ + ": the port is closed");
    cfg.allow_only({"dropRules"});
    program_->set_rules(parse_drop_rules(cfg.get_string("dropRules", ""), scope_));
  }

  // Hot path ---------------------------------------------------------------

  uint16_t rx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    return socks_[queue]->rx_burst(umem_, port_id_, queue, mbufs, n);
  }

  // Adaptive idle (driver.h): an XDP socket polls readable (POLLIN) while its rx
  // ring holds descriptors, and poll() itself gives the kernel the fill-ring
  // wake-up it may need (af_xdp.rst "XDP_USE_NEED_WAKEUP"). Level-triggered and
  // always on: nothing to enable or disable.
  int rx_wait_fd(uint16_t queue) const override { return queue < socks_.size() ? socks_[queue]->xsk.fd() : -1; }

  uint16_t tx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    TxQ& t = txq_[queue];
    return t.sock->tx_burst(umem_, t.cache, max_tx_len_, mbufs, n);
  }

 private:
  struct TxQ {
    XskQueue* sock = nullptr;
    Mempool::Cache* cache = nullptr;
  };

  // UMEM geometry from the mempool (see the top of this file).
  void layout() {
    slot_ = pool_.slot_size();
    n_ = pool_.size();
    umem_.slot = slot_;
    umem_.n = n_;
    rx_data_off_ = std::max<uint32_t>(XDP_PACKET_HEADROOM, kMbufHeaderSize + pool_.headroom());
    umem_headroom_ = rx_data_off_ - XDP_PACKET_HEADROOM;
    frame_room_ = slot_ > rx_data_off_ ? slot_ - rx_data_off_ : 0;
    if (slot_ < XDP_UMEM_MIN_CHUNK_SIZE || frame_room_ < 64)
      fail("INVALID_OPTION", scope_ + ": AF_XDP needs mempool slots of at least " + std::to_string(XDP_UMEM_MIN_CHUNK_SIZE) +
                                 " bytes with room for a frame after the kernel's 256-byte XDP headroom (slot = 64 + headroom + "
                                 "dataRoom = " + std::to_string(slot_) + "); raise mempool.dataRoom to 2048");
    const long page = sysconf(_SC_PAGESIZE);
    if (slot_ > uint32_t(page) && pool_.region().kind() == PageKind::Small)
      fail("INVALID_OPTION", scope_ + ": AF_XDP chunks (mempool slots, " + std::to_string(slot_) + " bytes) larger than a " +
                                 std::to_string(page) + "-byte page need a hugepage-backed mempool (mempool.hugepages: 'require') "
                                 "or a smaller mempool.dataRoom");
  }

  void check_capabilities() const {
    std::string missing;
    auto need = [&](bool ok, const char* name) {
      if (!ok) missing += (missing.empty() ? "" : ", ") + std::string(name);
    };
    need(has_capability(kCapNetRaw), "CAP_NET_RAW (AF_XDP sockets)");
    need(has_capability(kCapNetAdmin), "CAP_NET_ADMIN (attaching XDP)");
    need(has_capability(kCapBpf) || has_capability(kCapSysAdmin), "CAP_BPF (loading the XDP program and maps)");
    if (!netns_.empty()) need(has_capability(kCapSysAdmin), "CAP_SYS_ADMIN (entering a network namespace)");
    if (!missing.empty()) fail("MISSING_CAPABILITY", scope_ + ": missing " + missing + "; " + kCapFix);
    if (!has_capability(kCapIpcLock)) {
      rlimit rl{};
      if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < pool_.region_bytes())
        fail("MEMLOCK_LIMIT", scope_ + ": the UMEM (" + std::to_string(pool_.region_bytes() >> 10) +
                                       " KiB) is pinned against RLIMIT_MEMLOCK (" + std::to_string(rl.rlim_cur >> 10) +
                                       " KiB) without CAP_IPC_LOCK; run ulimit -l unlimited, or give CAP_IPC_LOCK (" + kCapFix + ")");
    }
  }

  // Inside the namespace.
  void check_interface() {
    nif_ = netif_by_name(ctl_.get(), ifname_, netns_, scope_);
    require_up(nif_, netns_, scope_);
    rx_queues_ = tx_queues_ = 0;
    interface_queues(ctl_.get(), ifname_, rx_queues_, tx_queues_);
    // The largest frame the interface can hand us: MTU + Ethernet header + one VLAN tag.
    if (nif_.mtu + 18 > frame_room_) {
      const uint32_t data_room = ((nif_.mtu + 18 + rx_data_off_ - kMbufHeaderSize - pool_.headroom()) + 63) / 64 * 64;
      fail("MTU_TOO_LARGE", scope_ + ": interface '" + ifname_ + "' has MTU " + std::to_string(nif_.mtu) +
                                ", but an AF_XDP frame here holds at most " + std::to_string(frame_room_) +
                                " bytes (mempool slot minus 256 bytes of XDP headroom; XDP sockets take single-buffer frames only). "
                                "Lower the MTU: " + netns_cmd_prefix(netns_) + "ip link set dev " + ifname_ +
                                " mtu 1500, or set mempool.dataRoom to " + std::to_string(data_room) + " or more");
    }
    max_tx_len_ = nif_.mtu + 18;
  }

  [[noreturn]] void socket_fail(int err, const char* stage, uint32_t queue) const {
    const std::string what = scope_ + ": AF_XDP socket for queue " + std::to_string(queue) + " of '" + ifname_ + "': " + stage +
                             " failed (" + errno_text(-err) + ")";
    if (err == -EPERM || err == -EACCES) fail("MISSING_CAPABILITY", what + "; AF_XDP sockets need CAP_NET_RAW: " + kCapFix);
    if ((err == -ENOBUFS || err == -ENOMEM) && std::strstr(stage, "UMEM"))
      fail("MEMLOCK_LIMIT", what + "; the UMEM could not be pinned: run ulimit -l unlimited or give CAP_IPC_LOCK");
    if (err == -EAFNOSUPPORT)
      fail("SOCKET_SETUP", what + "; this kernel has no AF_XDP (CONFIG_XDP_SOCKETS; Linux >= 5.10 needed)");
    if (err == -EBUSY)
      fail("SOCKET_SETUP", what + "; another AF_XDP socket is bound to this queue (another linerate engine, DPDK?): stop it, or use another "
                               "interface. See what is attached with: " + netns_cmd_prefix(netns_) + "ip -d link show dev " + ifname_);
    if (err == -EOPNOTSUPP && mode_ == "zerocopy")
      fail("SOCKET_SETUP", what + "; the driver of '" + ifname_ + "' has no zero-copy AF_XDP support: use mode 'auto' or 'copy'");
    if (err == -EINVAL && std::strcmp(stage, "bind") == 0)
      fail("SOCKET_SETUP", what + "; check that queue " + std::to_string(queue) + " exists (" + netns_cmd_prefix(netns_) + "ethtool -l " +
                               ifname_ + "; a veth needs numrxqueues/numtxqueues) and that the interface is up");
    fail("SOCKET_SETUP", what);
  }

  // A queue stays claimed for a moment after its last socket closes: the kernel
  // releases the buffer pool from a work queue (net/xdp/xsk_buff_pool.c,
  // xp_put_pool -> xp_release_deferred -> xp_clear_dev). So bind() answers EBUSY
  // right after the probe socket or a stop(); wait for the release, a second at most.
  static int open_socket(XskSocket& sock, const XskSetup& s, const char** stage) {
    int r = 0;
    for (int tries = 0; tries < 100; tries++) {
      r = sock.open(s, stage);
      if (r != -EBUSY || std::strcmp(*stage, "bind") != 0) break;
      sock.close();
      usleep(10000);
    }
    return r;
  }

  uint16_t bind_flags() const {
    uint16_t f = XDP_USE_NEED_WAKEUP;
    if (mode_ == "zerocopy") f |= XDP_ZEROCOPY;
    if (mode_ == "copy") f |= XDP_COPY;
    return f;
  }

  // Which mode the kernel gives this interface, decided at open so that
  // port.info() can say it: bind a throwaway socket with a small private UMEM
  // to queue 0. Without XDP_ZEROCOPY or XDP_COPY the kernel tries zero-copy and
  // falls back to copy by itself (net/xdp/xsk_buff_pool.c xp_assign_dev);
  // XDP_OPTIONS then says what it chose.
  void probe_mode() {
    const size_t len = 16 * 4096;
    void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) fail("MEMORY_UNAVAILABLE", scope_ + ": cannot map 64 KiB for the AF_XDP probe: " + errno_text(errno));
    XskSocket probe;
    XskSetup s;
    s.ifindex = nif_.index;
    s.queue = 0;
    s.bind_flags = bind_flags();
    s.ring_size = 64;
    s.fill_size = 64;
    s.umem_addr = mem;
    s.umem_len = len;
    s.chunk_size = 2048;
    s.headroom = 0;
    const char* stage = "";
    int r = open_socket(probe, s, &stage);
    if (r == -EOPNOTSUPP && mode_ == "auto" && std::strcmp(stage, "bind") == 0) {
      // A kernel that does not fall back by itself: ask for copy mode.
      s.bind_flags |= XDP_COPY;
      r = open_socket(probe, s, &stage);
    }
    zerocopy_ = r == 0 && probe.zerocopy();
    probe.close();
    munmap(mem, len);
    if (r < 0) socket_fail(r, stage, 0);
  }

  void open_sockets() {
    XskSetup s;
    s.ifindex = nif_.index;
    s.bind_flags = uint16_t((bind_flags() & ~(XDP_COPY | XDP_ZEROCOPY)) | (zerocopy_ ? XDP_ZEROCOPY : XDP_COPY));
    s.ring_size = ring_size_;
    s.fill_size = 2 * ring_size_;
    s.umem_addr = pool_.base();
    s.umem_len = pool_.region_bytes();
    s.chunk_size = slot_;
    s.headroom = umem_headroom_;
    s.umem_flags = XDP_UMEM_UNALIGNED_CHUNK_FLAG;
    umem_shared_ = true;
    for (uint32_t q = 0; q < socks_.size(); q++) {
      s.queue = q;
      s.shared_fd = q == 0 ? -1 : socks_[0]->xsk.fd();
      const char* stage = "";
      int r = open_socket(socks_[q]->xsk, s, &stage);
      if (r < 0 && q > 0 && std::strcmp(stage, "bind") == 0 && (r == -EINVAL || r == -EOPNOTSUPP)) {
        // No shared UMEM across queues here: this socket registers the region itself.
        s.shared_fd = -1;
        umem_shared_ = false;
        r = open_socket(socks_[q]->xsk, s, &stage);
      }
      if (r < 0) socket_fail(r, stage, q);
    }
    const uint32_t queues = uint32_t(socks_.size());
    // Fill each queue's ring, but leave the pool at least half its mbufs for
    // everything else (tx, rings, handlers).
    const uint32_t target = std::max<uint32_t>(64, std::min<uint32_t>(2 * ring_size_, n_ / (2 * queues)));
    for (auto& sk : socks_) sk->rx.fill_target = std::min(target, 2 * ring_size_);
  }

  void fill_all() {
    for (auto& s : socks_) s->refill(umem_, nullptr, true);
  }

  void attach() {
    attachment_ = std::make_unique<XdpAttachment>(scope_, ifname_, netns_);
    attachment_->attach(program_->prog_fd(), nif_.index, force_netlink_, force_skb_);
  }

  void detach() {
    if (attachment_) attachment_->detach(program_ ? program_->prog_fd() : -1);
    attachment_.reset();
  }

  // Everything back: program detached, rings drained, sockets closed, mbufs home.
  void teardown() {
    detach();
    for (auto& s : socks_) s->reclaim(umem_, lost_);
    running_ = false;
  }

  Mempool& pool_;
  uint16_t port_id_;
  std::string scope_, ifname_, netns_, mode_;
  uint32_t ring_size_ = 2048;
  bool force_netlink_ = false, force_skb_ = false;

  uint32_t slot_ = 0, n_ = 0, rx_data_off_ = 0, umem_headroom_ = 0, frame_room_ = 0, max_tx_len_ = 0;
  NetIf nif_;
  uint32_t rx_queues_ = 0, tx_queues_ = 0;
  Fd ctl_;
  AllMulticast allmulti_;
  bool zerocopy_ = false;
  std::unique_ptr<XdpProgram> program_;
  std::unique_ptr<XdpAttachment> attachment_;  // while started
  bool umem_shared_ = true;
  bool running_ = false, closed_ = false;

  Umem umem_;
  std::vector<std::unique_ptr<XskQueue>> socks_;
  std::vector<TxQ> txq_;
  QueueTotals lost_;  // counters of closed sockets
};

}  // namespace

std::unique_ptr<Driver> make_af_xdp_driver(const Config& cfg, Mempool& pool, uint16_t port_id) {
  return std::make_unique<AfXdpDriver>(cfg, pool, port_id);
}

// The generated program with a comment per instruction, for docs/drivers/af_xdp.md.
std::string af_xdp_program_listing() { return xdp::XdpProgram::listing(); }

}  // namespace lr
