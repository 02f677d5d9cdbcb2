// An lcore: one OS thread pinned to one CPU, looping over its tasks. Each task
// runs a burst to completion per call (rx, stages, tx). Tasks are given to an
// lcore before it starts and never change while it runs, so the loop takes no
// lock. Counters have one writer (the lcore) and are read without locks.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/counter.h"
#include "core/wake_wait.h"

namespace lr {

class Task {
 public:
  virtual ~Task() = default;
  // One burst: returns the number of packets it moved (0 = idle).
  virtual uint32_t poll() = 0;
  // Called every drain period: send what waits in tx buffers.
  virtual void flush() {}
  // Called once after every lcore has stopped: give back every mbuf the task holds.
  virtual void drain() {}

  // Adaptive idle that blocks (docs/tuning.md): appends the fds that turn
  // readable when this task has work again, once arm_wakeup() was called, and
  // returns true. false (the default): the task cannot wake the lcore (a ring, a
  // JS channel, a driver without interrupts), so the lcore never blocks and
  // sleeps in short steps instead. Asked once, on the lcore thread, as it starts.
  virtual bool wake_fds(std::vector<int>& fds) {
    (void)fds;
    return false;
  }
  // Before the lcore blocks: make the fds signal new work (unmask interrupts).
  virtual void arm_wakeup() {}
  // After the wait (or when the last poll before it found work): back to polling.
  virtual void disarm_wakeup() {}
};

enum class IdleMode { Busy, Adaptive };

struct alignas(64) LcoreCounters {
  Counter loops;        // iterations of the task loop
  Counter busy_loops;   // iterations in which some task moved packets
  Counter packets;      // packets moved by all tasks
  Counter cycles;       // TSC cycles spent in the loop
  Counter busy_cycles;  // of which in iterations that moved packets
  Counter sleeps;       // adaptive idle: times the lcore slept (nanosleep, short steps)
  Counter waits;        // adaptive idle: times it blocked on its tasks' wake-up fds
  Counter wakeups;      // of which ended by a wake-up fd (a queue's interrupt)
  Counter wait_timeouts;  // of which ended by the time limit (max_wait_us)
};

struct LcoreOptions {
  IdleMode idle = IdleMode::Busy;
  uint32_t drain_us = 100;      // tx buffers are flushed at least this often
  uint32_t max_sleep_us = 50;   // adaptive idle: longest sleep between polls
  // Adaptive idle when every task offers a wake-up fd: longest block. Only a
  // safety net (a lost interrupt): tx buffers are flushed before blocking.
  uint32_t max_wait_us = 10000;
};

class Lcore {
 public:
  Lcore(uint32_t index, int cpu, const LcoreOptions& opts) : index_(index), cpu_(cpu), opts_(opts) {}
  ~Lcore() { stop(); }

  uint32_t index() const { return index_; }
  int cpu() const { return cpu_; }
  const LcoreCounters& counters() const { return counters_; }
  bool running() const { return thread_.joinable(); }
  // True while running with every task offering a wake-up fd: idle blocks until
  // a packet arrives instead of sleeping in steps.
  bool waits_on_fds() const { return waits_on_fds_.load(std::memory_order_relaxed); }
  // The thread's kernel id (gettid(2)) while it runs, 0 otherwise: the watchdog
  // reads /proc/self/task/<tid>/schedstat to see how much CPU the lcore got.
  int tid() const { return tid_.load(std::memory_order_relaxed); }

  void add_task(std::unique_ptr<Task> t) { tasks_.push_back(std::move(t)); }
  std::vector<std::unique_ptr<Task>>& tasks() { return tasks_; }
  void clear_tasks() { tasks_.clear(); }

  // Spawns the thread and waits until it is pinned; throws CPU_UNAVAILABLE when
  // the CPU cannot be used.
  void start();
  // Asks the loop to end and joins the thread.
  void stop();

 private:
  void run();
  void idle(uint32_t& streak);
  bool setup_wait();
  void prepare_wait();
  void block();
  void disarm();
  void publish();

  uint32_t index_;
  int cpu_;
  LcoreOptions opts_;
  std::vector<std::unique_ptr<Task>> tasks_;
  std::thread thread_;
  std::atomic<bool> quit_{false};
  std::atomic<bool> waits_on_fds_{false};
  std::atomic<int> tid_{0};
  LcoreCounters counters_;
  WakeWait wake_;
  // Lcore thread only: whether the tasks' wake-ups are armed, and counts not yet
  // published (stores to shared counters cost a few cycles; readers need no
  // per-loop freshness).
  bool armed_ = false;
  uint64_t loops_ = 0, busy_loops_ = 0, packets_ = 0, cycles_ = 0, busy_cycles_ = 0;
};

// CPUs this process may run on (sched_getaffinity).
std::vector<int> allowed_cpus();

}  // namespace lr
