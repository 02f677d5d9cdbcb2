// Software RSS: for drivers without hardware RSS, one lcore polls the port's
// single rx queue, hashes each packet (Toeplitz over the 2- or 4-tuple), and
// spreads the packets over per-queue SPSC rings through a 128-entry redirection
// table, as NICs do (Intel 82599 datasheet section 7.1.2.8.3, "RSS redirection
// table"). Each ring is drained by the lcore that owns that logical queue.
#pragma once
#include <vector>

#include "core/ring.h"
#include "pipeline/port.h"
#include "pipeline/stage.h"
#include "pipeline/toeplitz.h"

namespace lr {

class RssStage final : public Stage {
 public:
  static constexpr uint32_t kRetaSize = 128;

  RssStage(Port* port, std::vector<Ring*> rings, Mempool* pool, Mempool::Cache* cache);
  void process(Mbuf** m, uint16_t n) override;

 private:
  Port* port_;
  std::vector<Ring*> rings_;
  Mempool* pool_;
  Mempool::Cache* cache_;
  Toeplitz hash_;
  bool symmetric_;
  uint16_t reta_[kRetaSize];
};

}  // namespace lr
