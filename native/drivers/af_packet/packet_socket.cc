#include "drivers/af_packet/packet_socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "drivers/af_packet/checksum.h"
#include "drivers/netns.h"

namespace lr::afp {

namespace {
std::string where(const SockCtx& c) {
  return c.scope + ": interface '" + c.ifname + "'" + (c.netns.empty() ? "" : " in network namespace '" + c.netns + "'");
}
// Status words are shared with the kernel: read with acquire, write with release
// (packet_mmap.rst's examples use __sync_synchronize / smp barriers around them).
inline uint32_t load_status(const volatile uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
inline void store_status(volatile uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// struct virtio_net_hdr (include/uapi/linux/virtio_net.h). A packet socket
// reads its 16-bit fields in the legacy virtio byte order, the host's
// (vio_le() in af_packet.c is virtio_legacy_is_little_endian()).
struct VnetHdr {
  uint8_t flags;     // 0: no VIRTIO_NET_HDR_F_NEEDS_CSUM, the frame's checksums are final
  uint8_t gso_type;  // VIRTIO_NET_HDR_GSO_NONE
  uint16_t hdr_len;  // bytes tpacket_snd copies into the skb head: the whole frame
  uint16_t gso_size, csum_start, csum_offset;
};
static_assert(sizeof(VnetHdr) == 10, "virtio_net.h: struct virtio_net_hdr");

}  // namespace

// Kernels before 4.11 accept PACKET_VNET_HDR on a tx ring socket but send the
// header as frame bytes; the gate leaves a margin below 5.0.
bool tpacket_snd_knows_vnet() {
  struct utsname u;
  if (::uname(&u) != 0) return false;
  int major = 0, minor = 0;
  if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return false;
  return major >= 5;
}

int packet_socket(const SockCtx& c) {
  const int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) fail_syscall("SOCKET_SETUP", where(c) + ": socket(AF_PACKET, SOCK_RAW)", errno, "CAP_NET_RAW");
  return fd;
}

void set_packet_opt(int fd, int opt, const void* v, size_t len, const char* name, const SockCtx& c) {
  if (::setsockopt(fd, SOL_PACKET, opt, v, socklen_t(len)) != 0)
    fail_syscall("SOCKET_SETUP", where(c) + ": setsockopt(" + name + ")", errno, "CAP_NET_RAW");
}

void bind_packet(int fd, int ifindex, uint16_t protocol, const SockCtx& c) {
  struct sockaddr_ll sll;
  std::memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(protocol);
  sll.sll_ifindex = ifindex;
  if (::bind(fd, reinterpret_cast<struct sockaddr*>(&sll), sizeof sll) != 0) {
    const int err = errno;
    if (err == ENODEV || err == ENXIO)
      fail("INTERFACE_NOT_FOUND", where(c) + " disappeared while opening; list interfaces with: " + netns_cmd_prefix(c.netns) + "ip link show");
    if (err == ENETDOWN)
      fail("INTERFACE_DOWN", where(c) + " is down; bring it up with: " + netns_cmd_prefix(c.netns) + "ip link set " + c.ifname + " up");
    fail_syscall("SOCKET_SETUP", where(c) + ": bind", err, "CAP_NET_RAW");
  }
}

// ---- rx: TPACKET_V3 ----

void RxRing::setup(int fd, const RxRingConfig& rc, const SockCtx& c) {
  const int version = TPACKET_V3;
  set_packet_opt(fd, PACKET_VERSION, &version, sizeof version, "PACKET_VERSION TPACKET_V3", c);
  // "TPACKET_V3": tp_block_size must be a multiple of the page size (and the
  // kernel wants a power-of-two number of pages); tp_frame_nr must equal
  // tp_block_size / tp_frame_size * tp_block_nr.
  struct tpacket_req3 req;
  std::memset(&req, 0, sizeof req);
  req.tp_block_size = rc.block_size;
  req.tp_block_nr = rc.block_count;
  req.tp_frame_size = rc.frame_size;
  req.tp_frame_nr = (rc.block_size / rc.frame_size) * rc.block_count;
  req.tp_retire_blk_tov = rc.retire_tov_ms;
  req.tp_sizeof_priv = 0;
  req.tp_feature_req_word = TP_FT_REQ_FILL_RXHASH;
  set_packet_opt(fd, PACKET_RX_RING, &req, sizeof req, "PACKET_RX_RING", c);
  map_len_ = size_t(rc.block_size) * rc.block_count;
  void* m = ::mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (m == MAP_FAILED) {
    map_len_ = 0;
    fail("SOCKET_SETUP", where(c) + ": mmap of the rx ring (" + std::to_string(size_t(rc.block_size) * rc.block_count) +
                             " bytes): " + errno_text(errno) + "; lower blockSize or blockCount");
  }
  map_ = static_cast<uint8_t*>(m);
  block_size_ = rc.block_size;
  block_count_ = rc.block_count;
  cur_ = 0;
  open_block_ = false;
}

void RxRing::unmap() {
  if (map_) ::munmap(map_, map_len_);
  map_ = nullptr;
  map_len_ = 0;
  open_block_ = false;
}

void RxRing::release_block() {
  auto* bd = reinterpret_cast<struct tpacket_block_desc*>(block(cur_));
  store_status(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL);
  cur_ = cur_ + 1 == block_count_ ? 0 : cur_ + 1;
  open_block_ = false;
}

uint16_t RxRing::burst(Mempool& pool, Mempool::Cache* cache, uint16_t port, uint16_t queue, Mbuf** out, uint16_t n,
                       Counter* nombuf, RxCounters& cnt) {
  if (!map_) return 0;
  const uint32_t room = pool.data_room();
  uint16_t got = 0;
  while (got < n) {
    if (!open_block_) {
      auto* bd = reinterpret_cast<struct tpacket_block_desc*>(block(cur_));
      if (!(load_status(&bd->hdr.bh1.block_status) & TP_STATUS_USER)) break;
      left_ = bd->hdr.bh1.num_pkts;
      next_ = block(cur_) + bd->hdr.bh1.offset_to_first_pkt;
      open_block_ = true;
      if (!left_) {
        release_block();
        continue;
      }
    }
    const uint16_t want = uint16_t(std::min<uint32_t>(n - got, left_));
    if (!pool.alloc_bulk(cache, out + got, want)) {
      // No mbufs: drop these frames (counted) rather than stall the ring.
      if (nombuf) nombuf->add(want);
      for (uint16_t i = 0; i < want; i++) next_ += reinterpret_cast<struct tpacket3_hdr*>(next_)->tp_next_offset;
      left_ -= want;
      if (!left_) release_block();
      continue;
    }
    uint16_t used = 0;
    for (uint16_t i = 0; i < want; i++) {
      auto* h = reinterpret_cast<struct tpacket3_hdr*>(next_);
      next_ += h->tp_next_offset;
      const uint8_t* frame = reinterpret_cast<const uint8_t*>(h) + h->tp_mac;
      const uint32_t snap = h->tp_snaplen;
      // The sockaddr_ll follows the header (packet_mmap.rst, "Frame structure").
      auto* sll = reinterpret_cast<const struct sockaddr_ll*>(reinterpret_cast<const uint8_t*>(h) + TPACKET_ALIGN(sizeof(*h)));
      if (sll->sll_pkttype == PACKET_OUTGOING) {
        cnt.outgoing.add(1);
        continue;
      }
      const bool vlan = (h->tp_status & TP_STATUS_VLAN_VALID) != 0;
      const uint32_t len = snap + (vlan ? 4 : 0);
      if (snap < h->tp_len || len > room) {
        cnt.oversize.add(1);
        continue;
      }
      if (snap < 14) {
        cnt.runt.add(1);
        continue;
      }
      Mbuf* m = out[got + used];
      uint8_t* d = m->data();
      if (vlan) {
        // The kernel stripped the 802.1Q tag into tp_vlan_tci (VLAN offload); put it
        // back after the MAC addresses so the frame is what was on the wire.
        const uint16_t tpid = (h->tp_status & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : 0x8100;
        std::memcpy(d, frame, 12);
        d[12] = uint8_t(tpid >> 8);
        d[13] = uint8_t(tpid);
        d[14] = uint8_t(h->hv1.tp_vlan_tci >> 8);
        d[15] = uint8_t(h->hv1.tp_vlan_tci);
        std::memcpy(d + 16, frame + 12, snap - 12);
        cnt.vlan.add(1);
      } else {
        std::memcpy(d, frame, snap);
      }
      if ((h->tp_status & TP_STATUS_CSUMNOTREADY) && complete_l4_checksum(d, len)) cnt.csum.add(1);
      m->data_len = uint16_t(len);
      m->port = port;
      m->queue = queue;
      m->rss_hash = h->hv1.tp_rxhash;
      m->timestamp = uint64_t(h->tp_sec) * 1000000000ull + h->tp_nsec;
      m->flags |= kMbufTimestampValid;
      used++;
    }
    left_ -= want;
    if (!left_) release_block();
    if (used < want) pool.free_bulk(cache, out + got + used, want - used);
    got = uint16_t(got + used);
  }
  return got;
}

uint64_t RxRing::discard() {
  if (!map_) return 0;
  uint64_t dropped = 0;
  if (open_block_) {
    dropped += left_;
    release_block();
  }
  for (uint32_t i = 0; i < block_count_; i++) {
    auto* bd = reinterpret_cast<struct tpacket_block_desc*>(block(cur_));
    if (!(load_status(&bd->hdr.bh1.block_status) & TP_STATUS_USER)) break;
    dropped += bd->hdr.bh1.num_pkts;
    release_block();
  }
  return dropped;
}

// ---- tx: TPACKET_V2 ----

void TxRing::setup(int fd, uint32_t frame_size, uint32_t frames, const SockCtx& c) {
  const int version = TPACKET_V2;
  set_packet_opt(fd, PACKET_VERSION, &version, sizeof version, "PACKET_VERSION TPACKET_V2", c);
  // PACKET_LOSS: a malformed frame is dropped (and its slot made available)
  // instead of stopping the ring with TP_STATUS_WRONG_FORMAT ("Transmission process").
  const int loss = 1;
  set_packet_opt(fd, PACKET_LOSS, &loss, sizeof loss, "PACKET_LOSS", c);
  // Linear skbs (see the class comment). Before PACKET_TX_RING: the kernel
  // refuses it on a socket with a ring (EBUSY). Optional: without it frames go
  // out the fragment way.
  const int one = 1;
  vnet_ = tpacket_snd_knows_vnet() && ::setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) == 0 ? sizeof(VnetHdr) : 0;
  // Blocks of at least one page holding whole frames.
  const uint32_t page = uint32_t(::sysconf(_SC_PAGESIZE));
  uint32_t block = page;
  while (block < frame_size) block <<= 1;
  const uint32_t per_block = block / frame_size;
  const uint32_t blocks = (frames + per_block - 1) / per_block;
  struct tpacket_req req;
  std::memset(&req, 0, sizeof req);
  req.tp_block_size = block;
  req.tp_block_nr = blocks;
  req.tp_frame_size = frame_size;
  req.tp_frame_nr = blocks * per_block;
  set_packet_opt(fd, PACKET_TX_RING, &req, sizeof req, "PACKET_TX_RING", c);
  map_len_ = size_t(block) * blocks;
  void* m = ::mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (m == MAP_FAILED) {
    map_len_ = 0;
    fail("SOCKET_SETUP", where(c) + ": mmap of the tx ring: " + errno_text(errno));
  }
  map_ = static_cast<uint8_t*>(m);
  frame_size_ = frame_size;
  // Frames sit contiguously only when a block holds a whole number of them with
  // no tail; index them per block to be exact.
  frames_ = req.tp_frame_nr;
  per_block_ = per_block;
  block_size_ = block;
  // Without PACKET_TX_HAS_OFF the data starts at tp_hdrlen - sizeof(sockaddr_ll).
  data_off_ = uint32_t(TPACKET2_HDRLEN - sizeof(struct sockaddr_ll));
  head_ = 0;
}

void TxRing::unmap() {
  if (map_) ::munmap(map_, map_len_);
  map_ = nullptr;
  map_len_ = 0;
}

uint16_t TxRing::burst(int fd, Mempool& pool, Mempool::Cache* cache, Mbuf** mbufs, uint16_t n, TxCounters& cnt) {
  if (!map_) return 0;
  const uint32_t cap = capacity();
  uint16_t taken = 0, queued = 0;
  for (; taken < n; taken++) {
    auto* h = reinterpret_cast<struct tpacket2_hdr*>(slot(head_));
    uint32_t st = load_status(&h->tp_status);
    if (st == TP_STATUS_WRONG_FORMAT) {
      cnt.wrong_format.add(1);
      st = TP_STATUS_AVAILABLE;
    }
    if (st != TP_STATUS_AVAILABLE) break;  // ring full: the rest stays with the caller
    Mbuf* m = mbufs[taken];
    if (m->data_len > cap || m->data_len < 14) {
      cnt.bad_length.add(1);  // accepted and dropped: it can never be sent
      continue;
    }
    uint8_t* d = reinterpret_cast<uint8_t*>(h) + data_off_;
    if (vnet_) {
      const VnetHdr v{0, 0, m->data_len, 0, 0, 0};
      std::memcpy(d, &v, sizeof v);
    }
    std::memcpy(d + vnet_, m->data(), m->data_len);
    h->tp_len = m->data_len + vnet_;
    store_status(&h->tp_status, TP_STATUS_SEND_REQUEST);
    head_ = head_ + 1 == frames_ ? 0 : head_ + 1;
    queued++;
  }
  pool.free_bulk(cache, mbufs, taken);
  // Kick also when the ring was full: frames a failed kick left pending must go.
  if (queued || taken < n) {
    cnt.kicks.add(1);
    // With PACKET_QDISC_BYPASS the frames go straight to the driver's xmit.
    if (::sendto(fd, nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR)
      cnt.kick_errors.add(1);
  }
  return taken;
}

}  // namespace lr::afp
