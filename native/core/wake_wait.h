// Blocking idle for an lcore: wait until one of its tasks' wake-up fds turns
// readable (an rx queue's MSI-X eventfd, an AF_XDP or packet socket), until
// another thread calls notify() (Lcore::stop), or until a time limit.
//
// Why poll(2) and not epoll: the set is fixed while the lcore runs and small
// (one fd per rx queue of the lcore, plus one), so one ppoll call with a
// prebuilt array costs no more than epoll_wait and needs no extra kernel object.
#pragma once
#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lr {

class WakeWait {
 public:
  // Faulted: only error conditions (POLLERR, POLLHUP, POLLNVAL: an interface
  // gone down under a socket), which stay set and would end every wait at once.
  enum class Result { Woken, Timeout, Stopped, Faulted };

  WakeWait();
  ~WakeWait();
  WakeWait(const WakeWait&) = delete;
  WakeWait& operator=(const WakeWait&) = delete;

  // False when the notify eventfd could not be created (then nothing can block).
  bool ok() const { return notify_fd_ >= 0; }
  // The fds to wait on (the lcore thread, before it loops).
  void set_fds(const std::vector<int>& fds);
  size_t fd_count() const { return fds_.empty() ? 0 : fds_.size() - 1; }

  // Blocks for at most timeout_us. A notify() that came before the call ends it
  // at once, so a stop() is never missed between the loop's check and the wait.
  Result wait(uint32_t timeout_us);
  // Any thread: ends the current or the next wait with Stopped.
  void notify();
  // Forgets earlier notify() calls (before the lcore starts again).
  void reset();

 private:
  int notify_fd_ = -1;
  std::vector<pollfd> fds_;  // [0] = notify_fd_
};

}  // namespace lr
