// Completing partial checksums. A frame a local socket sent over a veth (or any
// device with tx checksum offload) reaches a packet socket with its TCP/UDP
// checksum only seeded with the pseudo-header sum (CHECKSUM_PARTIAL; the rx
// ring flags it TP_STATUS_CSUMNOTREADY, packet(7)). On a real wire the NIC would
// have filled it in; we do the same, so stages and JS see frames as they would
// be on the wire and an echoed frame is accepted by the sender's stack.
#pragma once
#include <cstdint>

namespace lr::afp {

// Recomputes the TCP or UDP checksum of an Ethernet (optionally 802.1Q) / IPv4
// or IPv6 frame in place (RFC 768, RFC 793, RFC 8200 section 8.1). false when
// the frame is not an unfragmented TCP/UDP packet with consistent lengths
// (then it is left as it is).
bool complete_l4_checksum(uint8_t* frame, uint32_t len);

}  // namespace lr::afp
