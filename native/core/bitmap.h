// A fixed-size set of mbuf indices, one bit each: who holds which mbuf when a
// count is not enough (the af_xdp queues' kernel-held mbufs, the mbufs a
// handler channel has handed to JavaScript). Not thread-safe: one owner thread
// writes and reads it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace lr {

struct Bitmap {
  std::vector<uint64_t> w;
  void init(uint32_t n) { w.assign((size_t(n) + 63) / 64, 0); }
  uint32_t bits() const { return uint32_t(w.size() * 64); }
  bool test(uint32_t i) const { return (w[i >> 6] >> (i & 63)) & 1; }
  void set(uint32_t i) { w[i >> 6] |= 1ull << (i & 63); }
  void clear(uint32_t i) { w[i >> 6] &= ~(1ull << (i & 63)); }
  // Calls f(i) for every set bit, in index order, and clears them all.
  template <class F>
  void take_all(F&& f) {
    for (size_t k = 0; k < w.size(); k++) {
      uint64_t v = w[k];
      w[k] = 0;
      while (v) {
        f(uint32_t(k * 64 + uint32_t(__builtin_ctzll(v))));
        v &= v - 1;
      }
    }
  }
};

}  // namespace lr
