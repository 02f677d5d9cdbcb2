// forward: port to port, as testpmd's io mode (unchanged) and l2fwd's mac mode
// (source MAC := the output port's MAC, destination MAC := a configured next hop).
#pragma once
#include <cstring>

#include "core/net.h"
#include "pipeline/stage.h"
#include "pipeline/tx_buffer.h"

namespace lr {

class ForwardStage final : public Stage {
 public:
  ForwardStage(TxBuffer tx, Mempool* pool, ForwardMode mode, const MacAddr& src, const MacAddr& dst)
      : tx_(tx), pool_(pool), mode_(mode), src_(src), dst_(dst) {}

  void process(Mbuf** m, uint16_t n) override {
    if (mode_ == ForwardMode::Mac) {
      uint16_t keep = 0;
      for (uint16_t i = 0; i < n; i++) {
        if (m[i]->data_len < sizeof(net::EthHdr)) {
          tx_.stats()->malformed.add(1);
          pool_->free_one(tx_.cache(), m[i]);
          continue;
        }
        uint8_t* d = m[i]->data();
        std::memcpy(d, dst_.data(), 6);
        std::memcpy(d + 6, src_.data(), 6);
        m[keep++] = m[i];
      }
      n = keep;
    }
    tx_.push(m, n);
  }
  void flush() override { tx_.flush(); }
  void drain() override { tx_.drop_all(); }

 private:
  TxBuffer tx_;
  Mempool* pool_;
  ForwardMode mode_;
  MacAddr src_, dst_;
};

}  // namespace lr
