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
};

enum class IdleMode { Busy, Adaptive };

struct alignas(64) LcoreCounters {
  Counter loops;        // iterations of the task loop
  Counter busy_loops;   // iterations in which some task moved packets
  Counter packets;      // packets moved by all tasks
  Counter cycles;       // TSC cycles spent in the loop
  Counter busy_cycles;  // of which in iterations that moved packets
  Counter sleeps;       // adaptive idle: times the lcore slept
};

struct LcoreOptions {
  IdleMode idle = IdleMode::Busy;
  uint32_t drain_us = 100;      // tx buffers are flushed at least this often
  uint32_t max_sleep_us = 50;   // adaptive idle: longest sleep between polls
};

class Lcore {
 public:
  Lcore(uint32_t index, int cpu, const LcoreOptions& opts) : index_(index), cpu_(cpu), opts_(opts) {}
  ~Lcore() { stop(); }

  uint32_t index() const { return index_; }
  int cpu() const { return cpu_; }
  const LcoreCounters& counters() const { return counters_; }
  bool running() const { return thread_.joinable(); }

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

  uint32_t index_;
  int cpu_;
  LcoreOptions opts_;
  std::vector<std::unique_ptr<Task>> tasks_;
  std::thread thread_;
  std::atomic<bool> quit_{false};
  LcoreCounters counters_;
};

// CPUs this process may run on (sched_getaffinity).
std::vector<int> allowed_cpus();

}  // namespace lr
