#include "drivers/af_xdp/xsk.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace lr::xdp {

namespace {

template <typename Entry>
int map_ring(int fd, XskRing<Entry>& r, const xdp_ring_offset& off, uint32_t size, uint64_t pgoff) {
  const size_t len = off.desc + size_t(size) * sizeof(Entry);
  void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, off_t(pgoff));
  if (m == MAP_FAILED) return -errno;
  auto* b = static_cast<uint8_t*>(m);
  r.map = m;
  r.map_len = len;
  r.producer = reinterpret_cast<uint32_t*>(b + off.producer);
  r.consumer = reinterpret_cast<uint32_t*>(b + off.consumer);
  r.flags = reinterpret_cast<uint32_t*>(b + off.flags);
  r.entries = reinterpret_cast<Entry*>(b + off.desc);
  r.size = size;
  r.mask = size - 1;
  r.cached_prod = __atomic_load_n(r.producer, __ATOMIC_ACQUIRE);
  r.cached_cons = __atomic_load_n(r.consumer, __ATOMIC_ACQUIRE);
  return 0;
}

template <typename Entry>
void unmap_ring(XskRing<Entry>& r) {
  if (r.map) munmap(r.map, r.map_len);
  r = XskRing<Entry>{};
}

int set_ring(int fd, int opt, uint32_t size) {
  return setsockopt(fd, kSolXdp, opt, &size, sizeof size) == 0 ? 0 : -errno;
}

}  // namespace

int XskSocket::open(const XskSetup& s, const char** stage) {
  close();
  *stage = "socket(AF_XDP)";
  fd_ = ::socket(kAfXdp, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    int e = -errno;
    fd_ = -1;
    return e;
  }
  int r = 0;
  if (s.shared_fd < 0) {
    // af_xdp.rst "XDP_UMEM_REG setsockopt": the region, the chunk size, the
    // headroom in front of each received frame, and unaligned chunks.
    xdp_umem_reg reg{};
    reg.addr = uint64_t(uintptr_t(s.umem_addr));
    reg.len = s.umem_len;
    reg.chunk_size = s.chunk_size;
    reg.headroom = s.headroom;
    reg.flags = s.umem_flags;
    *stage = "setsockopt(XDP_UMEM_REG)";
    if (setsockopt(fd_, kSolXdp, XDP_UMEM_REG, &reg, sizeof reg) != 0) return -errno;
  }
  // Fill and completion rings exist per (device, queue) even when the UMEM is
  // shared (kernel >= 5.10).
  *stage = "setsockopt(XDP_UMEM_FILL_RING)";
  if ((r = set_ring(fd_, XDP_UMEM_FILL_RING, s.fill_size)) < 0) return r;
  *stage = "setsockopt(XDP_UMEM_COMPLETION_RING)";
  if ((r = set_ring(fd_, XDP_UMEM_COMPLETION_RING, s.ring_size)) < 0) return r;
  *stage = "setsockopt(XDP_RX_RING)";
  if ((r = set_ring(fd_, XDP_RX_RING, s.ring_size)) < 0) return r;
  *stage = "setsockopt(XDP_TX_RING)";
  if ((r = set_ring(fd_, XDP_TX_RING, s.ring_size)) < 0) return r;

  xdp_mmap_offsets off{};
  socklen_t len = sizeof off;
  *stage = "getsockopt(XDP_MMAP_OFFSETS)";
  if (getsockopt(fd_, kSolXdp, XDP_MMAP_OFFSETS, &off, &len) != 0) return -errno;
  *stage = "mmap(rings)";
  if ((r = map_ring(fd_, fill, off.fr, s.fill_size, XDP_UMEM_PGOFF_FILL_RING)) < 0) return r;
  if ((r = map_ring(fd_, comp, off.cr, s.ring_size, XDP_UMEM_PGOFF_COMPLETION_RING)) < 0) return r;
  if ((r = map_ring(fd_, rx, off.rx, s.ring_size, XDP_PGOFF_RX_RING)) < 0) return r;
  if ((r = map_ring(fd_, tx, off.tx, s.ring_size, XDP_PGOFF_TX_RING)) < 0) return r;

  sockaddr_xdp sa{};
  sa.sxdp_family = kAfXdp;
  sa.sxdp_flags = s.bind_flags;
  sa.sxdp_ifindex = uint32_t(s.ifindex);
  sa.sxdp_queue_id = s.queue;
  if (s.shared_fd >= 0) {
    sa.sxdp_flags |= XDP_SHARED_UMEM;
    sa.sxdp_shared_umem_fd = uint32_t(s.shared_fd);
  }
  *stage = "bind";
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return -errno;

  xdp_options opts{};
  len = sizeof opts;
  zerocopy_ = getsockopt(fd_, kSolXdp, XDP_OPTIONS, &opts, &len) == 0 && (opts.flags & XDP_OPTIONS_ZEROCOPY);
  return 0;
}

void XskSocket::close() {
  unmap_ring(fill);
  unmap_ring(comp);
  unmap_ring(rx);
  unmap_ring(tx);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  zerocopy_ = false;
}

bool XskSocket::statistics(xdp_statistics& out) const {
  if (fd_ < 0) return false;
  out = xdp_statistics{};
  socklen_t len = sizeof out;
  return getsockopt(fd_, kSolXdp, XDP_STATISTICS, &out, &len) == 0;
}

}  // namespace lr::xdp
