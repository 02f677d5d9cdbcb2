// The kernel ABI this driver speaks, written out here so the build needs no
// kernel headers of a particular version (an old distro's linux-libc-dev lacks
// XDP_OPTIONS; the values are ABI and never change). The bpf() part, shared
// with af_packet, is drivers/bpf/uapi.h.
//
// Sources, Linux 6.x:
//   include/uapi/linux/if_xdp.h   - AF_XDP socket options, ring offsets, descriptors
//   include/uapi/linux/if_link.h  - XDP_FLAGS_*, IFLA_XDP_* (netlink fallback)
//   Documentation/networking/af_xdp.rst - how the pieces fit together
#pragma once
#include <cstdint>

#include "drivers/bpf/uapi.h"

namespace lr::xdp {

// The driver's code names the bpf() ABI, Fd and the assembler unqualified.
using namespace ::lr::bpf;

// ---- include/uapi/linux/if_xdp.h -------------------------------------------

constexpr int kAfXdp = 44;   // AF_XDP (include/linux/socket.h)
constexpr int kSolXdp = 283; // SOL_XDP (include/linux/socket.h)

// sockaddr_xdp.sxdp_flags
constexpr uint16_t XDP_SHARED_UMEM = 1 << 0;
constexpr uint16_t XDP_COPY = 1 << 1;      // force copy mode
constexpr uint16_t XDP_ZEROCOPY = 1 << 2;  // force zero-copy mode
constexpr uint16_t XDP_USE_NEED_WAKEUP = 1 << 3;

// xdp_umem_reg.flags
constexpr uint32_t XDP_UMEM_UNALIGNED_CHUNK_FLAG = 1 << 0;

// Ring flags word (xdp_ring_offset.flags points at it)
constexpr uint32_t XDP_RING_NEED_WAKEUP = 1 << 0;

// Socket options (level SOL_XDP)
constexpr int XDP_MMAP_OFFSETS = 1;
constexpr int XDP_RX_RING = 2;
constexpr int XDP_TX_RING = 3;
constexpr int XDP_UMEM_REG = 4;
constexpr int XDP_UMEM_FILL_RING = 5;
constexpr int XDP_UMEM_COMPLETION_RING = 6;
constexpr int XDP_STATISTICS = 7;
constexpr int XDP_OPTIONS = 8;
constexpr uint32_t XDP_OPTIONS_ZEROCOPY = 1 << 0;

// mmap offsets of the four rings
constexpr uint64_t XDP_PGOFF_RX_RING = 0;
constexpr uint64_t XDP_PGOFF_TX_RING = 0x80000000ull;
constexpr uint64_t XDP_UMEM_PGOFF_FILL_RING = 0x100000000ull;
constexpr uint64_t XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000ull;

// Unaligned chunk mode: a descriptor address carries the offset in its top 16 bits.
constexpr int XSK_UNALIGNED_BUF_OFFSET_SHIFT = 48;
constexpr uint64_t XSK_UNALIGNED_BUF_ADDR_MASK = (1ull << XSK_UNALIGNED_BUF_OFFSET_SHIFT) - 1;

// Headroom the kernel always keeps in front of a received frame, on top of the
// UMEM headroom (include/uapi/linux/bpf.h: XDP_PACKET_HEADROOM; net/xdp/xdp_umem.c).
constexpr uint32_t XDP_PACKET_HEADROOM = 256;
constexpr uint32_t XDP_UMEM_MIN_CHUNK_SIZE = 2048;

struct sockaddr_xdp {
  uint16_t sxdp_family;
  uint16_t sxdp_flags;
  uint32_t sxdp_ifindex;
  uint32_t sxdp_queue_id;
  uint32_t sxdp_shared_umem_fd;
};

struct xdp_ring_offset {
  uint64_t producer;
  uint64_t consumer;
  uint64_t desc;
  uint64_t flags;
};

struct xdp_mmap_offsets {
  xdp_ring_offset rx;
  xdp_ring_offset tx;
  xdp_ring_offset fr;  // fill
  xdp_ring_offset cr;  // completion
};

struct xdp_umem_reg {
  uint64_t addr;
  uint64_t len;
  uint32_t chunk_size;
  uint32_t headroom;
  uint32_t flags;
  uint32_t tx_metadata_len;  // 6.8+; zero means none (older kernels accept the shorter struct)
};

struct xdp_statistics {
  uint64_t rx_dropped;
  uint64_t rx_invalid_descs;
  uint64_t tx_invalid_descs;
  uint64_t rx_ring_full;
  uint64_t rx_fill_ring_empty_descs;
  uint64_t tx_ring_empty_descs;
};

struct xdp_options {
  uint32_t flags;
};

// rx and tx ring entry
struct xdp_desc {
  uint64_t addr;
  uint32_t len;
  uint32_t options;
};
static_assert(sizeof(xdp_desc) == 16, "if_xdp.h: struct xdp_desc");

// ---- include/uapi/linux/if_link.h ------------------------------------------

constexpr uint32_t kXdpFlagsUpdateIfNoexist = 1u << 0;
constexpr uint32_t kXdpFlagsSkbMode = 1u << 1;
constexpr uint32_t kXdpFlagsDrvMode = 1u << 2;
constexpr uint32_t kXdpFlagsReplace = 1u << 4;

constexpr uint16_t kIflaXdp = 43;
constexpr uint16_t kIflaXdpFd = 1;
constexpr uint16_t kIflaXdpFlags = 3;
constexpr uint16_t kIflaXdpExpectedFd = 8;

}  // namespace lr::xdp
