// tap: a TAP device (Documentation/networking/tuntap.rst) as a port, the kernel
// side of the exception path. What linerate transmits on the port is write()n
// to the device and so received by the kernel's stack, as if it had come in on a
// NIC called <interface>; what the kernel sends out of that device is read() here
// and received by the port. One frame per read/write (IFF_NO_PI: no packet-info
// header), nonblocking.
//
// The device is created (TUNSETIFF, IFF_TAP | IFF_NO_PI) in the given network
// namespace, or attached to if a persistent one of that name exists; it is set
// up (IFF_UP), and optionally given a MAC and an MTU. Addresses are the
// operator's business (ip addr add ... dev <interface>). A device linerate
// created goes away when the port is closed or the process dies.
//
// Exception-path traffic is light (ARP, ICMP, SSH): one system call per frame
// is fine here; the data path never goes through this driver.
#include <errno.h>
#include <fcntl.h>
#include <net/if_arp.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstring>

#include "drivers/driver.h"
#include "drivers/netns.h"

namespace lr {

namespace {

bool parse_mac(const std::string& s, MacAddr& out) {
  unsigned v[6];
  char tail;
  if (std::sscanf(s.c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6) return false;
  for (int i = 0; i < 6; i++) out[i] = uint8_t(v[i]);
  return true;
}

class TapDriver final : public Driver {
 public:
  TapDriver(const Config& cfg, Mempool& pool, uint16_t port_id) : pool_(pool), port_id_(port_id) {
    cfg.allow_only({"interface", "netns", "mac", "mtu", "rxQueues"});
    scope_ = cfg.scope.empty() ? "tap port" : cfg.scope;
    ifname_ = cfg.get_string("interface", "");
    if (ifname_.empty() || ifname_.size() >= IFNAMSIZ)
      fail("INVALID_OPTION", scope_ + ": option 'interface' (the TAP device's name, 1 to 15 characters) is required");
    netns_ = cfg.get_string("netns", "");
    const std::string mac = cfg.get_string("mac", "");
    MacAddr want{};
    if (!mac.empty() && !parse_mac(mac, want))
      fail("INVALID_OPTION", scope_ + ": option 'mac' must be a MAC address like 02:00:00:00:00:01, got '" + mac + "'");
    const uint32_t mtu = uint32_t(cfg.get_uint("mtu", 0, 0, 65521));

    NetnsScope in(netns_, scope_);
    fd_ = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) {
      const int err = errno;
      if (err == ENOENT || err == ENODEV || err == ENXIO)
        fail("TAP_OPEN", scope_ + ": /dev/net/tun is missing: load the module with: modprobe tun");
      fail_syscall("TAP_OPEN", scope_ + ": open /dev/net/tun", err, "CAP_NET_ADMIN");
    }
    try {
      struct ifreq ifr;
      std::memset(&ifr, 0, sizeof ifr);
      ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
      std::strncpy(ifr.ifr_name, ifname_.c_str(), IFNAMSIZ - 1);
      if (::ioctl(fd_, TUNSETIFF, &ifr) != 0) {
        const int err = errno;
        if (err == EBUSY)
          fail("TAP_OPEN", scope_ + ": TAP device '" + ifname_ + "' is in use by another process; pick another name");
        if (err == EINVAL)
          fail("TAP_OPEN", scope_ + ": '" + ifname_ + "' exists and is not a TAP device; check with: " + netns_cmd_prefix(netns_) +
                               "ip -d link show " + ifname_);
        fail_syscall("TAP_OPEN", scope_ + ": TUNSETIFF '" + ifname_ + "'", err, "CAP_NET_ADMIN");
      }
      ctl_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (ctl_ < 0) ctl_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (ctl_ < 0) fail("TAP_OPEN", scope_ + ": control socket: " + errno_text(errno));
      if (!mac.empty()) {
        std::memset(&ifr, 0, sizeof ifr);
        std::strncpy(ifr.ifr_name, ifname_.c_str(), IFNAMSIZ - 1);
        ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
        std::memcpy(ifr.ifr_hwaddr.sa_data, want.data(), 6);
        if (::ioctl(ctl_, SIOCSIFHWADDR, &ifr) != 0)
          fail_syscall("TAP_OPEN", scope_ + ": setting the MAC of '" + ifname_ + "'", errno, "CAP_NET_ADMIN");
      }
      if (mtu) {
        std::memset(&ifr, 0, sizeof ifr);
        std::strncpy(ifr.ifr_name, ifname_.c_str(), IFNAMSIZ - 1);
        ifr.ifr_mtu = int(mtu);
        if (::ioctl(ctl_, SIOCSIFMTU, &ifr) != 0)
          fail_syscall("TAP_OPEN", scope_ + ": setting the MTU of '" + ifname_ + "' to " + std::to_string(mtu), errno, "CAP_NET_ADMIN");
      }
      nif_ = netif_by_name(ctl_, ifname_, netns_, scope_);
      if (nif_.mtu + 14 > pool.data_room())
        fail("MTU_TOO_LARGE", scope_ + ": TAP device '" + ifname_ + "' has MTU " + std::to_string(nif_.mtu) + ", frames of up to " +
                                  std::to_string(nif_.mtu + 14) + " bytes, larger than mempool.dataRoom " + std::to_string(pool.data_room()) +
                                  "; give the port option mtu: " + std::to_string(pool.data_room() - 14) + " or raise mempool.dataRoom");
      if (!nif_.up) {
        std::memset(&ifr, 0, sizeof ifr);
        std::strncpy(ifr.ifr_name, ifname_.c_str(), IFNAMSIZ - 1);
        if (::ioctl(ctl_, SIOCGIFFLAGS, &ifr) != 0 || (ifr.ifr_flags |= IFF_UP, ::ioctl(ctl_, SIOCSIFFLAGS, &ifr) != 0))
          fail_syscall("TAP_OPEN", scope_ + ": bringing '" + ifname_ + "' up", errno, "CAP_NET_ADMIN");
        nif_ = netif_by_name(ctl_, ifname_, netns_, scope_);
      }
    } catch (...) {
      close();
      throw;
    }
  }
  ~TapDriver() override { close(); }

  DriverInfo info() const override {
    DriverInfo i;
    i.driver = "tap";
    i.max_rx_queues = 1;
    i.hw_rss = false;
    i.mtu = nif_.mtu;
    i.details = {{"interface", ifname_}, {"netns", netns_}, {"ifindex", std::to_string(nif_.index)}};
    return i;
  }
  void configure(uint16_t rxq, uint16_t txq) override {
    if (rxq > 1) fail("INVALID_OPTION", scope_ + ": tap ports have one rx queue; the engine spreads it with software RSS");
    tx_.assign(txq, {});
  }
  void setup_rx_queue(const QueueSetup& q) override {
    rx_cache_ = q.cache;
    nombuf_ = q.nombuf;
  }
  void setup_tx_queue(const QueueSetup& q) override { tx_.at(q.queue_id).cache = q.cache; }
  MacAddr mac() const override { return nif_.mac; }
  LinkStatus link() const override {
    if (fd_ < 0) return {false, 0};
    NetIf now;
    if (!netif_by_index(ctl_, nif_.index, now)) return {false, 0};
    return {now.up, 0};
  }
  void xstats(XStats& out) const override {
    uint64_t txerr = 0, txover = 0;
    for (auto& t : tx_) {
      txerr += t.errors.get();
      txover += t.oversize.get();
    }
    out.push_back({"rx_oversize", rx_oversize_.get()});
    out.push_back({"rx_runt", rx_runt_.get()});
    out.push_back({"rx_errors", rx_errors_.get()});
    out.push_back({"tx_oversize", txover});
    out.push_back({"tx_errors", txerr});
  }
  void close() override {
    if (fd_ >= 0) ::close(fd_);
    if (ctl_ >= 0) ::close(ctl_);
    fd_ = ctl_ = -1;
  }

  uint16_t rx_burst(uint16_t queue, Mbuf** out, uint16_t n) override {
    if (fd_ < 0) return 0;
    const uint32_t room = pool_.data_room();
    uint16_t got = 0;
    Mbuf* m = nullptr;
    while (got < n) {
      if (!m && !pool_.alloc_bulk(rx_cache_, &m, 1)) {
        // No mbuf: take the frame off the device anyway (it would only go stale) and count it.
        if (::read(fd_, scratch_, sizeof scratch_) > 0 && nombuf_) nombuf_->add(1);
        m = nullptr;
        break;
      }
      // A second buffer catches frames longer than the data room, so they are
      // seen (and counted) instead of silently truncated.
      struct iovec iov[2] = {{m->data(), room}, {scratch_, sizeof scratch_}};
      const ssize_t r = ::readv(fd_, iov, 2);
      if (r < 0) {
        if (errno != EAGAIN && errno != EINTR) rx_errors_.add(1);
        break;
      }
      if (uint32_t(r) > room) {
        rx_oversize_.add(1);
        continue;
      }
      if (r < 14) {
        rx_runt_.add(1);
        continue;
      }
      m->data_len = uint16_t(r);
      m->port = port_id_;
      m->queue = queue;
      out[got++] = m;
      m = nullptr;
    }
    if (m) pool_.free_one(rx_cache_, m);
    return got;
  }

  uint16_t tx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    TxQ& t = tx_[queue];
    if (fd_ < 0) return 0;
    uint16_t i = 0;
    for (; i < n; i++) {
      if (mbufs[i]->data_len > nif_.mtu + 14 + 4) {
        t.oversize.add(1);  // the kernel would refuse it: accepted and dropped
        continue;
      }
      if (::write(fd_, mbufs[i]->data(), mbufs[i]->data_len) < 0) {
        if (errno == EAGAIN) break;  // the kernel's queue is full: the rest stays with the caller
        t.errors.add(1);             // e.g. EIO while the device is down: dropped
      }
    }
    pool_.free_bulk(t.cache, mbufs, i);
    return i;
  }

 private:
  struct TxQ {
    Mempool::Cache* cache = nullptr;
    Counter errors, oversize;
  };
  Mempool& pool_;
  uint16_t port_id_;
  std::string scope_, ifname_, netns_;
  int fd_ = -1, ctl_ = -1;
  NetIf nif_;
  Mempool::Cache* rx_cache_ = nullptr;
  Counter* nombuf_ = nullptr;
  Counter rx_oversize_, rx_runt_, rx_errors_;
  std::vector<TxQ> tx_;
  uint8_t scratch_[65536];
};

}  // namespace

std::unique_ptr<Driver> make_tap_driver(const Config& cfg, Mempool& pool, uint16_t port_id) {
  return std::make_unique<TapDriver>(cfg, pool, port_id);
}

}  // namespace lr
