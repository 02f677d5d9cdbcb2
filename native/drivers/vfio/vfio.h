// The VFIO layer: a PCI device bound to vfio-pci, owned by this process.
// (Linux Documentation/driver-api/vfio.rst; ioctls from <linux/vfio.h>.)
//
//  - One container per process (per IOMMU type): /dev/vfio/vfio, type1 v2 IOMMU.
//    Every group joins it, so a DMA mapping covers every device: the mempool
//    region is mapped once per pool with IOVA = its virtual address.
//  - One group per IOMMU group (/dev/vfio/<n>), shared by its devices; it must
//    be viable (every device in it bound to vfio-pci or to no driver).
//  - A Device: its fd, its BARs (mmap'd, or pread/pwrite when a BAR cannot be
//    mapped), config space, reset (VFIO_DEVICE_RESET) on open and close, bus
//    mastering, MSI-X vectors as eventfds (VFIO_DEVICE_SET_IRQS).
//
// Before touching anything, open() checks the host and fails with a code and
// the command that fixes it: DEVICE_NOT_FOUND, VFIO_UNAVAILABLE, DEVICE_BOUND_TO_KERNEL,
// IOMMU_OFF, GROUP_NOT_VIABLE, DEVICE_IN_USE; dma_map() checks MEMLOCK_LIMIT.
//
// No-IOMMU mode (vfio's enable_unsafe_noiommu_mode, /dev/vfio/noiommu-<n>) only
// when asked for: the device can then DMA anywhere in memory. DMA addresses are
// physical (from /proc/self/pagemap), so DMA memory must be on hugepages
// (HUGEPAGES_UNAVAILABLE otherwise) and a buffer must not straddle two
// physically discontiguous pages (checked when memory is mapped).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/memory.h"

namespace lr::vfio {

struct OpenOptions {
  bool no_iommu = false;
  std::string scope;  // prefixes messages: "port 'a' (vfio)"
};

// A memory BAR. MMIO accessors are volatile and unordered with respect to
// normal memory: the NIC drivers put the barriers they need around doorbells.
class Bar {
 public:
  bool valid() const { return size_ != 0; }
  bool mapped() const { return ptr_ != nullptr; }
  size_t size() const { return size_; }
  volatile uint8_t* ptr() const { return ptr_; }

  uint32_t read32(uint32_t off) const;
  void write32(uint32_t off, uint32_t v) const;
  uint16_t read16(uint32_t off) const;
  void write16(uint32_t off, uint16_t v) const;
  uint8_t read8(uint32_t off) const;
  void write8(uint32_t off, uint8_t v) const;
  uint64_t read64(uint32_t off) const { return read32(off) | (uint64_t(read32(off + 4)) << 32); }
  void write64(uint32_t off, uint64_t v) const {
    write32(off, uint32_t(v));
    write32(off + 4, uint32_t(v >> 32));
  }

 private:
  friend class Device;
  volatile uint8_t* ptr_ = nullptr;
  size_t size_ = 0;
  int fd_ = -1;
  uint64_t fd_offset_ = 0;
};

class Container;
class Group;

class Device {
 public:
  // Checks the host, then opens the device and resets it.
  static std::unique_ptr<Device> open(const std::string& pci, const OpenOptions& opts);
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const std::string& pci() const { return pci_; }
  uint16_t vendor_id() const { return vendor_; }
  uint16_t device_id() const { return device_; }
  int iommu_group() const { return group_number_; }
  bool no_iommu() const { return no_iommu_; }
  const std::string& scope() const { return scope_; }

  // Config space (the VFIO config region, pread/pwrite).
  uint8_t cfg_read8(uint32_t off) const;
  uint16_t cfg_read16(uint32_t off) const;
  uint32_t cfg_read32(uint32_t off) const;
  void cfg_write16(uint32_t off, uint16_t v) const;
  void cfg_write32(uint32_t off, uint32_t v) const;
  // Offsets of the capabilities with this ID (PCI 3.0 §6.7), in list order.
  std::vector<uint32_t> find_caps(uint8_t id) const;

  // BAR i (0..5), mapped on first use. DEVICE_UNSUPPORTED when it is not a memory BAR.
  const Bar& bar(int i);

  // VFIO_DEVICE_RESET when the device offers a reset (FLR, PM, bus); returns
  // false when it does not (the NIC driver's own reset is then all there is).
  bool reset();
  bool can_reset() const { return can_reset_; }
  void set_bus_master(bool on);

  // DMA. map: pins [va, va+len) for the device (IOVA = VA); a range already
  // mapped by this process is counted, not mapped twice. unmap: the reverse.
  void dma_map(const void* va, size_t len);
  void dma_unmap(const void* va);
  // The address the device must use for p (hot path).
  uint64_t iova(const void* p) const {
    if (__builtin_expect(!no_iommu_, 1)) return reinterpret_cast<uintptr_t>(p);
    return phys(p);
  }
  // Memory for descriptor rings, DMA-mapped, zeroed, 4 KiB aligned; lives until close().
  uint8_t* alloc_dma(size_t bytes, const char* what);

  // MSI-X (PCI 3.0 §6.8.2). Vectors the device has; enable n of them, each
  // signalling its own eventfd (returned, owned by the Device).
  uint32_t msix_vectors() const { return msix_count_; }
  const std::vector<int>& enable_msix(uint32_t n);
  void disable_msix();
  const std::vector<int>& irq_fds() const { return irq_fds_; }

  // Reset, bus master off, interrupts off, DMA unmapped, fds closed. Idempotent.
  void close();

 private:
  Device() = default;
  uint64_t phys(const void* p) const;
  void map_bar(int i);

  std::string pci_, scope_;
  uint16_t vendor_ = 0, device_ = 0;
  int group_number_ = -1;
  bool no_iommu_ = false;
  bool can_reset_ = false;
  std::shared_ptr<Container> container_;
  std::shared_ptr<Group> group_;
  int fd_ = -1;
  uint64_t cfg_offset_ = 0;
  uint32_t num_regions_ = 0;
  Bar bars_[6];
  uint32_t msix_count_ = 0;
  std::vector<int> irq_fds_;
  std::vector<const void*> mapped_;  // what this device asked the container to map
  std::vector<Region> dma_regions_;
  // No-IOMMU: physical address of each page of each mapped range.
  struct PhysRange {
    uintptr_t base;
    size_t len;
    size_t page;
    std::vector<uint64_t> pa;
  };
  std::vector<PhysRange> phys_;
};

// Preflight only (what open() checks first), for doctor and tests. Throws the
// same errors open() would; returns the IOMMU group number.
int check_device(const std::string& pci, const OpenOptions& opts);

// True when this process holds CAP_IPC_LOCK (pinned DMA memory is not then
// charged against RLIMIT_MEMLOCK).
bool has_ipc_lock();

}  // namespace lr::vfio
