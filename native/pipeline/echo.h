// echo: return each packet to its sender. Ethernet addresses are swapped; for
// IPv4 and IPv6 UDP the IP addresses and ports are swapped too.
//
// No checksum needs recomputing: the IPv4 header checksum (RFC 791) and the UDP
// checksum with its pseudo-header (RFC 768, RFC 8200 section 8.1) are one's-
// complement sums, which are commutative, and a swap exchanges 16-bit-aligned
// words within the summed data. So a packet that was valid stays valid.
#pragma once
#include "pipeline/stage.h"
#include "pipeline/tx_buffer.h"

namespace lr {

// Rewrites the packet in place. Returns false when it is too short to carry an
// Ethernet header (it must then be dropped). Packets whose IP or UDP headers are
// truncated, fragmented or carry another protocol get the Ethernet swap only.
bool echo_rewrite(uint8_t* data, uint32_t len);

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
