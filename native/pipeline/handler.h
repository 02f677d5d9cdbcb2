// JS handlers in the pipeline:
//  - HandlerStage: splits a burst by the handler's match; matched packets go to
//    the JS consumer through the channel's to_js ring, the rest to the port's
//    native path (forward, echo) or are dropped when it has none.
//  - ChannelReturnTask: on the same lcore, takes mbufs back from from_js and
//    applies their verdicts; keeps the free ring stocked for batch.alloc().
//  - InlineQueue: inline mode, where a worker thread polls the queue itself.
#pragma once
#include <memory>
#include <mutex>
#include <vector>

#include "core/lcore.h"
#include "pipeline/js_channel.h"
#include "pipeline/match.h"
#include "pipeline/stage.h"
#include "pipeline/verdict.h"

namespace lr {

class HandlerStage final : public Stage {
 public:
  HandlerStage(const Match& match, JsChannel* ch, std::unique_ptr<Stage> fallback, Mempool* pool, Mempool::Cache* cache,
               Counter* unmatched_drops)
      : match_(match), ch_(ch), fallback_(std::move(fallback)), pool_(pool), cache_(cache), unmatched_(unmatched_drops) {}

  void process(Mbuf** m, uint16_t n) override;
  // The batcher keeps its own deadline (ChannelReturnTask checks it every
  // loop), so the drain period does not cut its window short.
  void flush() override {
    if (fallback_) fallback_->flush();
  }
  void drain() override {
    ch_->batcher.drop_all(*pool_);
    if (fallback_) fallback_->drain();
  }

 private:
  Match match_;
  JsChannel* ch_;
  std::unique_ptr<Stage> fallback_;
  Mempool* pool_;
  Mempool::Cache* cache_;
  Counter* unmatched_;
};

class ChannelReturnTask final : public Task {
 public:
  ChannelReturnTask(JsChannel* ch, const std::vector<Port*>& ports, uint16_t txq, Mempool* pool, Mempool::Cache* cache,
                    uint16_t burst)
      : ch_(ch), pool_(pool), cache_(cache), burst_(burst), sink_(ports, txq, pool, cache, burst, &ch->verdicts) {}

  uint32_t poll() override;
  void flush() override { sink_.flush(); }
  void drain() override { sink_.drop_all(); }

 private:
  JsChannel* ch_;
  Mempool* pool_;
  Mempool::Cache* cache_;
  uint16_t burst_;
  VerdictSink sink_;
};

class InlineQueue;

// What Engine::handle attached to a port: one channel (pipeline mode) or one
// inline queue (inline mode) per rx queue.
struct PortHandler {
  Match match;
  bool inline_mode = false;
  std::vector<std::unique_ptr<JsChannel>> channels;
  std::vector<std::unique_ptr<InlineQueue>> inline_queues;
};

// Inline mode: one worker thread owns (port, queue). rx() and tx() run on that
// thread; the mbufs between them are "held" here, so if the worker dies its
// burst comes back in recover().
class InlineQueue {
 public:
  static constexpr uint32_t kMaxHeld = 512;

  InlineQueue(Port* port, uint16_t queue, uint16_t slot, const Match& match, Mempool* pool)
      : port_(port), queue_(queue), slot_(slot), match_(match), pool_(pool) {}

  // Called by Engine::start (sink and fallback need the port list and tx queue).
  void bind(const std::vector<Port*>& ports, Mempool::Cache* cache, uint16_t burst, std::unique_ptr<Stage> fallback,
            Counter* unmatched);
  void unbind();

  // Receives up to n packets matching the handler into held (returns how many);
  // the others take the native path. Writes their indices to out.
  uint32_t rx(uint32_t* out, uint32_t n);
  // Takes up to n empty mbufs from the pool into held; their indices go to out.
  uint32_t alloc(uint32_t* out, uint32_t n);
  // Host sockets (pipeline/host/): rx() gives every packet to the fallback (the
  // host stage), which hands this queue's datagrams back through accept().
  void set_host_mode() { host_mode_ = true; }
  void accept(Mbuf* const* m, uint32_t n) {
    // Locals, not members, in the loop: the stores to the arrays could alias them.
    uint32_t h = nheld_, k = rx_k_;
    for (uint32_t i = 0; i < n; i++) {
      held_[h++] = m[i];
      rx_out_[k++] = pool_->index_of(m[i]);
    }
    nheld_ = h;
    rx_k_ = k;
  }
  // Applies the verdicts of every held mbuf and sends; held is empty afterwards.
  void tx();
  // The worker is gone: free what it held.
  void recover();

  uint16_t port_id() const { return port_->id(); }
  uint16_t queue() const { return queue_; }
  uint16_t slot() const { return slot_; }
  bool bound() const { return sink_ != nullptr; }
  VerdictCounters verdicts;

 private:
  Port* port_;
  uint16_t queue_, slot_;
  Match match_;
  Mempool* pool_;
  Mempool::Cache* cache_ = nullptr;
  uint16_t burst_ = 32;
  std::unique_ptr<Stage> fallback_;
  Counter* unmatched_ = nullptr;
  std::unique_ptr<VerdictSink> sink_;
  Mbuf* held_[kMaxHeld];
  uint32_t nheld_ = 0;
  bool host_mode_ = false;
  uint32_t* rx_out_ = nullptr;  // during rx() in host mode: where accept() writes
  uint32_t rx_k_ = 0;
};

inline uint32_t handler_held(const PortHandler& h) {
  uint32_t n = 0;
  for (auto& c : h.channels) n += c->held();
  return n;
}

}  // namespace lr
