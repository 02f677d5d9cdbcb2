// One split virtqueue (virtio 1.2 §2.7) in DMA memory, as the driver side sees
// it: the descriptor table (§2.7.5), the available ring it writes (§2.7.6) and
// the used ring the device writes (§2.7.8), each on its own page, plus the
// software state of the queue (the mbuf behind each descriptor, free ids,
// counters).
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/counter.h"
#include "core/mempool.h"
#include "drivers/vfio/nic.h"
#include "drivers/virtio_net/virtio_regs.h"

namespace lr::vfio {

struct alignas(64) Vq {
  uint16_t index = 0;
  uint16_t size = 0;  // power of two
  volatile virtio::Desc* desc = nullptr;
  volatile uint16_t* avail = nullptr;     // [0] flags, [1] idx, [2 + i] ring
  volatile uint16_t* used_hdr = nullptr;  // [0] flags, [1] idx
  volatile virtio::UsedElem* used = nullptr;
  uint16_t avail_idx = 0, last_used = 0;
  uint32_t notify_off = 0;  // byte offset in the notify window
  std::vector<Mbuf*> sw;    // by descriptor id
  std::vector<uint16_t> free_ids;
  // rx
  Mempool::Cache* cache = nullptr;
  Counter* nombuf = nullptr;
  bool wakeup = false;  // an idle lcore may block on this queue's MSI-X vector
  int irq_fd = -1;      // that vector's eventfd while started (owned by the Device)
  Counter held, kicks, errors, csum_fixed, csum_valid, csum_offloaded;
  TxLock lock;

  // §2.7 alignment: 16-byte descriptors, a 6 + 2n byte available ring and a
  // 6 + 8n byte used ring; each part on a page of its own.
  static size_t bytes(uint16_t n) { return page(16u * n) + page(6u + 2u * n) + page(6u + 8u * n); }
  static size_t page(size_t v) { return (v + 4095) & ~size_t(4095); }
  void place(uint8_t* mem, uint16_t n) {
    size = n;
    desc = reinterpret_cast<volatile virtio::Desc*>(mem);
    avail = reinterpret_cast<volatile uint16_t*>(mem + page(16u * n));
    used_hdr = reinterpret_cast<volatile uint16_t*>(mem + page(16u * n) + page(6u + 2u * n));
    used = reinterpret_cast<volatile virtio::UsedElem*>(reinterpret_cast<volatile uint8_t*>(used_hdr) + 4);
    sw.assign(n, nullptr);
  }
  void clear() {
    memset(const_cast<virtio::Desc*>(desc), 0, 16u * size);
    memset(const_cast<uint16_t*>(avail), 0, 6u + 2u * size);
    memset(const_cast<uint16_t*>(used_hdr), 0, 6u + 8u * size);
    avail_idx = last_used = 0;
    free_ids.clear();
    for (uint16_t i = size; i-- > 0;) free_ids.push_back(i);
  }
  void set_desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
    desc[i].addr = addr;
    desc[i].len = len;
    desc[i].flags = flags;
    desc[i].next = next;
  }
  // §2.7.13: ring entries before the index the device reads.
  void publish() {
    io_wmb();
    avail[1] = avail_idx;
  }
};

}  // namespace lr::vfio
