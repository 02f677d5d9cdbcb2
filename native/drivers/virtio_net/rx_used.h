// What virtio-net's receive path takes from a used buffer the device returned
// (virtio 1.2 section 2.7.8, struct virtq_used_elem: the buffer's id and the
// bytes written; section 5.1.6.4, the struct virtio_net_hdr in front of the
// frame). These bytes come from the device, so nothing in them is trusted: the
// written length must cover the header and fit the buffer, and a partial
// checksum's offsets must lie inside the frame. A pure function, so the fuzz
// target (test/fuzz/device_rx_fuzz.cc) runs it without a device.
#pragma once
#include <cstdint>

#include "core/mbuf.h"
#include "drivers/virtio_net/rx_csum.h"
#include "drivers/virtio_net/virtio_regs.h"

namespace lr::virtio {

// What rx_used did with the checksum, for the queue's counters.
enum class RxCsum : uint8_t { None, Finished, Valid };

// One used buffer: `m` was posted with its virtio_net_hdr (hdr_size bytes, 12
// or 20 with F_HASH_REPORT) just before m->data() and data_room bytes after.
// Returns true when m is a packet to hand on (data_len, port, queue, RSS hash
// set, a partial checksum finished); false when it is to be freed and counted
// as an error.
inline bool rx_used(Mbuf* m, uint32_t used_len, uint32_t hdr_size, uint32_t data_room, uint16_t port, uint16_t queue,
                    RxCsum* csum) {
  *csum = RxCsum::None;
  if (used_len <= hdr_size || used_len - hdr_size > data_room) return false;
  const NetHdr* h = reinterpret_cast<const NetHdr*>(m->data() - hdr_size);
  m->data_len = uint16_t(used_len - hdr_size);
  m->port = port;
  m->queue = queue;
  if (h->flags & HDR_F_NEEDS_CSUM) {
    // A partial checksum (section 5.1.6.4.1): finished here, never left as 0
    // (rx_csum.h); offsets outside the frame leave it as it is.
    if (finish_needs_csum(m->data(), m->data_len, h->csum_start, h->csum_offset)) *csum = RxCsum::Finished;
  } else if (h->flags & HDR_F_DATA_VALID) {
    *csum = RxCsum::Valid;
  }
  if (hdr_size == kNetHdrHashSize && h->hash_report) {  // section 5.1.6.4.3
    m->rss_hash = h->hash_value;
    m->flags |= kMbufRssValid;
  }
  return true;
}

}  // namespace lr::virtio
