// One XDP socket (AF_XDP, Documentation/networking/af_xdp.rst): its UMEM
// registration (or a share of another socket's UMEM), and its four rings
// mmapped into this process.
//
// Rings are single-producer single-consumer, shared with the kernel. The
// producer writes entries, then publishes them with a release store of the
// producer index; the consumer reads the producer index with an acquire load,
// reads the entries, then frees them with a release store of the consumer
// index (af_xdp.rst, "Rings"; the kernel side is net/xdp/xsk_queue.h).
//
//   fill       user -> kernel   UMEM addresses the kernel may receive into
//   rx         kernel -> user   received frames (struct xdp_desc)
//   tx         user -> kernel   frames to send (struct xdp_desc)
//   completion kernel -> user   UMEM addresses the kernel is done sending
#pragma once
#include <cstdint>
#include <string>

#include "drivers/af_xdp/uapi.h"

namespace lr::xdp {

template <typename Entry>
struct XskRing {
  uint32_t* producer = nullptr;
  uint32_t* consumer = nullptr;
  uint32_t* flags = nullptr;
  Entry* entries = nullptr;
  uint32_t size = 0, mask = 0;
  uint32_t cached_prod = 0, cached_cons = 0;
  void* map = nullptr;
  size_t map_len = 0;

  // Producer side (fill, tx): slots free for writing, at least `want` if it can.
  uint32_t free_slots(uint32_t want) {
    uint32_t free = size - (cached_prod - cached_cons);
    if (free >= want) return free;
    cached_cons = __atomic_load_n(consumer, __ATOMIC_ACQUIRE);
    return size - (cached_prod - cached_cons);
  }
  Entry& at(uint32_t i) { return entries[i & mask]; }
  void submit(uint32_t n) {
    cached_prod += n;
    __atomic_store_n(producer, cached_prod, __ATOMIC_RELEASE);
  }
  // Entries written but not yet taken by the kernel.
  uint32_t pending() { return cached_prod - __atomic_load_n(consumer, __ATOMIC_ACQUIRE); }

  // Consumer side (rx, completion): entries ready to read, at most n.
  uint32_t peek(uint32_t n) {
    uint32_t avail = cached_prod - cached_cons;
    if (avail == 0) {
      cached_prod = __atomic_load_n(producer, __ATOMIC_ACQUIRE);
      avail = cached_prod - cached_cons;
    }
    return avail < n ? avail : n;
  }
  void release(uint32_t n) {
    cached_cons += n;
    __atomic_store_n(consumer, cached_cons, __ATOMIC_RELEASE);
  }

  bool needs_wakeup() const { return __atomic_load_n(flags, __ATOMIC_RELAXED) & XDP_RING_NEED_WAKEUP; }
};

struct XskSetup {
  int ifindex = 0;
  uint32_t queue = 0;
  uint16_t bind_flags = 0;  // XDP_COPY / XDP_ZEROCOPY / XDP_USE_NEED_WAKEUP
  uint32_t ring_size = 2048;  // rx, tx and completion rings
  uint32_t fill_size = 4096;  // fill ring: twice the rx ring, as libxdp's default, so the kernel
                              // has buffers while the rx ring waits to be read
  // UMEM: either register this region (shared_fd < 0) or share the UMEM of
  // the socket shared_fd (XDP_SHARED_UMEM; this socket still gets its own fill
  // and completion rings, af_xdp.rst "XDP_SHARED_UMEM bind flag").
  int shared_fd = -1;
  void* umem_addr = nullptr;
  uint64_t umem_len = 0;
  uint32_t chunk_size = 0;
  uint32_t headroom = 0;
  uint32_t umem_flags = 0;
};

class XskSocket {
 public:
  XskSocket() = default;
  XskSocket(const XskSocket&) = delete;
  XskSocket& operator=(const XskSocket&) = delete;
  ~XskSocket() { close(); }

  // Returns 0, or -errno with *stage naming the step that failed.
  int open(const XskSetup& s, const char** stage);
  // Unmaps the rings and closes the socket. The kernel lets go of every UMEM
  // address it held for this socket (net/xdp/xsk.c, xsk_release).
  void close();

  int fd() const { return fd_; }
  bool zerocopy() const { return zerocopy_; }
  bool statistics(xdp_statistics& out) const;

  XskRing<uint64_t> fill, comp;
  XskRing<xdp_desc> rx, tx;

 private:
  int fd_ = -1;
  bool zerocopy_ = false;
};

}  // namespace lr::xdp
