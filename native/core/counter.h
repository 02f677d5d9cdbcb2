// A statistics counter with one writer (the lcore that owns it) and any number
// of lock-free readers. The writer does load+store, not an atomic RMW: with one
// writer that is exact and compiles to a plain add, while readers still see a
// torn-free 64-bit value (relaxed atomics; no ordering is implied).
#pragma once
#include <atomic>
#include <cstdint>

namespace lr {

class Counter {
 public:
  Counter() = default;
  Counter(const Counter& o) : v_(o.get()) {}
  Counter& operator=(const Counter& o) {
    v_.store(o.get(), std::memory_order_relaxed);
    return *this;
  }
  void add(uint64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void set(uint64_t n) { v_.store(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

}  // namespace lr
