// What e1000e's receive path takes from a descriptor the NIC wrote back
// (82574 datasheet section 7.1.5, "Receive Descriptor Write-Back Format"):
// status/errors, length, MRQ and the RSS hash. These bytes come from the
// device, so nothing in them is trusted: the length is checked against the
// buffer the descriptor was armed with before it becomes the packet's length.
// A pure function, so the fuzz target (test/fuzz/device_rx_fuzz.cc) runs it
// without a NIC.
#pragma once
#include <cstdint>

#include "core/mbuf.h"
#include "drivers/e1000e/e1000e_regs.h"

namespace lr::e1000e {

// One written-back descriptor's frame, for the mbuf it was armed with.
// `discarding` carries across descriptors: after a frame that spans several
// (no EOP: it was larger than one buffer, section 7.1.4.2) its following
// descriptors up to the EOP are dropped too, as linerate mbufs are single-
// segment. Returns true when m is a packet to hand on (data_len, port, queue,
// RSS hash set); false when it is to be freed and counted as an error.
inline bool rx_writeback(Mbuf* m, uint32_t status_error, uint16_t length, uint32_t mrq, uint32_t rss_hash,
                         uint32_t buf_size, uint16_t port, uint16_t queue, bool* discarding) {
  if (*discarding || !(status_error & RXD_STAT_EOP) || (status_error & RXD_ERR_FRAME)) {
    *discarding = !(status_error & RXD_STAT_EOP);
    return false;
  }
  // The NIC writes at most BSIZE bytes into a buffer (RCTL.BSIZE, §10.2.5.1);
  // a length beyond it, or zero, is a device fault, never a packet.
  if (length == 0 || length > buf_size) return false;
  m->data_len = length;
  m->port = port;
  m->queue = queue;
  if (mrq & RXD_MRQ_RSS_TYPE_MASK) {  // section 7.1.5: RSS type 0 means no hash was computed
    m->rss_hash = rss_hash;
    m->flags |= kMbufRssValid;
  }
  return true;
}

}  // namespace lr::e1000e
