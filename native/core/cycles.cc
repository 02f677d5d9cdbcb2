#include "core/cycles.h"

#include <ctime>
#include <mutex>

namespace lr {

uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

uint64_t tsc_hz() {
#if defined(__x86_64__) || defined(__i386__)
  static std::once_flag once;
  static uint64_t hz = 0;
  std::call_once(once, [] {
    // 20 ms is enough for a <0.1% estimate; the counters it feeds (busy %,
    // cycles per packet) are ratios where that error does not matter.
    const uint64_t t0 = monotonic_ns(), c0 = rdtsc();
    timespec req{0, 20 * 1000 * 1000};
    nanosleep(&req, nullptr);
    const uint64_t t1 = monotonic_ns(), c1 = rdtsc();
    hz = uint64_t(double(c1 - c0) * 1e9 / double(t1 - t0));
  });
  return hz;
#else
  return 1000000000ull;
#endif
}

}  // namespace lr
