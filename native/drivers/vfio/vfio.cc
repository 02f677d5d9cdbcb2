// A vfio PCI device (Documentation/driver-api/vfio.rst): config space, BARs,
// DMA mappings through the process's container, MSI-X eventfds. The
// container and groups are container.h; the sysfs preflight is host.cc.
#include "drivers/vfio/vfio.h"

#include <fcntl.h>
#include <linux/vfio.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "drivers/vfio/container.h"
#include "drivers/vfio/host.h"
#include "drivers/vfio/pci_regs.h"

namespace lr::vfio {

std::unique_ptr<Device> Device::open(const std::string& pci_in, const OpenOptions& o) {
  const int number = check_device(pci_in, o);
  std::unique_ptr<Device> d(new Device());
  d->pci_ = normalize(pci_in, o.scope);
  d->scope_ = o.scope;
  d->group_number_ = number;
  d->no_iommu_ = o.no_iommu && exists("/dev/vfio/noiommu-" + std::to_string(number));
  d->container_ = Container::get(d->no_iommu_);
  d->group_ = Group::get(number, d->no_iommu_, d->container_, o.scope);
  d->fd_ = ioctl(d->group_->fd(), VFIO_GROUP_GET_DEVICE_FD, d->pci_.c_str());
  if (d->fd_ < 0) {
    const int e = errno;
    fail(e == EBUSY ? "DEVICE_IN_USE" : "VFIO_SETUP",
         o.scope + ": VFIO_GROUP_GET_DEVICE_FD " + d->pci_ + " failed: " + errno_text(e) +
             (e == EBUSY ? "; another port of this process or another process has it open" : ""));
  }
  vfio_device_info info{};
  info.argsz = sizeof info;
  if (ioctl(d->fd_, VFIO_DEVICE_GET_INFO, &info) != 0) fail("VFIO_SETUP", o.scope + ": VFIO_DEVICE_GET_INFO failed: " + errno_text(errno));
  if (!(info.flags & VFIO_DEVICE_FLAGS_PCI)) fail("DEVICE_UNSUPPORTED", o.scope + ": " + d->pci_ + " is not a vfio PCI device");
  d->can_reset_ = info.flags & VFIO_DEVICE_FLAGS_RESET;
  d->num_regions_ = info.num_regions;
  vfio_region_info cfg{};
  cfg.argsz = sizeof cfg;
  cfg.index = VFIO_PCI_CONFIG_REGION_INDEX;
  if (ioctl(d->fd_, VFIO_DEVICE_GET_REGION_INFO, &cfg) != 0)
    fail("VFIO_SETUP", o.scope + ": cannot find the config region: " + errno_text(errno));
  d->cfg_offset_ = cfg.offset;
  vfio_irq_info irq{};
  irq.argsz = sizeof irq;
  irq.index = VFIO_PCI_MSIX_IRQ_INDEX;
  if (info.num_irqs > VFIO_PCI_MSIX_IRQ_INDEX && ioctl(d->fd_, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0) d->msix_count_ = irq.count;
  d->vendor_ = d->cfg_read16(pci::kVendorId);
  d->device_ = d->cfg_read16(pci::kDeviceId);
  if (d->no_iommu_)
    fprintf(stderr, "linerate: warning: %s: %s runs in vfio no-IOMMU mode: the device can DMA anywhere in memory (noIommu: true)\n",
            o.scope.c_str(), d->pci_.c_str());
  // A previous owner (even one killed with -9) may have left it running: reset first.
  d->reset();
  return d;
}

Device::~Device() { close(); }

void Device::close() {
  if (fd_ < 0) return;
  disable_msix();
  set_bus_master(false);
  reset();
  for (auto& b : bars_) {
    if (b.ptr_) munmap(const_cast<uint8_t*>(b.ptr_), b.size_);
    b = Bar{};
  }
  for (const void* va : mapped_) container_->unmap(va);
  mapped_.clear();
  phys_.clear();
  dma_regions_.clear();
  ::close(fd_);
  fd_ = -1;
  group_.reset();
  container_.reset();
}

uint8_t Device::cfg_read8(uint32_t off) const {
  uint8_t v = 0xff;
  if (pread(fd_, &v, 1, off_t(cfg_offset_ + off)) != 1) return 0xff;
  return v;
}
uint16_t Device::cfg_read16(uint32_t off) const {
  uint16_t v = 0xffff;
  if (pread(fd_, &v, 2, off_t(cfg_offset_ + off)) != 2) return 0xffff;
  return v;
}
uint32_t Device::cfg_read32(uint32_t off) const {
  uint32_t v = ~0u;
  if (pread(fd_, &v, 4, off_t(cfg_offset_ + off)) != 4) return ~0u;
  return v;
}
void Device::cfg_write16(uint32_t off, uint16_t v) const {
  if (pwrite(fd_, &v, 2, off_t(cfg_offset_ + off)) != 2) fail("VFIO_SETUP", scope_ + ": config write at " + hex(off) + " failed: " + errno_text(errno));
}
void Device::cfg_write32(uint32_t off, uint32_t v) const {
  if (pwrite(fd_, &v, 4, off_t(cfg_offset_ + off)) != 4) fail("VFIO_SETUP", scope_ + ": config write at " + hex(off) + " failed: " + errno_text(errno));
}

std::vector<uint32_t> Device::find_caps(uint8_t id) const {
  std::vector<uint32_t> v;
  if (!(cfg_read16(pci::kStatus) & pci::kStatusCapList)) return v;
  uint32_t p = cfg_read8(pci::kCapPointer) & 0xfc;
  for (int guard = 0; p && guard < 48; guard++) {
    if (cfg_read8(p) == id) v.push_back(p);
    p = cfg_read8(p + 1) & 0xfc;
  }
  return v;
}

void Device::map_bar(int i) {
  vfio_region_info r{};
  r.argsz = sizeof r;
  r.index = uint32_t(i);
  if (ioctl(fd_, VFIO_DEVICE_GET_REGION_INFO, &r) != 0 || r.size == 0)
    fail("DEVICE_UNSUPPORTED", scope_ + ": " + pci_ + " has no BAR " + std::to_string(i));
  Bar& b = bars_[i];
  b.fd_ = fd_;
  b.fd_offset_ = r.offset;
  b.size_ = r.size;
  if (r.flags & VFIO_REGION_INFO_FLAG_MMAP) {
    void* p = mmap(nullptr, r.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, off_t(r.offset));
    if (p != MAP_FAILED) b.ptr_ = static_cast<volatile uint8_t*>(p);
  }
  // Otherwise (an I/O BAR, or a BAR whose MSI-X table makes it unmappable) every
  // access is a pread/pwrite on the device fd: slower, still correct.
}

const Bar& Device::bar(int i) {
  if (i < 0 || i > 5) fail("DEVICE_UNSUPPORTED", scope_ + ": BAR index " + std::to_string(i));
  if (!bars_[i].valid()) map_bar(i);
  return bars_[i];
}

uint32_t Bar::read32(uint32_t off) const {
  if (ptr_) return *reinterpret_cast<volatile uint32_t*>(ptr_ + off);
  uint32_t v = ~0u;
  if (pread(fd_, &v, 4, off_t(fd_offset_ + off)) != 4) return ~0u;
  return v;
}
void Bar::write32(uint32_t off, uint32_t v) const {
  if (ptr_) {
    *reinterpret_cast<volatile uint32_t*>(ptr_ + off) = v;
    return;
  }
  (void)!pwrite(fd_, &v, 4, off_t(fd_offset_ + off));
}
uint16_t Bar::read16(uint32_t off) const {
  if (ptr_) return *reinterpret_cast<volatile uint16_t*>(ptr_ + off);
  uint16_t v = 0xffff;
  if (pread(fd_, &v, 2, off_t(fd_offset_ + off)) != 2) return 0xffff;
  return v;
}
void Bar::write16(uint32_t off, uint16_t v) const {
  if (ptr_) {
    *reinterpret_cast<volatile uint16_t*>(ptr_ + off) = v;
    return;
  }
  (void)!pwrite(fd_, &v, 2, off_t(fd_offset_ + off));
}
uint8_t Bar::read8(uint32_t off) const {
  if (ptr_) return ptr_[off];
  uint8_t v = 0xff;
  if (pread(fd_, &v, 1, off_t(fd_offset_ + off)) != 1) return 0xff;
  return v;
}
void Bar::write8(uint32_t off, uint8_t v) const {
  if (ptr_) {
    ptr_[off] = v;
    return;
  }
  (void)!pwrite(fd_, &v, 1, off_t(fd_offset_ + off));
}

bool Device::reset() {
  if (fd_ < 0 || !can_reset_) return false;
  return ioctl(fd_, VFIO_DEVICE_RESET) == 0;
}

void Device::set_bus_master(bool on) {
  if (fd_ < 0) return;
  uint16_t cmd = cfg_read16(pci::kCommand);
  if (cmd == 0xffff) return;
  // Memory space on (the BARs), INTx off: linerate polls, or uses MSI-X.
  cmd |= pci::kCommandMemory | pci::kCommandIntxDisable;
  if (on) cmd |= pci::kCommandBusMaster;
  else cmd &= uint16_t(~pci::kCommandBusMaster);
  cfg_write16(pci::kCommand, cmd);
}

void Device::dma_map(const void* va, size_t len) {
  len = (len + 4095) & ~size_t(4095);
  if (no_iommu_) {
    // Physical addresses from /proc/self/pagemap (Documentation/admin-guide/mm/pagemap.rst):
    // 64-bit entry per 4 KiB page, bits 0-54 PFN, bit 63 present.
    PhysRange r{reinterpret_cast<uintptr_t>(va), len, 4096, {}};
    const int pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pm < 0) fail("VFIO_SETUP", scope_ + ": cannot open /proc/self/pagemap: " + errno_text(errno));
    const size_t pages = len / 4096;
    std::vector<uint64_t> ent(pages);
    const ssize_t want = ssize_t(pages * 8);
    const ssize_t got = pread(pm, ent.data(), size_t(want), off_t((r.base / 4096) * 8));
    ::close(pm);
    if (got != want) fail("VFIO_SETUP", scope_ + ": reading /proc/self/pagemap failed");
    for (size_t i = 0; i < pages; i++) {
      const uint64_t pfn = ent[i] & ((uint64_t(1) << 55) - 1);
      if (!(ent[i] >> 63) || pfn == 0)
        fail("VFIO_SETUP", scope_ + ": no physical address for DMA memory (page not present, or no CAP_SYS_ADMIN to read PFNs); run as root");
      r.pa.push_back(pfn * 4096);
      // Buffers may cross page boundaries, so the whole range must be contiguous.
      if (i && r.pa[i] != r.pa[i - 1] + 4096)
        fail("VFIO_SETUP", scope_ + ": no-IOMMU mode needs physically contiguous DMA memory and this range is not (at +" +
                               std::to_string(i * 4096) + "); use 1 GiB hugepages (mempool.hugepageSize: '1G'), a smaller pool, or the IOMMU");
    }
    phys_.push_back(std::move(r));
  }
  container_->map(va, len, scope_);
  mapped_.push_back(va);
}

void Device::dma_unmap(const void* va) {
  for (size_t i = 0; i < mapped_.size(); i++) {
    if (mapped_[i] != va) continue;
    container_->unmap(va);
    mapped_.erase(mapped_.begin() + long(i));
    for (size_t j = 0; j < phys_.size(); j++)
      if (phys_[j].base == reinterpret_cast<uintptr_t>(va)) phys_.erase(phys_.begin() + long(j));
    return;
  }
}

uint64_t Device::phys(const void* p) const {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  for (auto& r : phys_)
    if (a >= r.base && a < r.base + r.len) return r.pa[(a - r.base) / r.page] + (a - r.base) % r.page;
  return 0;
}

uint8_t* Device::alloc_dma(size_t bytes, const char* what) {
  RegionOptions ro;
  ro.bytes = (bytes + 4095) & ~size_t(4095);
  ro.hugepages = no_iommu_ ? HugepagePolicy::Require : HugepagePolicy::Auto;
  Region r;
  try {
    r = Region::allocate(ro);
  } catch (const Error& e) {
    fail(e.code().c_str(), scope_ + ": memory for " + what + ": " + e.what());
  }
  if (no_iommu_ && r.kind() == PageKind::Small)
    fail("HUGEPAGES_UNAVAILABLE", scope_ + ": no-IOMMU mode needs " + what + " on hugepages; reserve some: echo 64 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages");
  memset(r.base(), 0, ro.bytes);
  uint8_t* p = r.base();
  dma_map(p, ro.bytes);
  dma_regions_.push_back(std::move(r));
  return p;
}

const std::vector<int>& Device::enable_msix(uint32_t n) {
  disable_msix();
  if (n == 0) return irq_fds_;
  if (n > msix_count_)
    fail("DEVICE_UNSUPPORTED", scope_ + ": " + std::to_string(n) + " MSI-X vectors wanted, the device has " + std::to_string(msix_count_));
  std::vector<uint8_t> buf(sizeof(vfio_irq_set) + n * sizeof(int32_t));
  auto* set = reinterpret_cast<vfio_irq_set*>(buf.data());
  set->argsz = uint32_t(buf.size());
  set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
  set->index = VFIO_PCI_MSIX_IRQ_INDEX;
  set->start = 0;
  set->count = n;
  for (uint32_t i = 0; i < n; i++) {
    const int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) {
      disable_msix();
      fail("VFIO_SETUP", scope_ + ": eventfd: " + errno_text(errno));
    }
    irq_fds_.push_back(efd);
    int32_t v = efd;
    memcpy(set->data + i * sizeof(int32_t), &v, sizeof v);
  }
  if (ioctl(fd_, VFIO_DEVICE_SET_IRQS, set) != 0) {
    const int e = errno;
    for (int f : irq_fds_) ::close(f);
    irq_fds_.clear();
    fail("VFIO_SETUP", scope_ + ": VFIO_DEVICE_SET_IRQS (MSI-X, " + std::to_string(n) + " vectors) failed: " + errno_text(e));
  }
  return irq_fds_;
}

void Device::disable_msix() {
  if (fd_ >= 0 && !irq_fds_.empty()) {
    vfio_irq_set set{};
    set.argsz = sizeof set;
    set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
    set.index = VFIO_PCI_MSIX_IRQ_INDEX;
    set.start = 0;
    set.count = 0;
    ioctl(fd_, VFIO_DEVICE_SET_IRQS, &set);
  }
  for (int f : irq_fds_) ::close(f);
  irq_fds_.clear();
}

}  // namespace lr::vfio
