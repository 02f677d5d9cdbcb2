// Packet sockets (packet(7)) and their mmap rings, for the af_packet driver.
//
// References are to the kernel's Documentation/networking/packet_mmap.rst
// (section names in quotes) and to packet(7).
#pragma once
#include <linux/if_packet.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/counter.h"
#include "core/mempool.h"

namespace lr::afp {

// Where a socket is being opened, for error messages.
struct SockCtx {
  std::string scope;   // "port 'p' (af_packet)"
  std::string ifname;
  std::string netns;   // empty: the current namespace
};

// socket(AF_PACKET, SOCK_RAW, 0): receives nothing until bound with a protocol.
// MISSING_CAPABILITY (CAP_NET_RAW) on EPERM.
int packet_socket(const SockCtx& c);
// setsockopt(SOL_PACKET, ...) that throws SOCKET_SETUP (or MISSING_CAPABILITY) with the option's name.
void set_packet_opt(int fd, int opt, const void* v, size_t len, const char* name, const SockCtx& c);
// bind(2) to the interface with a protocol (ETH_P_ALL to receive, 0 to only send).
void bind_packet(int fd, int ifindex, uint16_t protocol, const SockCtx& c);

struct RxRingConfig {
  uint32_t block_size = 1u << 18;  // tp_block_size: a multiple of the page size, a power of two
  uint32_t block_count = 16;       // tp_block_nr
  uint32_t frame_size = 2048;      // tp_frame_size: bounds only tp_frame_nr in V3 (frames are packed)
  uint32_t retire_tov_ms = 1;      // tp_retire_blk_tov: a partly filled block is handed over after this
};

// Per-queue rx counters kept by the driver (written by the polling lcore).
struct RxCounters {
  Counter oversize;  // longer than the mbuf data room, or truncated by the ring (snaplen < len)
  Counter runt;      // shorter than an Ethernet header
  Counter outgoing;  // our own transmissions, where PACKET_IGNORE_OUTGOING is not available
  Counter vlan;      // frames whose VLAN tag the kernel had stripped and we put back
  Counter csum;      // partial TCP/UDP checksums completed (TP_STATUS_CSUMNOTREADY)
};

// The TPACKET_V3 receive ring of one socket ("TPACKET_V3 ... example" in
// packet_mmap.rst): blocks of tp_block_size bytes, each handed to user space as a
// whole (block_status TP_STATUS_USER) when full or when tp_retire_blk_tov expires,
// holding num_pkts variable-size frames linked by tp_next_offset. User space walks
// the blocks in ring order and gives each back with TP_STATUS_KERNEL.
class RxRing {
 public:
  RxRing() = default;
  ~RxRing() { unmap(); }
  RxRing(const RxRing&) = delete;
  RxRing& operator=(const RxRing&) = delete;

  // PACKET_VERSION TPACKET_V3, PACKET_RX_RING, mmap. Before bind().
  void setup(int fd, const RxRingConfig& rc, const SockCtx& c);
  void unmap();

  // Copies up to n frames into mbufs from `cache`. Frames that find no mbuf are
  // dropped and added to *nombuf (the ring never stalls on a starved pool).
  uint16_t burst(Mempool& pool, Mempool::Cache* cache, uint16_t port, uint16_t queue, Mbuf** out, uint16_t n,
                 Counter* nombuf, RxCounters& cnt);
  // Gives every block user space holds back to the kernel, in ring order. Returns the frames dropped.
  uint64_t discard();

 private:
  uint8_t* block(uint32_t i) const { return map_ + size_t(i) * block_size_; }
  void release_block();

  uint8_t* map_ = nullptr;
  size_t map_len_ = 0;
  uint32_t block_size_ = 0, block_count_ = 0;
  // Cursor: the block we are reading (ring order), frames left in it, the next frame.
  uint32_t cur_ = 0;
  uint32_t left_ = 0;
  uint8_t* next_ = nullptr;
  bool open_block_ = false;
};

// Per-queue tx counters (written by the transmitting lcore).
struct TxCounters {
  Counter bad_length;    // shorter than an Ethernet header or larger than a ring slot: dropped
  Counter kick_errors;   // sendto() failed (e.g. ENETDOWN, ENXIO when the interface is gone)
  Counter wrong_format;  // frames the kernel refused (TP_STATUS_WRONG_FORMAT)
  Counter kicks;
};

// The TPACKET_V2 transmit ring of one socket ("Transmission process" in
// packet_mmap.rst): fixed frames, each a tpacket2_hdr with the frame data at
// TPACKET2_HDRLEN - sizeof(struct sockaddr_ll). User space fills available frames
// (TP_STATUS_AVAILABLE), marks them TP_STATUS_SEND_REQUEST, and sendto() hands
// every requested frame to the device; the kernel sets TP_STATUS_AVAILABLE again
// when the skb is freed.
//
// Why V2 and not V3 for tx: a socket has one PACKET_VERSION for both rings, and
// V3's block model exists only for rx (the kernel refuses a V3 tx ring with a
// block timeout or private area; the tx ring stays frame-based). Transmit sockets
// here are separate from the fanout rx sockets anyway (one per lcore, bound with
// protocol 0 so they receive nothing), so each can use the version that suits
// its ring: V2's tx path is the long-standing, documented one.
//
// Each frame is sent as one linear skb, through PACKET_VNET_HDR: the slot
// starts with a struct virtio_net_hdr (include/uapi/linux/virtio_net.h, 10
// bytes; no checksum or GSO request) whose hdr_len is the whole frame, and
// tpacket_snd() (net/packet/af_packet.c) copies hdr_len bytes into the skb's
// head. Without it the kernel copies only the link-layer header and hangs the
// rest of the frame off the skb as a fragment pointing into this ring, marked
// zero-copy so the slot stays busy until the skb dies. A veth then must copy
// every such fragment into a freshly allocated page before handing the skb to
// its peer (__dev_forward_skb -> skb_copy_ubufs), and the peer's IP input pulls
// the headers out of it again: perf of the af_packet echo showed skb_copy_ubufs
// and its page allocations at about 10% of the echoing CPU. Kernels before 5.0
// (tpacket_snd learned vnet headers in 4.11) keep the fragment path.
// Whether this kernel's tpacket_snd() reads PACKET_VNET_HDR (see TxRing).
bool tpacket_snd_knows_vnet();

class TxRing {
 public:
  TxRing() = default;
  ~TxRing() { unmap(); }
  TxRing(const TxRing&) = delete;
  TxRing& operator=(const TxRing&) = delete;

  // PACKET_VERSION TPACKET_V2, PACKET_LOSS, PACKET_TX_RING, mmap. Before bind().
  void setup(int fd, uint32_t frame_size, uint32_t frames, const SockCtx& c);
  void unmap();
  uint32_t capacity() const { return frame_size_ - data_off_ - vnet_; }
  // Whether frames go out linear (PACKET_VNET_HDR took).
  bool linear() const { return vnet_ != 0; }

  // Copies mbufs into free slots and frees them; stops at the first busy slot
  // (the rest stay with the caller). Kicks the kernel once.
  uint16_t burst(int fd, Mempool& pool, Mempool::Cache* cache, Mbuf** mbufs, uint16_t n, TxCounters& cnt);

 private:
  uint8_t* slot(uint32_t i) const { return map_ + size_t(i / per_block_) * block_size_ + size_t(i % per_block_) * frame_size_; }

  uint8_t* map_ = nullptr;
  size_t map_len_ = 0;
  uint32_t frame_size_ = 0, frames_ = 0, data_off_ = 0, per_block_ = 1, block_size_ = 0;
  uint32_t vnet_ = 0;  // bytes of virtio_net_hdr in front of each frame: 0 or 10
  uint32_t head_ = 0;
};

// Fixed overhead of one rx frame in a V3 block before the MAC header (tpacket3_hdr,
// sockaddr_ll, alignment): frameSize - this is the largest frame a slot carries.
constexpr uint32_t kRxFrameOverhead = 96;

}  // namespace lr::afp
