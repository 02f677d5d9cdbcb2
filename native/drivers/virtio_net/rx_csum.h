// Finishing the partial checksum of a received frame flagged NEEDS_CSUM
// (virtio 1.2 section 5.1.6.4.1, with VIRTIO_NET_F_GUEST_CSUM): the device has
// stored the TCP/UDP pseudo-header sum in the checksum field and set csum_start
// and csum_offset so that "a ones' complement checksum from csum_start up until
// the end of the packet, stored at offset csum_offset from csum_start" makes the
// packet fully checksummed. That is net::finish_l4_csum, which also writes a
// computed 0 as 0xffff (RFC 768; RFC 8200 section 8.1 forbids a zero UDP
// checksum over IPv6). Its own header so the C++ tests can call it.
#pragma once
#include <cstdint>

#include "core/net.h"

namespace lr::virtio {

// false (the frame left as it is) when the field lies beyond the frame, or at
// an odd offset from csum_start: the sum runs over 16-bit words from there, so
// a field that straddles two words would be stored byte-swapped and never
// verify (RFC 1071 section 2(B)); no TCP or UDP checksum field is there (6 and
// 16), so only a faulty device asks for it. (device_rx_fuzz found this.)
inline bool finish_needs_csum(uint8_t* frame, uint32_t len, uint16_t csum_start, uint16_t csum_offset) {
  if (uint32_t(csum_start) + csum_offset + 2 > len || (csum_offset & 1)) return false;
  net::finish_l4_csum(frame + csum_start, len - csum_start, csum_offset, 0);
  return true;
}

}  // namespace lr::virtio
