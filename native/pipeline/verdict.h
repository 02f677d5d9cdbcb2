// Applies the verdicts a handler wrote into mbuf headers: reply (out of the
// input port), forward (out of Mbuf::out_port), or drop. One VerdictSink per
// consuming thread (an lcore, or an inline worker), with a tx buffer per port on
// that thread's own tx queue.
#pragma once
#include <memory>
#include <vector>

#include "pipeline/host/host_output.h"
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
    // A port with a host finishes the datagrams its handlers answer or send
    // (pipeline/host/host_output.h), on this same thread slot and tx queue.
    host_.resize(ports.size());
    for (size_t i = 0; i < ports.size(); i++)
      if (ports[i]->host) host_[i] = std::make_unique<host::HostOut>(ports[i]->host.get(), tx_[i].get(), pool, cache, txq);
  }

  // Applies the verdict of each of n mbufs, in order. A host socket's replies (the bulk of
  // a server's verdicts) go to their host in runs, HostOut::reply_burst, and
  // any other verdict first sends the run before it, so nothing is reordered.
  void apply_burst(Mbuf* const* ms, uint32_t n) {
    Mbuf* run[TxBuffer::kMax];
    uint32_t k = 0;
    uint16_t run_port = 0;
    for (uint32_t i = 0; i < n; i++) {
      Mbuf* m = ms[i];
      if (!in_slot(m)) continue;
      const bool host_reply = (m->flags & host::kMbufHostDatagram) && m->verdict == kVerdictReply &&
                              m->port < host_.size() && host_[m->port];
      if (k && (!host_reply || m->port != run_port || k == TxBuffer::kMax)) {
        replies(run, k, run_port);
        k = 0;
      }
      if (host_reply) {
        run_port = m->port;
        run[k++] = m;
      } else {
        apply_checked(m);
      }
    }
    if (k) replies(run, k, run_port);
  }

  // Datagrams of a host socket: its reply and send verdicts are the host's to
  // finish. Returns false for a verdict the plain path handles (drop, forward).
  bool apply_host(Mbuf* m) {
    host::HostOut* h = m->port < host_.size() ? host_[m->port].get() : nullptr;
    if (m->verdict == kVerdictReply || m->verdict == host::kVerdictSend) {
      if (!h || tx_[m->port]->port()->closed) {
        counters_->bad.add(1);
        pool_->free_one(cache_, m);
        return true;
      }
      counters_->replied.add(m->verdict == kVerdictReply);
      counters_->sent.add(m->verdict == host::kVerdictSend);
      if (m->verdict == kVerdictReply) h->reply(m);
      else h->send(m);
      return true;
    }
    m->flags &= ~host::kMbufHostDatagram;  // forwarded or dropped as a plain packet
    return false;
  }

  void flush() {
    for (auto& t : tx_) t->flush();
  }
  void drop_all() {
    for (auto& t : tx_) t->drop_all();
  }

 private:
  // The handler wrote this header (it may write any byte of the pool): a
  // packet must start after the header and end inside its own slot before a
  // driver reads it (docs/memory-format.md, "Mbuf"). Checked against the
  // pool's slot, not Mbuf::buf_len, which is in the same writable header.
  // False: freed and counted.
  bool in_slot(Mbuf* m) {
    if (m->data_off < kMbufHeaderSize || uint32_t(m->data_off) + m->data_len > pool_->slot_size()) {
      counters_->bad.add(1);
      pool_->free_one(cache_, m);
      return false;
    }
    return true;
  }

  void apply_checked(Mbuf* m) {
    uint16_t out;
    if (m->verdict == host::kVerdictSend || (m->flags & host::kMbufHostDatagram)) {
      if (apply_host(m)) return;
    }
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

  // n host datagrams answered on port `port` (which has a host).
  void replies(Mbuf* const* m, uint32_t n, uint16_t port) {
    if (tx_[port]->port()->closed) {
      counters_->bad.add(n);
      pool_->free_bulk(cache_, m, n);
      return;
    }
    counters_->replied.add(n);
    host_[port]->reply_burst(m, n);
  }

  Mempool* pool_;
  Mempool::Cache* cache_;
  VerdictCounters* counters_;
  std::vector<std::unique_ptr<TxBuffer>> tx_;
  std::vector<std::unique_ptr<host::HostOut>> host_;
};

}  // namespace lr
