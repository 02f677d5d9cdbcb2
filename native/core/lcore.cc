#include "core/lcore.h"

#include <pthread.h>
#include <sched.h>

#include <cerrno>
#include <ctime>
#include <future>

#include "core/cycles.h"
#include "core/error.h"

namespace lr {

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> v;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return v;
  for (int i = 0; i < CPU_SETSIZE; i++)
    if (CPU_ISSET(i, &set)) v.push_back(i);
  return v;
}

void Lcore::start() {
  if (thread_.joinable()) return;
  quit_.store(false, std::memory_order_relaxed);
  std::promise<int> pinned;
  auto result = pinned.get_future();
  thread_ = std::thread([this, &pinned] {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu_, &set);
    const int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    char name[16];
    snprintf(name, sizeof name, "lr-lcore-%u", index_);
    pthread_setname_np(pthread_self(), name);
    pinned.set_value(err);
    if (err == 0) run();
  });
  const int err = result.get();
  if (err != 0) {
    thread_.join();
    fail("CPU_UNAVAILABLE", "cannot pin lcore " + std::to_string(index_) + " to CPU " + std::to_string(cpu_) + ": " +
                                errno_text(err) + "; list the CPUs this process may use with: taskset -pc $$");
  }
}

void Lcore::stop() {
  if (!thread_.joinable()) return;
  quit_.store(true, std::memory_order_relaxed);
  thread_.join();
}

void Lcore::idle(uint32_t& streak) {
  if (opts_.idle == IdleMode::Busy) return;
  // Adaptive: spin for a while (traffic often resumes within microseconds), then
  // pause, then sleep with a growing interval capped at max_sleep_us. The first
  // poll that finds packets resets the streak, so full speed returns at once.
  ++streak;
  if (streak < 1024) return;
  if (streak < 4096) {
    for (int i = 0; i < 16; i++) cpu_pause();
    return;
  }
  const uint32_t us = std::min<uint32_t>(opts_.max_sleep_us, 1 + (streak - 4096) / 64);
  timespec ts{0, long(us) * 1000};
  nanosleep(&ts, nullptr);
  counters_.sleeps.add(1);
}

void Lcore::run() {
  const uint64_t drain_cycles = tsc_hz() / 1000000 * opts_.drain_us;
  uint64_t prev = rdtsc(), last_flush = prev;
  uint32_t streak = 0;
  // Counters are published in batches of loops: one writer, but the stores still
  // cost a few cycles each, and stats readers do not need per-loop freshness.
  uint64_t loops = 0, busy_loops = 0, packets = 0, cycles = 0, busy_cycles = 0;
  while (!quit_.load(std::memory_order_relaxed)) {
    const uint64_t start = rdtsc();
    uint32_t n = 0;
    for (auto& t : tasks_) n += t->poll();
    const uint64_t now = rdtsc();
    loops++;
    cycles += now - prev;
    if (n) {
      busy_loops++;
      packets += n;
      busy_cycles += now - start;  // not the idle sleep before it
      streak = 0;
    }
    prev = now;
    if (now - last_flush >= drain_cycles) {
      for (auto& t : tasks_) t->flush();
      last_flush = now;
      counters_.loops.add(loops);
      counters_.busy_loops.add(busy_loops);
      counters_.packets.add(packets);
      counters_.cycles.add(cycles);
      counters_.busy_cycles.add(busy_cycles);
      loops = busy_loops = packets = cycles = busy_cycles = 0;
    }
    if (!n) idle(streak);
  }
  for (auto& t : tasks_) t->flush();
  counters_.loops.add(loops);
  counters_.busy_loops.add(busy_loops);
  counters_.packets.add(packets);
  counters_.cycles.add(cycles);
  counters_.busy_cycles.add(busy_cycles);
}

}  // namespace lr
