// Intel 82574L (e1000e) over vfio: reset and init per the datasheet's §4.6, two
// rx and two tx queues whose descriptor rings live in DMA-mapped memory, mbufs
// from the engine's mempool given to the NIC as they are (zero copy), RSS in
// hardware (MRQC/RETA/RSSRK, with rss.key), statistics registers as xstats, link
// from STATUS, MSI-X rx interrupts for adaptive idle (IVAR/EIAC/IMS).
// Registers and descriptor bits: e1000e_regs.h, each with its datasheet section.
//
// Ownership: every rx descriptor holds an mbuf from start() to stop() (held_mbufs
// counts ring size per queue); a transmitted mbuf is held until the NIC writes
// its descriptor back (RS -> DD), then freed on a later tx_burst or in stop().
// stop() resets the MAC first, so no DMA is in flight when the mbufs go back.
//
// Queues: the engine's rx queue q is the NIC's queue q (rxQueues <= 2). Tx: the
// engine has one tx queue per lcore; with more lcores than 2, lcores share a
// NIC queue under a spinlock (queue i -> NIC queue i % 2).
#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "drivers/e1000e/e1000e_regs.h"
#include "drivers/e1000e/rx_writeback.h"
#include "drivers/vfio/nic.h"

namespace lr::vfio {

namespace {

using namespace lr::e1000e;

// The default RSS key (rss.key replaces it): the one from Microsoft's RSS
// specification (also the engine's software RSS default), so hardware and
// software hashes agree.
constexpr uint8_t kRssKey[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
                                 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
                                 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

class E1000e final : public Driver {
 public:
  explicit E1000e(NicParams&& p)
      : dev_(std::move(p.dev)), pool_(*p.pool), port_id_(p.port_id), scope_(p.scope), promisc_(p.promiscuous) {
    rx_n_ = p.rx_ring ? p.rx_ring : 512;
    tx_n_ = p.tx_ring ? p.tx_ring : 512;
    for (uint32_t n : {rx_n_, tx_n_})
      if (!is_pow2(n) || n < 64 || n > 4096)
        fail("INVALID_OPTION", scope_ + ": rxRingSize/txRingSize must be a power of two in [64, 4096], got " + std::to_string(n));
    // BSIZE (§10.2.5.1): the largest of 2048/1024/512/256 that fits the data room.
    const uint32_t room = pool_.data_room();
    if (room < 256) fail("INVALID_OPTION", scope_ + ": e1000e needs mempool.dataRoom >= 256");
    buf_size_ = room >= 2048 ? 2048 : room >= 1024 ? 1024 : room >= 512 ? 512 : 256;
    std::copy(std::begin(kRssKey), std::end(kRssKey), rss_key_);
    bar_ = &dev_->bar(0);
    if (!bar_->mapped()) fail("DEVICE_UNSUPPORTED", scope_ + ": BAR 0 of the 82574 cannot be mapped");
    // Ring memory: 2 rx + 2 tx rings, each 128-byte aligned (§10.2.5.6); 4 KiB apart here.
    const size_t rx_bytes = align(size_t(rx_n_) * sizeof(RxDesc)), tx_bytes = align(size_t(tx_n_) * sizeof(TxDesc));
    uint8_t* mem = dev_->alloc_dma(2 * rx_bytes + 2 * tx_bytes, "descriptor rings");
    for (int q = 0; q < 2; q++) {
      rx_[q].ring = reinterpret_cast<volatile RxDesc*>(mem + q * rx_bytes);
      tx_[q].ring = reinterpret_cast<volatile TxDesc*>(mem + 2 * rx_bytes + q * tx_bytes);
      rx_[q].sw.assign(rx_n_, nullptr);
      tx_[q].sw.assign(tx_n_, nullptr);
    }
    reset_mac();
    mac_ = read_mac();
    // The statistics registers clear on read: start from zero for this port.
    read_stats_locked();
    std::fill(std::begin(totals_), std::end(totals_), 0);
  }

  ~E1000e() override { close(); }

  DriverInfo info() const override {
    DriverInfo i;
    i.driver = "vfio";
    i.max_rx_queues = 2;
    i.max_tx_queues = 2;
    i.hw_rss = true;
    i.mtu = 1500;
    i.details = {{"model", "e1000e (Intel 82574L)"},
                 {"pci", dev_->pci()},
                 {"iommuGroup", std::to_string(dev_->iommu_group())},
                 {"dma", dev_->no_iommu() ? "physical addresses (no-IOMMU mode)" : "IOMMU, IOVA = virtual address"},
                 {"reset", dev_->can_reset() ? "VFIO_DEVICE_RESET + CTRL.RST" : "CTRL.RST"},
                 {"rxRingSize", std::to_string(rx_n_)},
                 {"txRingSize", std::to_string(tx_n_)},
                 {"msixVectors", std::to_string(dev_->msix_vectors())}};
    return i;
  }

  void configure(uint16_t rxq, uint16_t txq) override {
    if (rxq < 1 || rxq > 2) fail("INVALID_OPTION", scope_ + ": the 82574 has 2 rx queues, " + std::to_string(rxq) + " asked for");
    nrx_ = rxq;
    ntx_ = txq;
    caches_.assign(txq, nullptr);
  }
  void setup_rx_queue(const QueueSetup& q) override {
    rx_[q.queue_id].cache = q.cache;
    rx_[q.queue_id].nombuf = q.nombuf;
    rx_[q.queue_id].wakeup = q.rx_wakeup;
  }

  // §10.2.5.25: RSSRK holds exactly 40 key bytes (ten registers).
  bool set_rss_key(const std::vector<uint8_t>& key) override {
    if (key.size() != sizeof rss_key_)
      fail("RSS_KEY_UNSUPPORTED", scope_ + ": the 82574's RSS key (RSSRK) is 40 bytes; rss.key has " + std::to_string(key.size()) +
                                      ": give 40 bytes");
    std::copy(key.begin(), key.end(), rss_key_);
    return true;
  }
  void setup_tx_queue(const QueueSetup& q) override { caches_.at(q.queue_id) = q.cache; }

  void start() override {
    std::lock_guard<std::mutex> g(ctl_);
    reset_mac();
    dev_->set_bus_master(true);
    // §4.6.2-4.6.3: link. Copper with auto-negotiation: CTRL.SLU, no forcing.
    w(CTRL, (r(CTRL) | CTRL_SLU | CTRL_ASDE) & ~(CTRL_FRCSPD | CTRL_FRCDPX | CTRL_PHY_RST));
    w(CTRL_EXT, r(CTRL_EXT) | CTRL_EXT_DRV_LOAD);
    // §4.6.5: receive address and multicast table.
    for (uint32_t i = 0; i < 128; i++) w(MTA + 4 * i, 0);
    w(RAL0, uint32_t(mac_[0]) | uint32_t(mac_[1]) << 8 | uint32_t(mac_[2]) << 16 | uint32_t(mac_[3]) << 24);
    w(RAH0, uint32_t(mac_[4]) | uint32_t(mac_[5]) << 8 | (1u << 31) /* AV: address valid */);
    read_stats_locked();  // fold what the counters hold into the totals before they restart
    // §4.6.6 / §7.1: receive rings. Every descriptor gets an mbuf; the tail is one
    // behind the head so the ring never looks empty to the NIC (§7.1.x "RDH == RDT").
    for (uint32_t q = 0; q < 2; q++) {
      RxQ& rq = rx_[q];
      const uint64_t ring = dev_->iova(const_cast<RxDesc*>(rq.ring));
      w(RDBAL0 + q * kQueueStride, uint32_t(ring));
      w(RDBAH0 + q * kQueueStride, uint32_t(ring >> 32));
      w(RDLEN0 + q * kQueueStride, q < nrx_ ? rx_n_ * uint32_t(sizeof(RxDesc)) : 0);
      w(RDH0 + q * kQueueStride, 0);
      w(RDT0 + q * kQueueStride, 0);
      rq.next = 0;
      if (q >= nrx_) continue;
      if (!pool_.alloc_bulk(nullptr, rq.sw.data(), rx_n_))
        fail("MEMORY_UNAVAILABLE", scope_ + ": the mempool has fewer than " + std::to_string(rx_n_) +
                                       " free mbufs for the rx ring; raise mempool.mbufs or lower rxRingSize");
      for (uint32_t i = 0; i < rx_n_; i++) arm(rq, i, rq.sw[i]);
      rq.held.set(rx_n_);
    }
    w(RDTR, 0);  // no interrupt delay: we poll
    w(RADV, 0);
    // §7.1.4: extended descriptors, so the write-back carries the RSS hash (with RXCSUM.PCSD).
    w(RFCTL, RFCTL_EXTEN | RFCTL_NFSW_DIS | RFCTL_NFSR_DIS | RFCTL_ISCSI_DIS);
    w(RXCSUM, RXCSUM_PCSD | RXCSUM_IPOFLD | RXCSUM_TUOFLD);
    // §7.1.10 RSS: the key, the redirection table (entries alternate the queues
    // when there are two), and MRQC last. With one queue the hash is still
    // computed and lands in mbuf.rss_hash.
    // RSSRK n holds key bytes 4n (bits 7:0) to 4n+3 (bits 31:24); byte 0 is the
    // first (most significant) byte of the Toeplitz key.
    for (uint32_t i = 0; i < 10; i++)
      w(RSSRK + 4 * i, uint32_t(rss_key_[4 * i]) | uint32_t(rss_key_[4 * i + 1]) << 8 | uint32_t(rss_key_[4 * i + 2]) << 16 |
                           uint32_t(rss_key_[4 * i + 3]) << 24);
    for (uint32_t i = 0; i < 32; i++) {
      uint32_t v = 0;
      for (uint32_t b = 0; b < 4; b++) v |= uint32_t((nrx_ == 2 && ((4 * i + b) & 1)) ? RETA_QUEUE1 : 0) << (8 * b);
      w(RETA + 4 * i, v);
    }
    w(MRQC, MRQC_RSS_ENABLE | MRQC_TCPIPV4 | MRQC_IPV4 | MRQC_TCPIPV6 | MRQC_IPV6EX | MRQC_IPV6);
    for (uint32_t q = 0; q < nrx_; q++) w(RDT0 + q * kQueueStride, rx_n_ - 1);
    // §4.6.7 / §7.2: transmit rings, both queues enabled in arbitration (TARC.Enable).
    ntx_hw_ = std::min<uint32_t>(2, std::max<uint32_t>(1, ntx_));
    shared_tx_ = ntx_ > ntx_hw_;
    for (uint32_t q = 0; q < 2; q++) {
      TxQ& tq = tx_[q];
      const uint64_t ring = dev_->iova(const_cast<TxDesc*>(tq.ring));
      w(TDBAL0 + q * kQueueStride, uint32_t(ring));
      w(TDBAH0 + q * kQueueStride, uint32_t(ring >> 32));
      w(TDLEN0 + q * kQueueStride, tx_n_ * uint32_t(sizeof(TxDesc)));
      w(TDH0 + q * kQueueStride, 0);
      w(TDT0 + q * kQueueStride, 0);
      w(TXDCTL0 + q * kQueueStride, TXDCTL_GRAN | TXDCTL_COUNT_DESC | (1u << 16) /* WTHRESH 1 */);
      w(TARC0 + q * kQueueStride, r(TARC0 + q * kQueueStride) | (q < ntx_hw_ ? TARC_ENABLE : 0));
      for (uint32_t i = 0; i < tx_n_; i++) {
        tq.ring[i].buffer_addr = 0;
        tq.ring[i].lower = 0;
        tq.ring[i].upper = 0;
      }
      tq.tail = tq.clean = 0;
      tq.held.set(0);
    }
    w(TIPG, TIPG_DEFAULT);
    w(TCTL, TCTL_EN | TCTL_PSP | (15u << TCTL_CT_SHIFT) | (63u << TCTL_COLD_SHIFT) | TCTL_RTLC);
    // §10.2.5.1: receive on, broadcast accepted, CRC stripped, buffer size.
    const uint32_t bsize = buf_size_ == 2048 ? 0 : buf_size_ == 1024 ? 1 : buf_size_ == 512 ? 2 : 3;
    w(RCTL, RCTL_EN | RCTL_BAM | RCTL_SECRC | (bsize << RCTL_BSIZE_SHIFT) | rx_filter_bits());
    if (!(r(STATUS) & STATUS_LU)) restart_autoneg();
    setup_rx_interrupts();
    running_ = true;
  }

  void stop() override {
    std::lock_guard<std::mutex> g(ctl_);
    if (!running_) return;
    // Receive and transmit off, then a MAC reset (§4.6.1): no DMA after this.
    w(RCTL, 0);
    w(TCTL, TCTL_PSP);
    (void)r(STATUS);
    sleep_us(1000);
    read_stats_locked();
    reset_mac();  // masks every interrupt first
    dev_->disable_msix();
    for (auto& q : rx_) q.irq_fd = -1;
    for (uint32_t q = 0; q < 2; q++) {
      RxQ& rq = rx_[q];
      if (q < nrx_) pool_.free_bulk(nullptr, rq.sw.data(), rx_n_);
      std::fill(rq.sw.begin(), rq.sw.end(), nullptr);
      rq.held.set(0);
      TxQ& tq = tx_[q];
      for (uint32_t i = tq.clean; i != tq.tail; i = (i + 1) & (tx_n_ - 1)) {
        pool_.free_one(nullptr, tq.sw[i]);
        tq.sw[i] = nullptr;
      }
      tq.clean = tq.tail = 0;
      tq.held.set(0);
    }
    running_ = false;
  }

  void close() override {
    if (!dev_) return;
    stop();
    {
      std::lock_guard<std::mutex> g(ctl_);
      w(CTRL_EXT, r(CTRL_EXT) & ~CTRL_EXT_DRV_LOAD);
    }
    dev_->close();  // VFIO reset, bus master off, DMA unmapped
    dev_.reset();
    bar_ = nullptr;
  }

  LinkStatus link() const override {
    if (!bar_) return {false, 0};
    const uint32_t s = bar_->read32(STATUS);
    static const uint64_t speeds[4] = {10, 100, 1000, 1000};
    return {(s & STATUS_LU) != 0, (s & STATUS_LU) ? speeds[(s >> STATUS_SPEED_SHIFT) & 3] : 0};
  }

  void xstats(XStats& out) const override {
    std::lock_guard<std::mutex> g(ctl_);
    if (bar_) read_stats_locked();
    for (size_t i = 0; i < std::size(kStats); i++) out.push_back({kStats[i].name, totals_[i]});
    uint64_t rx_err = 0;
    for (auto& q : rx_) rx_err += q.errors.get();
    out.push_back({"rx_descriptor_errors", rx_err});
    out.push_back({"rx_wakeup_vectors", uint64_t((rx_[0].irq_fd >= 0) + (rx_[1].irq_fd >= 0))});
  }

  void set_promiscuous(bool on) override {
    std::lock_guard<std::mutex> g(ctl_);
    promisc_ = on;
    if (!bar_ || !running_) return;
    w(RCTL, (r(RCTL) & ~(RCTL_UPE | RCTL_MPE)) | rx_filter_bits());
  }

  void set_allmulticast(bool on) override {
    std::lock_guard<std::mutex> g(ctl_);
    allmulti_ = on;
    if (!bar_ || !running_) return;
    w(RCTL, (r(RCTL) & ~(RCTL_UPE | RCTL_MPE)) | rx_filter_bits());
  }

  MacAddr mac() const override { return mac_; }

  uint32_t held_mbufs() const override {
    uint64_t n = 0;
    for (auto& q : rx_) n += q.held.get();
    for (auto& q : tx_) n += q.held.get();
    return uint32_t(n);
  }

  uint16_t rx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    RxQ& q = rx_[queue];
    const uint32_t mask = rx_n_ - 1;
    uint32_t idx = q.next, ready = 0;
    while (ready < n && (q.ring[(idx + ready) & mask].wb.status_error & RXD_STAT_DD)) ready++;
    if (!ready) return 0;
    io_rmb();  // the rest of a descriptor after its DD bit
    Mbuf* fresh[64];
    if (!pool_.alloc_bulk(q.cache, fresh, ready)) {
      // Leave them on the ring: the NIC drops (and counts, RNBC) when it is full.
      if (q.nombuf) q.nombuf->add(ready);
      return 0;
    }
    uint16_t k = 0;
    for (uint32_t i = 0; i < ready; i++, idx = (idx + 1) & mask) {
      volatile RxDesc& d = q.ring[idx];
      const uint32_t st = d.wb.status_error;
      const uint16_t len = d.wb.length;
      const uint32_t mrq = d.wb.mrq, hash = d.wb.rss_hash;
      Mbuf* m = q.sw[idx];
      arm(q, idx, fresh[i]);
      // Frames spanning descriptors, bad frames and impossible lengths are
      // dropped whole and counted (rx_writeback.h).
      if (!rx_writeback(m, st, len, mrq, hash, buf_size_, port_id_, queue, &q.discarding)) {
        q.errors.add(1);
        pool_.free_one(q.cache, m);
        continue;
      }
      mbufs[k++] = m;
    }
    q.next = idx;
    io_wmb();
    bar_->write32(RDT0 + queue * kQueueStride, (idx - 1) & mask);
    return k;
  }

  // Adaptive idle (driver.h): queue q's cause RXQq raises MSI-X vector q.
  int rx_wait_fd(uint16_t queue) const override { return queue < 2 ? rx_[queue].irq_fd : -1; }

  void rx_intr_enable(uint16_t queue) override {
    RxQ& q = rx_[queue];
    if (q.irq_fd < 0) return;
    clear_eventfd(q.irq_fd);
    // A cause latched while masked would fire the moment it is unmasked: clear
    // it (ICR bits are write-1-to-clear, §10.2.4.1), then unmask (IMS, §10.2.4.4;
    // write-1-to-set, so lcores arming their own queues do not race). A packet
    // that lands between the two raises the interrupt at the IMS write; one
    // before the ICR write is found by the lcore's next poll.
    const uint32_t cause = queue ? ICR_RXQ1 : ICR_RXQ0;
    w(ICR, cause);
    w(IMS, cause);
  }

  void rx_intr_disable(uint16_t queue) override {
    if (rx_[queue].irq_fd < 0) return;
    // §10.2.4.5: IMC is write-1-to-clear. After an interrupt EIAC has masked the
    // cause already; this covers a wait that ended by timeout or by stop.
    w(IMC, queue ? ICR_RXQ1 : ICR_RXQ0);
  }

  uint16_t tx_burst(uint16_t queue, Mbuf** mbufs, uint16_t n) override {
    const uint32_t hq = queue % ntx_hw_;
    TxQ& q = tx_[hq];
    if (shared_tx_) q.lock.lock();
    Mempool::Cache* cache = queue < caches_.size() ? caches_[queue] : nullptr;
    const uint32_t mask = tx_n_ - 1;
    // Reclaim what the NIC has sent (DD written back because of RS).
    Mbuf* done[64];
    uint32_t nd = 0;
    while (q.clean != q.tail && (q.ring[q.clean].upper & TXD_STAT_DD)) {
      done[nd++] = q.sw[q.clean];
      q.sw[q.clean] = nullptr;
      q.clean = (q.clean + 1) & mask;
      if (nd == 64) {
        pool_.free_bulk(cache, done, nd);
        nd = 0;
      }
    }
    if (nd) pool_.free_bulk(cache, done, nd);
    const uint32_t inflight = (q.tail - q.clean) & mask;
    const uint32_t room = tx_n_ - 1 - inflight;
    const uint16_t k = uint16_t(std::min<uint32_t>(n, room));
    for (uint16_t i = 0; i < k; i++) {
      Mbuf* m = mbufs[i];
      volatile TxDesc& d = q.ring[q.tail];
      d.buffer_addr = dev_->iova(m->data());
      d.upper = 0;
      d.lower = uint32_t(m->data_len) | TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS;
      q.sw[q.tail] = m;
      q.tail = (q.tail + 1) & mask;
    }
    if (k) {
      io_wmb();
      bar_->write32(TDT0 + hq * kQueueStride, q.tail);
    }
    q.held.set((q.tail - q.clean) & mask);
    if (shared_tx_) q.lock.unlock();
    return k;
  }

 private:
  struct alignas(64) RxQ {
    volatile RxDesc* ring = nullptr;
    std::vector<Mbuf*> sw;
    uint32_t next = 0;
    bool discarding = false;
    Mempool::Cache* cache = nullptr;
    Counter* nombuf = nullptr;
    Counter held, errors;
    bool wakeup = false;  // an idle lcore may block on this queue's interrupt
    int irq_fd = -1;      // its MSI-X eventfd while started (owned by dev_)
  };
  struct alignas(64) TxQ {
    volatile TxDesc* ring = nullptr;
    std::vector<Mbuf*> sw;
    uint32_t tail = 0, clean = 0;
    TxLock lock;
    Counter held;
  };

  static size_t align(size_t v) { return (v + 4095) & ~size_t(4095); }
  uint32_t r(uint32_t reg) const { return bar_->read32(reg); }
  void w(uint32_t reg, uint32_t v) const { bar_->write32(reg, v); }
  // §10.2.5.1 RCTL: UPE and MPE (unicast and multicast promiscuous) for promiscuous
  // mode; MPE alone for all-multicast (the MTA stays empty: we list no groups).
  uint32_t rx_filter_bits() const { return (promisc_ ? RCTL_UPE | RCTL_MPE : 0) | (allmulti_ ? RCTL_MPE : 0); }

  void arm(RxQ& q, uint32_t i, Mbuf* m) {
    q.sw[i] = m;
    q.ring[i].read.buffer_addr = dev_->iova(m->data());
    q.ring[i].read.zero = 0;  // clears DD
  }

  // §4.6.1: mask interrupts, stop rx/tx, quiesce master requests, CTRL.RST, mask again.
  void reset_mac() {
    w(IMC, ~0u);
    w(RCTL, 0);
    w(TCTL, TCTL_PSP);
    (void)r(STATUS);
    sleep_us(1000);
    w(CTRL, r(CTRL) | CTRL_GIO_MASTER_DISABLE);
    for (int i = 0; i < 100 && (r(STATUS) & STATUS_GIO_MASTER_ENABLE); i++) sleep_us(100);
    w(CTRL, r(CTRL) | CTRL_RST);
    sleep_us(3000);  // the reset completes within 1 ms; the NVM auto-read takes a little longer
    w(CTRL, r(CTRL) & ~CTRL_GIO_MASTER_DISABLE);
    w(IMC, ~0u);
    (void)r(ICR);
  }

  MacAddr read_mac() {
    MacAddr m{};
    const uint32_t lo = r(RAL0), hi = r(RAH0);
    if (hi & (1u << 31)) {
      for (int i = 0; i < 4; i++) m[i] = uint8_t(lo >> (8 * i));
      m[4] = uint8_t(hi);
      m[5] = uint8_t(hi >> 8);
      return m;
    }
    // §10.2.2.4: the MAC is NVM words 0-2.
    for (uint32_t word = 0; word < 3; word++) {
      w(EERD, (word << EERD_ADDR_SHIFT) | EERD_START);
      uint32_t v = 0;
      for (int i = 0; i < 1000 && !((v = r(EERD)) & EERD_DONE); i++) sleep_us(10);
      if (!(v & EERD_DONE)) fail("DEVICE_TIMEOUT", scope_ + ": reading the MAC address from the NVM timed out");
      m[2 * word] = uint8_t(v >> EERD_DATA_SHIFT);
      m[2 * word + 1] = uint8_t(v >> (EERD_DATA_SHIFT + 8));
    }
    return m;
  }

  // MSI-X for the rx queues an idle lcore may block on (adaptive idle): queue q
  // -> vector q, every cause still masked (IMS is set per wait by rx_intr_enable).
  // When the vectors cannot be had, the queues have no wake-up fd and the lcore
  // sleeps in steps instead (visible as xstats rx_wakeup_vectors 0).
  void setup_rx_interrupts() {
    bool want = false;
    for (uint32_t q = 0; q < nrx_; q++) want |= rx_[q].wakeup;
    if (!want || dev_->msix_vectors() < nrx_) return;
    std::vector<int> fds;
    try {
      fds = dev_->enable_msix(nrx_);
    } catch (const Error&) {
      return;
    }
    uint32_t ivar = 0;
    for (uint32_t q = 0; q < nrx_; q++) ivar |= (q | IVAR_VALID) << (IVAR_RXQ_SHIFT * q);
    w(IMC, ~0u);
    w(IVAR, ivar);                  // §10.2.4.9: RxQ0 -> vector 0, RxQ1 -> vector 1, nothing else
    w(EIAC, ICR_RXQ0 | ICR_RXQ1);   // §10.2.4.6: auto-clear and auto-mask after each message
    w(IAM, 0);                      // §10.2.4.7: nothing masked on ICR access
    // §10.2.2.5: PBA support on for MSI-X; IAME off (the EIAC auto-mask above needs no ICR access).
    w(CTRL_EXT, (r(CTRL_EXT) | CTRL_EXT_PBA_SUPPORT) & ~CTRL_EXT_IAME);
    w(ICR, ~0u);
    for (uint32_t q = 0; q < nrx_; q++) rx_[q].irq_fd = fds[q];
  }

  // PHY register 0: auto-negotiation enable + restart (IEEE 802.3 clause 22), through MDIC.
  void restart_autoneg() {
    w(MDIC, uint32_t(PHY_CTRL_AN_ENABLE | PHY_CTRL_RESTART_AN) | (PHY_CTRL << MDIC_REG_SHIFT) | (1u << MDIC_PHY_SHIFT) | MDIC_OP_WRITE);
    for (int i = 0; i < 100 && !(r(MDIC) & MDIC_READY); i++) sleep_us(10);
  }

  void read_stats_locked() const {
    for (size_t i = 0; i < std::size(kStats); i++) {
      uint64_t v = r(kStats[i].reg);
      if (kStats[i].pair) v |= uint64_t(r(kStats[i].reg + 4)) << 32;
      totals_[i] += v;
    }
  }

  std::unique_ptr<Device> dev_;
  const Bar* bar_ = nullptr;
  Mempool& pool_;
  uint16_t port_id_;
  std::string scope_;
  bool promisc_;
  bool allmulti_ = false;
  uint32_t rx_n_, tx_n_, buf_size_;
  uint32_t nrx_ = 1, ntx_ = 1, ntx_hw_ = 1;
  bool shared_tx_ = false;
  bool running_ = false;
  MacAddr mac_{};
  RxQ rx_[2];
  TxQ tx_[2];
  std::vector<Mempool::Cache*> caches_;
  uint8_t rss_key_[40];
  mutable std::mutex ctl_;
  mutable uint64_t totals_[std::size(kStats)] = {};
};

}  // namespace

std::unique_ptr<Driver> make_e1000e(NicParams&& p) { return std::make_unique<E1000e>(std::move(p)); }

}  // namespace lr::vfio
