// The mbuf: a fixed-size slot in a mempool region.
//
//   slot = [ header 64 B | headroom | data room ]   (each a multiple of 64 B)
//
// An mbuf is named by its 32-bit index in its pool: address = base + index * slot.
// The header layout is part of the JavaScript ABI (docs/memory-format.md), so
// every offset is pinned with static_assert below. Version 1.
#pragma once
#include <cstddef>
#include <cstdint>

namespace lr {

constexpr uint32_t kMbufHeaderSize = 64;
constexpr uint16_t kMbufLayoutVersion = 1;

// flags
constexpr uint32_t kMbufRssValid = 1u << 0;       // rss_hash holds a Toeplitz hash
constexpr uint32_t kMbufTimestampValid = 1u << 1;  // timestamp set on rx
// bit 2: a host datagram (pipeline/host/host.h)
// The device finishes the TCP/UDP checksum on transmit: the field at
// tx_csum_start + tx_csum_offset holds the pseudo-header's sum, so the
// complement of the sum from tx_csum_start to the end of the packet is the
// checksum (virtio 1.2 section 5.1.6.2, VIRTIO_NET_F_CSUM; Linux's
// CHECKSUM_PARTIAL). Set only for a port whose driver says
// tx_l4_csum_offload(); reset with the other flags when the mbuf is allocated.
constexpr uint32_t kMbufTxL4Csum = 1u << 3;

struct alignas(64) Mbuf {
  uint32_t index;      // 0: own index in the pool (constant)
  uint16_t data_off;   // 4: packet start, from the start of the slot
  uint16_t data_len;   // 6: packet length in bytes (single segment)
  uint16_t port;       // 8: input port id
  uint16_t queue;      // 10: input queue
  uint32_t rss_hash;   // 12
  uint32_t flags;      // 16: kMbuf* bits
  uint32_t buf_len;    // 20: headroom + data room: the room after the header
  uint64_t timestamp;  // 24: rx time, nanoseconds (CLOCK_REALTIME) when flagged
  uint64_t user;       // 32: free for the application
  uint16_t verdict;    // 40: what a JS handler decided (kVerdict*), read when the mbuf comes back
  uint16_t out_port;   // 42: kVerdictForward: the port to send it out of
  uint8_t reserved[4];     // 44: the host layer's HostMeta (pipeline/host/host.h)
  uint16_t tx_csum_start;  // 48: kMbufTxL4Csum: where the L4 checksum's sum starts, from data()
  uint16_t tx_csum_offset; // 50: kMbufTxL4Csum: where the checksum field is, from tx_csum_start
  uint8_t reserved2[12];

  uint8_t* slot() { return reinterpret_cast<uint8_t*>(this); }
  uint8_t* data() { return slot() + data_off; }
  const uint8_t* data() const { return reinterpret_cast<const uint8_t*>(this) + data_off; }
  // Room from data() to the end of the slot.
  uint32_t tailroom_from_data() const { return kMbufHeaderSize + buf_len - data_off; }
};

static_assert(sizeof(Mbuf) == kMbufHeaderSize, "mbuf header is one cache line");
static_assert(offsetof(Mbuf, index) == 0, "mbuf ABI");
static_assert(offsetof(Mbuf, data_off) == 4, "mbuf ABI");
static_assert(offsetof(Mbuf, data_len) == 6, "mbuf ABI");
static_assert(offsetof(Mbuf, port) == 8, "mbuf ABI");
static_assert(offsetof(Mbuf, queue) == 10, "mbuf ABI");
static_assert(offsetof(Mbuf, rss_hash) == 12, "mbuf ABI");
static_assert(offsetof(Mbuf, flags) == 16, "mbuf ABI");
static_assert(offsetof(Mbuf, buf_len) == 20, "mbuf ABI");
static_assert(offsetof(Mbuf, timestamp) == 24, "mbuf ABI");
static_assert(offsetof(Mbuf, user) == 32, "mbuf ABI");
static_assert(offsetof(Mbuf, verdict) == 40, "mbuf ABI");
static_assert(offsetof(Mbuf, out_port) == 42, "mbuf ABI");
static_assert(offsetof(Mbuf, tx_csum_start) == 48 && offsetof(Mbuf, tx_csum_offset) == 50, "mbuf ABI");

// Verdicts a handler writes into Mbuf::verdict (docs/memory-format.md).
constexpr uint16_t kVerdictDrop = 0;     // free it
constexpr uint16_t kVerdictReply = 1;    // transmit on the port it came from (Mbuf::port)
constexpr uint16_t kVerdictForward = 2;  // transmit on Mbuf::out_port

}  // namespace lr
