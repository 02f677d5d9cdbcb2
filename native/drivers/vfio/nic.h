// What the NIC drivers on top of vfio (drivers/e1000e, drivers/virtio_net) share:
// the parameters the `vfio` driver hands them, barriers, and the lock that lets
// several lcores share a hardware tx queue when the engine has more lcores than
// the NIC has queues.
#pragma once
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "core/mempool.h"
#include "drivers/driver.h"
#include "drivers/vfio/vfio.h"

namespace lr::vfio {

struct NicParams {
  std::unique_ptr<Device> dev;
  Mempool* pool = nullptr;
  uint16_t port_id = 0;
  std::string scope;
  uint32_t rx_ring = 0;  // descriptors per rx queue; 0 = the driver's default
  uint32_t tx_ring = 0;
  bool promiscuous = false;
};

// Ordering of normal-memory stores (descriptors) before an MMIO doorbell, and of
// a descriptor's "done" bit before its other fields. On x86 stores are not
// reordered with stores and loads not with loads, uncached MMIO included, so a
// compiler barrier is enough (DPDK's rte_io_wmb/rte_io_rmb on x86 are the same).
inline void io_wmb() { std::atomic_signal_fence(std::memory_order_seq_cst); }
inline void io_rmb() { std::atomic_signal_fence(std::memory_order_seq_cst); }
// For memory shared with a device through the IOMMU (virtio's rings): a full
// fence where the virtio spec asks for one (§2.7.13 / §2.7.7.2, "memory barrier").
inline void dma_mb() { std::atomic_thread_fence(std::memory_order_seq_cst); }

// A test-and-test-and-set spinlock, only taken when tx queues are shared.
class TxLock {
 public:
  void lock() {
    while (flag_.exchange(true, std::memory_order_acquire))
      while (flag_.load(std::memory_order_relaxed)) __builtin_ia32_pause();
  }
  void unlock() { flag_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> flag_{false};
};

inline void sleep_us(uint32_t us) { std::this_thread::sleep_for(std::chrono::microseconds(us)); }

// An MSI-X eventfd (vfio.h, non-blocking) back to zero: one read empties an
// eventfd's counter (eventfd(2)); EAGAIN when it is zero already.
inline void clear_eventfd(int fd) {
  uint64_t v;
  (void)!::read(fd, &v, sizeof v);
}

inline bool is_pow2(uint32_t v) { return v && !(v & (v - 1)); }

std::unique_ptr<Driver> make_e1000e(NicParams&& p);
std::unique_ptr<Driver> make_virtio_net(NicParams&& p);

}  // namespace lr::vfio
