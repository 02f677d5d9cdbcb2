#include "core/wake_wait.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace lr {

WakeWait::WakeWait() { notify_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

WakeWait::~WakeWait() {
  if (notify_fd_ >= 0) ::close(notify_fd_);
}

void WakeWait::set_fds(const std::vector<int>& fds) {
  fds_.clear();
  fds_.push_back({notify_fd_, POLLIN, 0});
  for (int fd : fds) fds_.push_back({fd, POLLIN, 0});
}

WakeWait::Result WakeWait::wait(uint32_t timeout_us) {
  const timespec ts{time_t(timeout_us / 1000000), long(timeout_us % 1000000) * 1000};
  for (auto& p : fds_) p.revents = 0;
  int n;
  do {
    n = ppoll(fds_.data(), fds_.size(), &ts, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return Result::Timeout;  // an error (none expected with valid fds) counts as a timeout: the lcore polls again
  if (fds_[0].revents) return Result::Stopped;
  for (size_t i = 1; i < fds_.size(); i++)
    if (fds_[i].revents & POLLIN) return Result::Woken;
  return Result::Faulted;
}

void WakeWait::notify() {
  const uint64_t one = 1;
  if (notify_fd_ >= 0) (void)!::write(notify_fd_, &one, sizeof one);
}

void WakeWait::reset() {
  uint64_t v;
  if (notify_fd_ >= 0) (void)!::read(notify_fd_, &v, sizeof v);
}

}  // namespace lr
