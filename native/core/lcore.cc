#include "core/lcore.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
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
    tid_.store(int(gettid()), std::memory_order_relaxed);
    pinned.set_value(err);
    if (err == 0) run();
    tid_.store(0, std::memory_order_relaxed);
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
  wake_.notify();  // an lcore blocked on its wake-up fds ends its wait now
  thread_.join();
  wake_.reset();
}

// Adaptive idle, by the number of empty polls in a row: spin (traffic often
// resumes within microseconds), then pause, then sleep.
constexpr uint32_t kSpinPolls = 1024;
constexpr uint32_t kPausePolls = 4096;

static void sleep_us(uint32_t us) {
  timespec ts{time_t(us / 1000000), long(us % 1000000) * 1000};
  nanosleep(&ts, nullptr);
}

void Lcore::idle(uint32_t& streak) {
  if (opts_.idle == IdleMode::Busy) return;
  // The first poll that finds packets resets the streak, so full speed returns at once.
  ++streak;
  if (streak < kSpinPolls) return;
  if (streak < kPausePolls) {
    for (int i = 0; i < 16; i++) cpu_pause();
    return;
  }
  if (waits_on_fds()) {
    // Block until a packet arrives. Arming first and then polling once more
    // (the loop does) closes the race with a packet that came just before the
    // interrupt was unmasked: that one is found by the poll, any later one
    // raises the interrupt.
    if (!armed_) {
      prepare_wait();
      return;
    }
    block();
    return;
  }
  // No wake-up fds: sleep with a growing interval capped at max_sleep_us.
  sleep_us(std::min<uint32_t>(opts_.max_sleep_us, 1 + (streak - kPausePolls) / 64));
  counters_.sleeps.add(1);
}

bool Lcore::setup_wait() {
  if (opts_.idle != IdleMode::Adaptive || !wake_.ok() || tasks_.empty()) return false;
  std::vector<int> fds;
  for (auto& t : tasks_)
    if (!t->wake_fds(fds)) return false;
  wake_.set_fds(fds);
  return !fds.empty();
}

void Lcore::prepare_wait() {
  // Nothing may wait in a tx buffer while the lcore blocks: flush now rather
  // than wake up for the drain timer. And publish the counters, so stats are
  // current while it sleeps.
  for (auto& t : tasks_) t->flush();
  publish();
  for (auto& t : tasks_) t->arm_wakeup();
  armed_ = true;
}

void Lcore::block() {
  counters_.waits.add(1);
  const WakeWait::Result r = wake_.wait(opts_.max_wait_us);
  disarm();
  if (r == WakeWait::Result::Woken) counters_.wakeups.add(1);
  if (r == WakeWait::Result::Timeout) counters_.wait_timeouts.add(1);
  if (r == WakeWait::Result::Faulted) {
    // An fd in an error state would end every wait at once: sleep a step
    // instead, so the lcore polls on (the driver counts the error) without spinning.
    sleep_us(opts_.max_sleep_us);
    counters_.sleeps.add(1);
  }
}

void Lcore::disarm() {
  for (auto& t : tasks_) t->disarm_wakeup();
  armed_ = false;
}

void Lcore::publish() {
  counters_.loops.add(loops_);
  counters_.busy_loops.add(busy_loops_);
  counters_.packets.add(packets_);
  counters_.cycles.add(cycles_);
  counters_.busy_cycles.add(busy_cycles_);
  loops_ = busy_loops_ = packets_ = cycles_ = busy_cycles_ = 0;
}

void Lcore::run() {
  const uint64_t drain_cycles = tsc_hz() / 1000000 * opts_.drain_us;
  waits_on_fds_.store(setup_wait(), std::memory_order_relaxed);
  armed_ = false;
  uint64_t prev = rdtsc(), last_flush = prev;
  uint32_t streak = 0;
  while (!quit_.load(std::memory_order_relaxed)) {
    const uint64_t start = rdtsc();
    uint32_t n = 0;
    for (auto& t : tasks_) n += t->poll();
    const uint64_t now = rdtsc();
    loops_++;
    cycles_ += now - prev;
    if (n) {
      busy_loops_++;
      packets_ += n;
      busy_cycles_ += now - start;  // not the idle sleep before it
      streak = 0;
      if (armed_) disarm();  // the poll after arming found work: no wait
    }
    prev = now;
    if (now - last_flush >= drain_cycles) {
      for (auto& t : tasks_) t->flush();
      last_flush = now;
      publish();
    }
    if (!n) idle(streak);
  }
  if (armed_) disarm();
  for (auto& t : tasks_) t->flush();
  publish();
  waits_on_fds_.store(false, std::memory_order_relaxed);
}

}  // namespace lr
