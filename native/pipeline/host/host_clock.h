// The host layer's clock: nanoseconds from the TSC (no syscall on the data
// path), for neighbour timers and rate limits. Monotonic per thread; good to a
// few microseconds across cores, which timers of milliseconds do not notice.
#pragma once
#include <cstdint>

#include "core/cycles.h"

namespace lr::host {

inline uint64_t host_now_ns() {
  static const double ns_per_cycle = 1e9 / double(tsc_hz());
  return uint64_t(double(rdtsc()) * ns_per_cycle);
}

}  // namespace lr::host
