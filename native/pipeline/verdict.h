// Applies the verdicts a handler wrote into mbuf headers: reply (out of the
// input port), forward (out of Mbuf::out_port), or drop. One VerdictSink per
// consuming thread (an lcore, or an inline worker), with a tx buffer per port on
// that thread's own tx queue.
#pragma once
#include <memory>
#include <vector>

#include "pipeline/js_channel.h"
#include "pipeline/port.h"
#include "pipeline/tx_buffer.h"

namespace lr {

class VerdictSink {
 public:
  VerdictSink(const std::vector<Port*>& ports, uint16_t txq, Mempool* pool, Mempool::Cache* cache, uint16_t burst,
              VerdictCounters* counters)
      : pool_(pool), cache_(cache), counters_(counters) {
    for (Port* p : ports) tx_.push_back(std::make_unique<TxBuffer>(p, txq, pool, cache, burst));
  }

  void apply(Mbuf* m) {
    // The handler wrote this header (it may write any byte of the pool): a
    // packet must start after the header and end inside its own slot before a
    // driver reads it (docs/memory-format.md, "Mbuf"). Checked against the
    // pool's slot, not Mbuf::buf_len, which is in the same writable header.
    if (m->data_off < kMbufHeaderSize || uint32_t(m->data_off) + m->data_len > pool_->slot_size()) {
      counters_->bad.add(1);
      pool_->free_one(cache_, m);
      return;
    }
    uint16_t out;
    switch (m->verdict) {
      case kVerdictReply:
        out = m->port;
        counters_->replied.add(1);
        break;
      case kVerdictForward:
        out = m->out_port;
        counters_->forwarded.add(1);
        break;
      case kVerdictDrop:
        counters_->dropped.add(1);
        pool_->free_one(cache_, m);
        return;
      default:
        counters_->bad.add(1);
        pool_->free_one(cache_, m);
        return;
    }
    if (out >= tx_.size() || tx_[out]->port()->closed) {
      counters_->bad.add(1);
      pool_->free_one(cache_, m);
      return;
    }
    tx_[out]->push(&m, 1);
  }

  void flush() {
    for (auto& t : tx_) t->flush();
  }
  void drop_all() {
    for (auto& t : tx_) t->drop_all();
  }

 private:
  Mempool* pool_;
  Mempool::Cache* cache_;
  VerdictCounters* counters_;
  std::vector<std::unique_ptr<TxBuffer>> tx_;
};

}  // namespace lr
