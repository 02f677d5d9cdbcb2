// Time-stamp counter helpers. The hot path counts cycles with rdtsc (no syscall,
// no fence: we want cheap, monotonic-enough accounting, not serialised timing).
#pragma once
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

namespace lr {

inline uint64_t rdtsc() {
#if defined(__x86_64__) || defined(__i386__)
  return __rdtsc();
#else
  // Portable fallback: nanoseconds from the monotonic clock; tsc_hz() is then 1e9.
  extern uint64_t monotonic_ns();
  return monotonic_ns();
#endif
}

inline void cpu_pause() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

uint64_t monotonic_ns();
// Cycles per second of rdtsc(), measured once against CLOCK_MONOTONIC.
uint64_t tsc_hz();
// Wall-clock nanoseconds (CLOCK_REALTIME), for pcap timestamps.
uint64_t realtime_ns();

}  // namespace lr
