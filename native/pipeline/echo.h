// echo: return each packet to its sender. Ethernet addresses are swapped; for
// IPv4 and IPv6 UDP the IP addresses and ports are swapped too. A frame sent to
// a group address (broadcast, multicast: an ARP request, say) is not echoed: the
// reply would carry that group address as its source. It is dropped and counted.
//
// No checksum needs recomputing: the IPv4 header checksum (RFC 791) and the UDP
// checksum with its pseudo-header (RFC 768, RFC 8200 section 8.1) are one's-
// complement sums, which are commutative, and a swap exchanges 16-bit-aligned
// words within the summed data. So a packet that was valid stays valid.
#pragma once
#include "pipeline/stage.h"
#include "pipeline/tx_buffer.h"

namespace lr {

enum class EchoResult {
  Ok,        // rewritten: send it back
  Runt,      // shorter than an Ethernet header: drop (TxQueueStats::malformed)
  GroupDst,  // sent to a group (broadcast/multicast) address, which cannot be a
             // reply's source: drop, left as it was (TxQueueStats::group_dst)
};

// Rewrites the packet in place, or says why it must be dropped. Packets whose IP
// or UDP headers are truncated or that carry another protocol get the Ethernet
// swap only; an IPv4 fragment at a non-zero offset gets the addresses swapped but
// no ports (its bytes after the IP header are data); a first fragment (offset 0,
// MF set) has its ports swapped like an unfragmented datagram.
EchoResult echo_rewrite(uint8_t* data, uint32_t len);

class EchoStage final : public Stage {
 public:
  EchoStage(TxBuffer tx, Mempool* pool) : tx_(tx), pool_(pool) {}
  void process(Mbuf** m, uint16_t n) override;
  void flush() override { tx_.flush(); }
  void drain() override { tx_.drop_all(); }

 private:
  TxBuffer tx_;
  Mempool* pool_;
};

}  // namespace lr
