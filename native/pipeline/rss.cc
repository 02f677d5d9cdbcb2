#include "pipeline/rss.h"

namespace lr {

static std::vector<uint8_t> key_or_default(const std::vector<uint8_t>& k) {
  if (!k.empty()) return k;
  return std::vector<uint8_t>(Toeplitz::kDefaultKey, Toeplitz::kDefaultKey + Toeplitz::kKeyLen);
}

RssStage::RssStage(Port* port, std::vector<Ring*> rings, Mempool* pool, Mempool::Cache* cache)
    : port_(port), rings_(std::move(rings)), pool_(pool), cache_(cache), hash_(key_or_default(port->rss().key)),
      symmetric_(port->rss().symmetric) {
  for (uint32_t i = 0; i < kRetaSize; i++) reta_[i] = uint16_t(i % rings_.size());
}

void RssStage::process(Mbuf** m, uint16_t n) {
  constexpr uint16_t kMaxQ = 64;
  uint32_t per_q[kMaxQ][64];
  uint16_t count[kMaxQ] = {};
  uint64_t bytes[kMaxQ] = {};
  const uint16_t nq = uint16_t(rings_.size());
  uint8_t in[Toeplitz::kMaxInput];
  for (uint16_t i = 0; i < n; i++) {
    const size_t len = rss_input(m[i], symmetric_, in);
    const uint32_t h = len ? hash_.hash(in, len) : 0;
    const uint16_t q = reta_[h & (kRetaSize - 1)];
    m[i]->rss_hash = h;
    m[i]->flags |= kMbufRssValid;
    m[i]->queue = q;
    per_q[q][count[q]++] = pool_->index_of(m[i]);
    bytes[q] += m[i]->data_len;
  }
  auto& stats = port_->rxq();
  for (uint16_t q = 0; q < nq; q++) {
    if (!count[q]) continue;
    const uint32_t sent = rings_[q]->enqueue_burst(per_q[q], count[q]);
    stats[q].packets.add(count[q]);
    stats[q].bytes.add(bytes[q]);
    if (sent < count[q]) {
      Mbuf* rest[64];
      for (uint32_t i = sent; i < count[q]; i++) rest[i - sent] = pool_->mbuf(per_q[q][i]);
      pool_->free_bulk(cache_, rest, count[q] - sent);
      stats[q].ring_full.add(count[q] - sent);
    }
  }
}

}  // namespace lr
