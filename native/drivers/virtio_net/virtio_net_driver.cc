// virtio-net over vfio: a modern (virtio 1.x) PCI network device driven from
// user space with split virtqueues. What QEMU, cloud VMs and vDPA give.
// Structures and bits: virtio_regs.h, each with its section of the virtio spec.
//
//  - Discovery (§4.1.4): the common, notify and device-config structures are
//    found through the vendor-specific PCI capabilities and read in the BARs.
//  - Init (§3.1.1) on every start(): reset, ACKNOWLEDGE, DRIVER, features,
//    FEATURES_OK, queues, DRIVER_OK; stop() resets the device (§4.1.4.3.2:
//    written 0, read back 0), after which it does no DMA, and the mbufs go back.
//  - Features taken when offered: VERSION_1 (required), ACCESS_PLATFORM (its DMA
//    goes through the IOMMU, so IOVA = VA works; without it in IOMMU mode the
//    device would bypass the IOMMU and is refused), MAC, STATUS, MTU, MQ +
//    CTRL_VQ (queue pairs), RSS (the device spreads flows by rss.key and our table),
//    HASH_REPORT (the hash lands in mbuf.rss_hash), CTRL_RX (promiscuous mode),
//    GUEST_CSUM (frames may arrive with a partial checksum, NEEDS_CSUM: finished
//    here in software, so the application always sees complete checksums).
//    Not taken: MRG_RXBUF (an mbuf holds a whole frame), offloads (CSUM, TSO).
//  - Zero copy: an rx buffer is an mbuf's data minus the virtio-net header, which
//    the device writes into the headroom; tx puts a zeroed header there too.
//  - Queues (§5.1.2): receiveq k = 2k, transmitq k = 2k+1, controlq = 2*max pairs.
//    The engine's rx queue k is receiveq k (rxQueues pairs are set with
//    VQ_PAIRS_SET); its tx queue t (one per lcore) is transmitq t % pairs, under a
//    spinlock when lcores outnumber the pairs.
//
//  - Interrupts: none while polling (VIRTQ_AVAIL_F_NO_INTERRUPT). With adaptive
//    idle, receiveq k gets MSI-X vector k and an idle lcore clears the flag just
//    before it blocks on the vector's eventfd (rx_intr_enable).
//
// Ownership: every rx descriptor holds an mbuf while started; a tx mbuf is held
// until the device returns its descriptor in the used ring.
//
// Files: the PCI transport (§4.1: capabilities, reset, features, queue setup,
// notifications) is transport.h, one split virtqueue (§2.7) virtqueue.h; this
// file is the network device (§5.1).
#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "drivers/vfio/nic.h"
#include "drivers/virtio_net/rx_csum.h"
#include "drivers/virtio_net/rx_used.h"
#include "drivers/virtio_net/transport.h"
#include "drivers/virtio_net/virtio_regs.h"

namespace lr::vfio {

namespace {

using namespace lr::virtio;

// The default RSS key (rss.key replaces it): Microsoft's, as the engine's software RSS.
constexpr uint8_t kRssKey[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
                                 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
                                 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

inline bool has(uint64_t f, int bit) { return (f >> bit) & 1; }

class VirtioNet final : public Driver {
 public:
  explicit VirtioNet(NicParams&& p)
      : dev_(std::move(p.dev)), pool_(*p.pool), port_id_(p.port_id), scope_(p.scope), promisc_(p.promiscuous) {
    t_.find(*dev_, scope_);
    // A first handshake to learn what the device offers, its queue sizes and its
    // configuration; start() does the real one. (§3.1.1 steps 1-3.)
    t_.reset(scope_);
    t_.set_status(STATUS_ACKNOWLEDGE);
    t_.set_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    offered_ = t_.read_features();
    if (!has(offered_, F_VERSION_1))
      fail("DEVICE_UNSUPPORTED", scope_ + ": " + dev_->pci() + " is a legacy-only virtio device (no VIRTIO_F_VERSION_1); linerate speaks virtio 1.x");
    if (!has(offered_, F_ACCESS_PLATFORM) && !dev_->no_iommu())
      fail("DEVICE_UNSUPPORTED", scope_ + ": " + dev_->pci() + " does not offer VIRTIO_F_ACCESS_PLATFORM: its DMA bypasses the IOMMU, "
                                             "so vfio cannot give it our buffers. In QEMU add iommu_platform=on to the device; "
                                             "without a vIOMMU use the option noIommu: true");
    const uint64_t want = bit(F_VERSION_1) | bit(F_ACCESS_PLATFORM) | bit(F_MAC) | bit(F_STATUS) | bit(F_MTU) | bit(F_MQ) |
                          bit(F_CTRL_VQ) | bit(F_CTRL_RX) | bit(F_RSS) | bit(F_HASH_REPORT) | bit(F_GUEST_CSUM) |
                          bit(F_CSUM) | bit(F_SPEED_DUPLEX);
    features_ = offered_ & want;
    // MQ, RSS and CTRL_RX need the control queue (§5.1.3.1).
    if (!has(features_, F_CTRL_VQ)) features_ &= ~(bit(F_MQ) | bit(F_RSS) | bit(F_CTRL_RX));
    max_pairs_ = has(features_, F_MQ) || has(features_, F_RSS) ? std::max<uint16_t>(1, t_.cfg16(NET_CFG_MAX_PAIRS)) : 1;
    max_pairs_ = std::min<uint16_t>(max_pairs_, 64);
    if (has(features_, F_RSS)) {
      rss_key_max_ = t_.device.r8(NET_CFG_RSS_MAX_KEY);
      rss_table_max_ = t_.cfg16(NET_CFG_RSS_MAX_TABLE);
      rss_hash_types_ = t_.cfg32(NET_CFG_SUPPORTED_HASH);
      if (rss_key_max_ < 40 || rss_table_max_ == 0) features_ &= ~(bit(F_RSS) | bit(F_HASH_REPORT));
    }
    if (has(features_, F_HASH_REPORT) && !has(features_, F_RSS)) features_ &= ~bit(F_HASH_REPORT);
    hdr_ = has(features_, F_HASH_REPORT) ? kNetHdrHashSize : kNetHdrSize;
    if (pool_.headroom() < hdr_)
      fail("INVALID_OPTION", scope_ + ": virtio-net writes a " + std::to_string(hdr_) + "-byte header in front of each frame: mempool.headroom must be at least that");
    if (has(features_, F_MAC))
      for (uint32_t i = 0; i < 6; i++) mac_[i] = t_.device.r8(NET_CFG_MAC + i);
    else
      mac_ = virtual_mac(port_id_);
    mtu_ = has(features_, F_MTU) ? t_.cfg16(NET_CFG_MTU) : 1500;
    t_.negotiate(features_, scope_);
    // Queue sizes: the device's maximum (queue_size), capped by the options (§4.1.5.1.3).
    const uint16_t rx_max = t_.queue_max(0), tx_max = t_.queue_max(1);
    rx_n_ = pick_size(p.rx_ring, rx_max, "rxRingSize");
    tx_n_ = pick_size(p.tx_ring, tx_max, "txRingSize");
    ctrl_n_ = has(features_, F_CTRL_VQ) ? std::min<uint16_t>(t_.queue_max(uint16_t(2 * max_pairs_)), 64) : 0;
    if (ctrl_n_ && !is_pow2(ctrl_n_)) ctrl_n_ = 16;
    t_.reset(scope_);
    // DMA memory for every queue pair the device has, the control queue and its buffers.
    const size_t per_pair = Vq::bytes(rx_n_) + Vq::bytes(tx_n_);
    const size_t total = per_pair * max_pairs_ + (ctrl_n_ ? Vq::bytes(ctrl_n_) + 4096 : 0);
    uint8_t* mem = dev_->alloc_dma(total, "virtqueues");
    rx_.resize(max_pairs_);
    tx_.resize(max_pairs_);
    for (uint16_t k = 0; k < max_pairs_; k++) {
      rx_[k] = std::make_unique<Vq>();
      tx_[k] = std::make_unique<Vq>();
      rx_[k]->index = uint16_t(2 * k);
      tx_[k]->index = uint16_t(2 * k + 1);
      rx_[k]->place(mem, rx_n_);
      mem += Vq::bytes(rx_n_);
      tx_[k]->place(mem, tx_n_);
      mem += Vq::bytes(tx_n_);
    }
    if (ctrl_n_) {
      ctrl_.index = uint16_t(2 * max_pairs_);
      ctrl_.place(mem, ctrl_n_);
      ctrl_buf_ = mem + Vq::bytes(ctrl_n_);
    }
  }

  ~VirtioNet() override { close(); }

  DriverInfo info() const override {
    DriverInfo i;
    i.driver = "vfio";
    i.max_rx_queues = max_pairs_;
    i.max_tx_queues = max_pairs_;
    i.hw_rss = max_pairs_ > 1;
    i.mtu = mtu_;
    char f[40];
    snprintf(f, sizeof f, "0x%016llx", static_cast<unsigned long long>(features_));
    i.details = {{"model", "virtio-net (virtio 1.x, split virtqueues)"},
                 {"pci", dev_ ? dev_->pci() : ""},
                 {"iommuGroup", dev_ ? std::to_string(dev_->iommu_group()) : ""},
                 {"dma", dev_ && dev_->no_iommu() ? "physical addresses (no-IOMMU mode)" : "IOMMU, IOVA = virtual address"},
                 {"features", f},
                 {"maxQueuePairs", std::to_string(max_pairs_)},
                 {"rss", has(features_, F_RSS) ? "VIRTIO_NET_F_RSS (device spreads by linerate's key and table)"
                         : max_pairs_ > 1 ? "device's own queue selection (VIRTIO_NET_F_MQ without RSS)"
                                          : "none (one queue pair)"},
                 {"hashReport", has(features_, F_HASH_REPORT) ? "yes" : "no"},
                 {"checksum", has(features_, F_GUEST_CSUM) ? "partial checksums finished in software" : "complete from the device"},
                 {"txChecksum", has(features_, F_CSUM) ? "the device finishes host-layer UDP checksums (VIRTIO_NET_F_CSUM)" : "software"},
                 {"rxRingSize", std::to_string(rx_n_)},
                 {"txRingSize", std::to_string(tx_n_)},
                 {"msixVectors", std::to_string(dev_ ? dev_->msix_vectors() : 0)}};
    return i;
  }

  void configure(uint16_t rxq, uint16_t txq) override {
    if (rxq < 1 || rxq > max_pairs_)
      fail("INVALID_OPTION", scope_ + ": the device has " + std::to_string(max_pairs_) + " queue pair(s), rxQueues " + std::to_string(rxq) + " asked for");
    pairs_ = rxq;
    ntx_ = txq;
    caches_.assign(txq, nullptr);
  }
  void setup_rx_queue(const QueueSetup& q) override {
    rx_.at(q.queue_id)->cache = q.cache;
    rx_.at(q.queue_id)->nombuf = q.nombuf;
    rx_.at(q.queue_id)->wakeup = q.rx_wakeup;
  }

  // §5.1.6.5.7: the key goes to the device in VIRTIO_NET_CTRL_MQ_RSS_CONFIG, which
  // needs VIRTIO_NET_F_RSS; its length may be 40 (Toeplitz over IPv6 addresses
  // and ports) up to the device's rss_max_key_size (§5.1.4).
  bool set_rss_key(const std::vector<uint8_t>& key) override {
    if (!has(features_, F_RSS))
      fail("RSS_KEY_UNSUPPORTED", scope_ + ": " + dev_->pci() + " does not offer VIRTIO_NET_F_RSS" +
                                      (has(offered_, F_RSS) ? " with a usable key size" : "") +
                                      ", so it cannot take rss.key (it steers flows by its own choice). In QEMU add "
                                      "rss=on to -device virtio-net-pci; or leave rss.key out");
    if (key.size() < 40 || key.size() > rss_key_max_)
      fail("RSS_KEY_UNSUPPORTED", scope_ + ": the device takes an RSS key of 40 to " + std::to_string(rss_key_max_) +
                                      " bytes (rss_max_key_size); rss.key has " + std::to_string(key.size()));
    rss_key_ = key;
    return true;
  }
  void setup_tx_queue(const QueueSetup& q) override { caches_.at(q.queue_id) = q.cache; }

  void start() override {
    std::lock_guard<std::mutex> g(ctl_);
    dev_->set_bus_master(true);
    // §3.1.1
    t_.reset(scope_);
    t_.set_status(STATUS_ACKNOWLEDGE);
    t_.set_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER);
    (void)t_.read_features();
    t_.negotiate(features_, scope_);
    const std::vector<int> irq = enable_rx_vectors();
    t_.common.w16(COMMON_MSIX, NO_VECTOR);  // §4.1.5.1.2: no configuration-change interrupts, we poll link status
    tx_pairs_ = pairs_;
    shared_tx_ = ntx_ > tx_pairs_;
    for (uint16_t k = 0; k < pairs_; k++) {
      // receiveq k -> MSI-X vector k when an idle lcore may block on it; a device
      // that refuses the mapping (reads back NO_VECTOR) leaves the queue polled only.
      Vq& r = *rx_[k];
      const uint16_t vec = k < irq.size() ? k : NO_VECTOR;
      r.irq_fd = t_.setup_vq(r, vec, *dev_, scope_) == vec && vec != NO_VECTOR ? irq[k] : -1;
      t_.setup_vq(*tx_[k], NO_VECTOR, *dev_, scope_);
    }
    if (ctrl_n_) t_.setup_vq(ctrl_, NO_VECTOR, *dev_, scope_);
    // Receive buffers: every descriptor gets an mbuf (§5.1.6.3).
    for (uint16_t k = 0; k < pairs_; k++) {
      Vq& q = *rx_[k];
      if (!pool_.alloc_bulk(nullptr, q.sw.data(), q.size))
        fail("MEMORY_UNAVAILABLE", scope_ + ": the mempool has fewer than " + std::to_string(q.size) +
                                       " free mbufs for an rx queue; raise mempool.mbufs or lower rxRingSize");
      for (uint16_t i = 0; i < q.size; i++) post_rx(q, i, q.sw[i]);
      q.publish();
      q.held.set(q.size);
    }
    t_.set_status(STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
    running_ = true;
    if (has(features_, F_MQ)) {
      const uint16_t n = pairs_;
      ctrl_cmd(CTRL_MQ, CTRL_MQ_VQ_PAIRS_SET, &n, sizeof n);
    }
    if (has(features_, F_RSS)) set_rss();
    if (has(features_, F_CTRL_RX)) {
      // §5.1.6.5.1: after a reset the device is promiscuous; say what we want.
      const uint8_t on = promisc_ ? 1 : 0;
      ctrl_cmd(CTRL_RX, CTRL_RX_PROMISC, &on, 1);
      const uint8_t all = allmulti_ ? 1 : 0;
      ctrl_cmd(CTRL_RX, CTRL_RX_ALLMULTI, &all, 1);
    }
    for (uint16_t k = 0; k < pairs_; k++) t_.kick(*rx_[k], true);
  }

  void stop() override {
    std::lock_guard<std::mutex> g(ctl_);
    if (!running_) return;
    t_.reset(scope_);  // no DMA after this (§4.1.4.3.2), and no vector mapped
    dev_->disable_msix();
    for (auto& r : rx_) r->irq_fd = -1;
    for (uint16_t k = 0; k < pairs_; k++) {
      Vq& r = *rx_[k];
      pool_.free_bulk(nullptr, r.sw.data(), r.size);
      std::fill(r.sw.begin(), r.sw.end(), nullptr);
      r.held.set(0);
      Vq& t = *tx_[k];
      for (auto& m : t.sw)
        if (m) {
          pool_.free_one(nullptr, m);
          m = nullptr;
        }
      t.held.set(0);
    }
    running_ = false;
  }

  void close() override {
    if (!dev_) return;
    stop();
    dev_->close();
    dev_.reset();
  }

  LinkStatus link() const override {
    if (!dev_) return {false, 0};
    bool up = true;
    if (has(features_, F_STATUS)) up = t_.device.r16(NET_CFG_STATUS) & NET_S_LINK_UP;
    uint64_t speed = 0;
    if (has(features_, F_SPEED_DUPLEX)) {
      const uint32_t s = t_.device.r32(NET_CFG_SPEED);
      speed = s == ~0u ? 0 : s;
    }
    return {up, up ? speed : 0};
  }

  void xstats(XStats& out) const override {
    uint64_t rk = 0, tk = 0, err = 0, fixed = 0, valid = 0, offloaded = 0;
    for (uint16_t k = 0; k < max_pairs_; k++) {
      rk += rx_[k]->kicks.get();
      tk += tx_[k]->kicks.get();
      err += rx_[k]->errors.get();
      fixed += rx_[k]->csum_fixed.get();
      valid += rx_[k]->csum_valid.get();
      offloaded += tx_[k]->csum_offloaded.get();
    }
    out.push_back({"rx_notifications", rk});
    out.push_back({"tx_notifications", tk});
    out.push_back({"rx_errors", err});
    out.push_back({"rx_csum_completed", fixed});
    out.push_back({"rx_csum_valid", valid});
    out.push_back({"tx_csum_offloaded", offloaded});
    out.push_back({"queue_pairs", pairs_});
    uint64_t vectors = 0;
    for (uint16_t k = 0; k < max_pairs_; k++) vectors += rx_[k]->irq_fd >= 0;
    out.push_back({"rx_wakeup_vectors", vectors});
  }

  void set_promiscuous(bool on) override {
    std::lock_guard<std::mutex> g(ctl_);
    promisc_ = on;
    if (running_ && has(features_, F_CTRL_RX)) {
      const uint8_t v = on ? 1 : 0;
      ctrl_cmd(CTRL_RX, CTRL_RX_PROMISC, &v, 1);
    }
  }

  void set_allmulticast(bool on) override {
    std::lock_guard<std::mutex> g(ctl_);
    allmulti_ = on;
    if (running_ && has(features_, F_CTRL_RX)) {
      const uint8_t v = on ? 1 : 0;
      ctrl_cmd(CTRL_RX, CTRL_RX_ALLMULTI, &v, 1);
    }
  }

  MacAddr mac() const override { return mac_; }

  uint32_t held_mbufs() const override {
    uint64_t n = 0;
    for (uint16_t k = 0; k < max_pairs_; k++) n += rx_[k]->held.get() + tx_[k]->held.get();
    return uint32_t(n);
  }

  uint16_t rx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    Vq& q = *rx_[queue];
    const uint16_t used_idx = q.used_hdr[1];
    uint16_t ready = uint16_t(used_idx - q.last_used);
    if (!ready) return 0;
    if (ready > n) ready = n;
    io_rmb();  // used entries after used->idx (§2.7.14)
    Mbuf* fresh[64];
    if (!pool_.alloc_bulk(q.cache, fresh, ready)) {
      if (q.nombuf) q.nombuf->add(ready);
      return 0;
    }
    const uint16_t mask = uint16_t(q.size - 1);
    uint16_t k = 0;
    for (uint16_t i = 0; i < ready; i++) {
      const UsedElem e{q.used[q.last_used & mask].id, q.used[q.last_used & mask].len};
      q.last_used++;
      const uint16_t id = uint16_t(e.id & mask);
      Mbuf* m = q.sw[id];
      post_rx(q, id, fresh[i]);
      // Length, header, partial checksum and hash, none of it trusted (rx_used.h).
      RxCsum csum;
      if (!rx_used(m, e.len, hdr_, pool_.data_room(), port_id_, queue, &csum)) {
        q.errors.add(1);
        pool_.free_one(q.cache, m);
        continue;
      }
      if (csum == RxCsum::Finished) q.csum_fixed.add(1);
      else if (csum == RxCsum::Valid) q.csum_valid.add(1);
      mbufs[k++] = m;
    }
    q.publish();
    t_.kick(q, false);
    return k;
  }

  // Adaptive idle (driver.h): receiveq k's used-buffer notifications go to MSI-X vector k.
  int rx_wait_fd(uint16_t queue) const override { return queue < rx_.size() ? rx_[queue]->irq_fd : -1; }

  void rx_intr_enable(uint16_t queue) override {
    Vq& q = *rx_[queue];
    if (q.irq_fd < 0) return;
    clear_eventfd(q.irq_fd);
    // §2.7.7: with the flag clear the device notifies after it adds a used
    // buffer. The full barrier orders this store before the lcore's next read of
    // used->idx, as the device orders its used->idx store before reading the
    // flag: a buffer used in between is either seen by that poll or notified.
    q.avail[0] = 0;
    dma_mb();
  }

  void rx_intr_disable(uint16_t queue) override {
    Vq& q = *rx_[queue];
    if (q.irq_fd < 0) return;
    q.avail[0] = AVAIL_F_NO_INTERRUPT;  // §2.7.7: polling again, no notifications (a hint the device may ignore)
  }

  bool tx_l4_csum_offload() const override { return has(features_, F_CSUM); }

  uint16_t tx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    Vq& q = *tx_[queue % tx_pairs_];
    if (shared_tx_) q.lock.lock();
    Mempool::Cache* cache = queue < caches_.size() ? caches_[queue] : nullptr;
    const uint16_t mask = uint16_t(q.size - 1);
    // Reclaim what the device has used (§2.7.14).
    const uint16_t used_idx = q.used_hdr[1];
    if (used_idx != q.last_used) {
      io_rmb();
      Mbuf* done[64];
      uint32_t nd = 0;
      while (q.last_used != used_idx) {
        const uint16_t id = uint16_t(q.used[q.last_used & mask].id & mask);
        q.last_used++;
        done[nd++] = q.sw[id];
        q.sw[id] = nullptr;
        q.free_ids.push_back(id);
        if (nd == 64) {
          pool_.free_bulk(cache, done, nd);
          nd = 0;
        }
      }
      if (nd) pool_.free_bulk(cache, done, nd);
    }
    const uint16_t k = uint16_t(std::min<size_t>(n, q.free_ids.size()));
    for (uint16_t i = 0; i < k; i++) {
      Mbuf* m = mbufs[i];
      const uint16_t id = q.free_ids.back();
      q.free_ids.pop_back();
      uint8_t* h = m->data() - hdr_;
      memset(h, 0, hdr_);  // no GSO (§5.1.6.2)
      if ((m->flags & kMbufTxL4Csum) && has(features_, F_CSUM)) {
        // §5.1.6.2: with VIRTIO_NET_F_CSUM the driver may leave the checksum to
        // the device: NEEDS_CSUM, csum_start where the sum starts, csum_offset
        // where the result goes from there; the field holds the pseudo-header sum.
        auto* nh = reinterpret_cast<NetHdr*>(h);
        nh->flags = HDR_F_NEEDS_CSUM;
        nh->csum_start = m->tx_csum_start;
        nh->csum_offset = m->tx_csum_offset;
        q.csum_offloaded.add(1);
      }
      q.desc[id].addr = dev_->iova(h);
      q.desc[id].len = uint32_t(hdr_ + m->data_len);
      q.desc[id].flags = 0;
      q.desc[id].next = 0;
      q.sw[id] = m;
      q.avail[2 + (q.avail_idx & mask)] = id;
      q.avail_idx++;
    }
    if (k) {
      q.publish();
      t_.kick(q, false);
    }
    q.held.set(q.size - q.free_ids.size());
    if (shared_tx_) q.lock.unlock();
    return k;
  }

 private:
  static uint64_t bit(int b) { return uint64_t(1) << b; }
  uint16_t pick_size(uint32_t asked, uint16_t max, const char* what) const {
    if (max == 0) fail("DEVICE_UNSUPPORTED", scope_ + ": the device reports a queue size of 0");
    uint32_t n = asked ? asked : std::min<uint32_t>(256, max);
    if (!is_pow2(n) || n > max)
      fail("INVALID_OPTION", scope_ + ": " + what + " must be a power of two of at most " + std::to_string(max) + " (the device's queue size), got " + std::to_string(n));
    return uint16_t(n);
  }

  // MSI-X vectors 0..pairs-1 for the receive queues an idle lcore may block on
  // (every rx queue or none: an lcore blocks only when all its queues can wake it).
  // Empty when not asked for, or when the device or the host cannot give them.
  std::vector<int> enable_rx_vectors() {
    bool want = false;
    for (uint16_t k = 0; k < pairs_; k++) want |= rx_[k]->wakeup;
    if (!want || dev_->msix_vectors() < pairs_) return {};
    try {
      return dev_->enable_msix(pairs_);
    } catch (const Error&) {
      return {};
    }
  }

  void post_rx(Vq& q, uint16_t id, Mbuf* m) {
    q.sw[id] = m;
    q.desc[id].addr = dev_->iova(m->data() - hdr_);
    q.desc[id].len = uint32_t(hdr_ + pool_.data_room());
    q.desc[id].flags = DESC_F_WRITE;
    q.desc[id].next = 0;
    q.avail[2 + (q.avail_idx & (q.size - 1))] = id;
    q.avail_idx++;
  }

  // §5.1.6.5: one command on the control queue, waited for.
  void ctrl_cmd(uint8_t cls, uint8_t cmd, const void* data, uint32_t len) {
    if (!ctrl_n_) return;
    if (len > 4096 - 64) fail("INVALID_OPTION", scope_ + ": control command too large");
    uint8_t* hdr = ctrl_buf_;
    uint8_t* payload = ctrl_buf_ + 16;
    uint8_t* ack = ctrl_buf_ + 4096 - 16;
    hdr[0] = cls;
    hdr[1] = cmd;
    memcpy(payload, data, len);
    *ack = 0xff;
    Vq& q = ctrl_;
    const uint16_t mask = uint16_t(q.size - 1);
    q.set_desc(0, dev_->iova(hdr), 2, DESC_F_NEXT, 1);
    q.set_desc(1, dev_->iova(payload), len, DESC_F_NEXT, 2);
    q.set_desc(2, dev_->iova(ack), 1, DESC_F_WRITE, 0);
    q.avail[2 + (q.avail_idx & mask)] = 0;
    q.avail_idx++;
    q.publish();
    t_.kick(q, true);
    for (int i = 0; i < 20000; i++) {
      if (q.used_hdr[1] == q.avail_idx) break;
      sleep_us(50);
    }
    if (q.used_hdr[1] != q.avail_idx) fail("DEVICE_TIMEOUT", scope_ + ": the virtio control queue did not answer (class " + std::to_string(cls) + ")");
    q.last_used = q.used_hdr[1];
    io_rmb();
    if (*reinterpret_cast<volatile uint8_t*>(ack) != CTRL_OK)
      fail("DEVICE_UNSUPPORTED", scope_ + ": the device refused control command class " + std::to_string(cls) + " command " + std::to_string(cmd));
  }

  // §5.1.6.5.7 struct virtio_net_rss_config, with rss.key (or the default key).
  void set_rss() {
    uint16_t table = 1;
    while (table * 2 <= std::min<uint16_t>(rss_table_max_, 128)) table *= 2;
    std::vector<uint8_t> b;
    auto put16 = [&](uint16_t v) { b.push_back(uint8_t(v)); b.push_back(uint8_t(v >> 8)); };
    auto put32 = [&](uint32_t v) { put16(uint16_t(v)); put16(uint16_t(v >> 16)); };
    put32(rss_hash_types_ & (HASH_IPV4 | HASH_TCPV4 | HASH_UDPV4 | HASH_IPV6 | HASH_TCPV6 | HASH_UDPV6));
    put16(uint16_t(table - 1));  // indirection_table_mask
    put16(0);                    // unclassified_queue
    for (uint16_t i = 0; i < table; i++) put16(uint16_t(i % pairs_));  // 0-based receiveq numbers (0 = receiveq1)
    put16(tx_pairs_);            // max_tx_vq
    b.push_back(uint8_t(rss_key_.size()));  // hash_key_length (40..rss_max_key_size, set_rss_key)
    b.insert(b.end(), rss_key_.begin(), rss_key_.end());
    ctrl_cmd(CTRL_MQ, CTRL_MQ_RSS_CONFIG, b.data(), uint32_t(b.size()));
  }

  std::unique_ptr<Device> dev_;
  Mempool& pool_;
  uint16_t port_id_;
  std::string scope_;
  bool promisc_;
  bool allmulti_ = false;
  Transport t_;
  uint64_t offered_ = 0, features_ = 0;
  uint16_t max_pairs_ = 1, pairs_ = 1, tx_pairs_ = 1;
  uint32_t ntx_ = 1;
  bool shared_tx_ = false;
  uint8_t rss_key_max_ = 0;
  std::vector<uint8_t> rss_key_{std::begin(kRssKey), std::end(kRssKey)};
  uint16_t rss_table_max_ = 0;
  uint32_t rss_hash_types_ = 0;
  uint32_t hdr_ = kNetHdrSize;
  uint16_t rx_n_ = 256, tx_n_ = 256, ctrl_n_ = 0;
  uint32_t mtu_ = 1500;
  MacAddr mac_{};
  std::vector<std::unique_ptr<Vq>> rx_, tx_;
  Vq ctrl_;
  uint8_t* ctrl_buf_ = nullptr;
  std::vector<Mempool::Cache*> caches_;
  bool running_ = false;
  mutable std::mutex ctl_;
};

}  // namespace

std::unique_ptr<Driver> make_virtio_net(NicParams&& p) { return std::make_unique<VirtioNet>(std::move(p)); }

}  // namespace lr::vfio
