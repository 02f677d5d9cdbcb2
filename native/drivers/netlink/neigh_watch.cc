#include "drivers/netlink/neigh_watch.h"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "core/error.h"
#include "drivers/netns.h"

namespace lr {

namespace {

constexpr size_t kRecvBuf = 64 * 1024;  // rtnetlink dump parts are at most a page or two; notifications are small
constexpr int kRcvBufBytes = 1 << 20;   // socket buffer, so a burst of changes does not overflow it
constexpr int kRequestTimeoutMs = 2000;

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

int open_route_socket(const std::string& scope) {
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) fail_syscall("SOCKET_SETUP", scope + ": cannot open a NETLINK_ROUTE socket", errno, "CAP_NET_ADMIN");
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    const int e = errno;
    ::close(fd);
    fail_syscall("SOCKET_SETUP", scope + ": cannot bind a NETLINK_ROUTE socket", e, "CAP_NET_ADMIN");
  }
  return fd;
}

struct NeighReq {
  nlmsghdr nh;
  ndmsg ndm;
  char attrs[64];
};

void put_attr(NeighReq& m, uint16_t type, const void* data, size_t len) {
  auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&m) + NLMSG_ALIGN(m.nh.nlmsg_len));
  a->rta_type = type;
  a->rta_len = uint16_t(RTA_LENGTH(len));
  std::memcpy(RTA_DATA(a), data, len);
  m.nh.nlmsg_len = uint32_t(NLMSG_ALIGN(m.nh.nlmsg_len) + RTA_ALIGN(a->rta_len));
}

int send_to_kernel(int fd, const void* msg, size_t len) {
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;  // nl_pid 0: the kernel
  const ssize_t r = ::sendto(fd, msg, len, 0, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  return r < 0 ? -errno : 0;
}

}  // namespace

bool KernelNeighbourWatch::Key::operator<(const Key& o) const {
  if (family != o.family) return family < o.family;
  return std::memcmp(ip, o.ip, sizeof ip) < 0;
}

bool KernelNeighbourWatch::usable(uint16_t s) {
  // include/net/neighbour.h NUD_VALID: the states with a link-layer address to send to.
  return (s & (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_PROBE | NUD_STALE | NUD_DELAY)) != 0;
}

KernelNeighbourWatch::KernelNeighbourWatch(const Netns& netns, int ifindex, Callback cb, const std::string& scope)
    : scope_(scope), ifindex_(ifindex), cb_(std::move(cb)) {
  try {
    {
      // Netlink sockets act in the namespace they were created in (netns.h).
      NetnsScope ns(netns, scope_);
      watch_fd_ = open_route_socket(scope_);
      req_fd_ = open_route_socket(scope_);
    }
    // A bigger buffer (beyond rmem_max with CAP_NET_ADMIN) makes overflows rare; they are handled anyway.
    if (setsockopt(watch_fd_, SOL_SOCKET, SO_RCVBUFFORCE, &kRcvBufBytes, sizeof kRcvBufBytes) < 0)
      setsockopt(watch_fd_, SOL_SOCKET, SO_RCVBUF, &kRcvBufBytes, sizeof kRcvBufBytes);
    const int group = RTNLGRP_NEIGH;
    if (setsockopt(watch_fd_, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0)
      fail_syscall("SOCKET_SETUP", scope_ + ": cannot subscribe to the kernel's neighbour notifications (RTNLGRP_NEIGH)", errno,
                   "CAP_NET_ADMIN");
    timeval tv{kRequestTimeoutMs / 1000, 0};
    setsockopt(req_fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (stop_fd_ < 0) fail_syscall("SOCKET_SETUP", scope_ + ": eventfd for the neighbour watch", errno, "");
    dump_all(nullptr);
    if (lost_) resync();
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    close_fd(watch_fd_);
    close_fd(req_fd_);
    close_fd(stop_fd_);
    throw;
  }
}

KernelNeighbourWatch::~KernelNeighbourWatch() { stop(); }

void KernelNeighbourWatch::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable()) {
    const uint64_t one = 1;
    if (::write(stop_fd_, &one, sizeof one) < 0) {
      // An eventfd write fails only when the counter would overflow: it is already readable.
    }
    thread_.join();
  }
  close_fd(watch_fd_);
  close_fd(stop_fd_);
  std::lock_guard<std::mutex> g(req_mu_);  // a request in flight on another thread finishes first
  close_fd(req_fd_);
}

void KernelNeighbourWatch::dump_all(std::map<Key, uint16_t>* seen) {
  dump(AF_INET, seen);
  dump(AF_INET6, seen);
}

// One RTM_GETNEIGH dump of family `af` (rtnetlink(7)); notifications that
// arrive meanwhile are handled in order with it.
void KernelNeighbourWatch::dump(uint8_t af, std::map<Key, uint16_t>* seen) {
  struct {
    nlmsghdr nh;
    ndmsg ndm;
  } req{};
  req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg));
  req.nh.nlmsg_type = RTM_GETNEIGH;
  req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nh.nlmsg_seq = ++seq_;
  req.ndm.ndm_family = af;
  int r = send_to_kernel(watch_fd_, &req, req.nh.nlmsg_len);
  if (r < 0) fail("SOCKET_SETUP", scope_ + ": asking the kernel for its neighbour table failed: " + errno_text(-r));
  std::vector<char> buf(kRecvBuf);
  for (;;) {
    const ssize_t n = ::recv(watch_fd_, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        // Notifications were lost while we dumped; the dump itself goes on,
        // and resync() runs again once it is done.
        lost_ = true;
        continue;
      }
      fail("SOCKET_SETUP", scope_ + ": reading the kernel's neighbour table failed: " + errno_text(errno));
    }
    int err = 0;
    if (handle(buf.data(), size_t(n), req.nh.nlmsg_seq, &err, seen)) {
      if (err) fail("SOCKET_SETUP", scope_ + ": the kernel refused the neighbour dump: " + errno_text(-err));
      return;
    }
  }
}

bool KernelNeighbourWatch::handle(const char* buf, size_t len, uint32_t dump_seq, int* dump_err, std::map<Key, uint16_t>* seen) {
  bool done = false;
  size_t left = len;
  for (auto* h = reinterpret_cast<const nlmsghdr*>(buf); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
    const bool of_dump = dump_seq && h->nlmsg_seq == dump_seq;
    if (h->nlmsg_type == NLMSG_DONE) {
      if (of_dump) done = true;
      continue;
    }
    if (h->nlmsg_type == NLMSG_ERROR) {
      if (of_dump) {
        done = true;
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr))) *dump_err = reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
      }
      continue;
    }
    // The kernel also multicasts RTM_GETNEIGH (neigh_app_ns, for user-space
    // resolvers when app_probes > 0): not a change of the table.
    if (h->nlmsg_type != RTM_NEWNEIGH && h->nlmsg_type != RTM_DELNEIGH) continue;
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) continue;
    const auto* ndm = reinterpret_cast<const ndmsg*>(NLMSG_DATA(h));
    if (ndm->ndm_ifindex != ifindex_) continue;
    if (ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6) continue;
    if (ndm->ndm_flags & NTF_PROXY) continue;  // proxy entries answer for others; not neighbours
    // Attributes (include/uapi/linux/neighbour.h): NDA_DST the protocol address,
    // NDA_LLADDR the link-layer address (6 bytes on Ethernet).
    const uint8_t* dst = nullptr;
    const uint8_t* lladdr = nullptr;
    size_t dst_len = 0, ll_len = 0;
    int alen = int(h->nlmsg_len) - int(NLMSG_LENGTH(sizeof(ndmsg)));
    for (auto* a = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(ndm) + NLMSG_ALIGN(sizeof(ndmsg))); RTA_OK(a, alen);
         a = RTA_NEXT(a, alen)) {
      if (a->rta_type == NDA_DST) {
        dst = reinterpret_cast<const uint8_t*>(RTA_DATA(a));
        dst_len = RTA_PAYLOAD(a);
      } else if (a->rta_type == NDA_LLADDR) {
        lladdr = reinterpret_cast<const uint8_t*>(RTA_DATA(a));
        ll_len = RTA_PAYLOAD(a);
      }
    }
    const size_t want = ndm->ndm_family == AF_INET ? 4 : 16;
    if (!dst || dst_len != want) continue;
    Key k{};
    k.family = ndm->ndm_family == AF_INET ? 4 : 6;
    std::memcpy(k.ip, dst, want);
    const bool del = h->nlmsg_type == RTM_DELNEIGH;
    const uint16_t state = del ? 0 : ndm->ndm_state;
    const uint8_t* mac = !del && usable(state) && lladdr && ll_len == 6 ? lladdr : nullptr;
    {
      std::lock_guard<std::mutex> g(known_mu_);
      if (del)
        known_.erase(k);
      else
        known_[k] = state;
    }
    if (of_dump && seen) (*seen)[k] = state;
    if (!dump_seq || !of_dump) events_.fetch_add(1, std::memory_order_relaxed);
    cb_(k.family, k.ip, mac, state);
  }
  return done;
}

void KernelNeighbourWatch::run() {
  std::vector<char> buf(kRecvBuf);
  pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {watch_fd_, POLLIN, 0}};
  for (;;) {
    fds[0].revents = fds[1].revents = 0;
    const int r = ::poll(fds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[0].revents) return;
    if (!(fds[1].revents & POLLIN)) {
      if (fds[1].revents & (POLLERR | POLLHUP | POLLNVAL)) {
        // POLLERR on a netlink socket is the overflow (sk_err = ENOBUFS): read it below.
      } else {
        continue;
      }
    }
    const ssize_t n = ::recv(watch_fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    try {
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        if (errno != ENOBUFS) return;
        resync();
        continue;
      }
      int err = 0;
      handle(buf.data(), size_t(n), 0, &err, nullptr);
    } catch (...) {
      // A throwing callback or a failed re-dump must not take the process down
      // from a thread of ours; the mirror goes on with the next notification.
    }
  }
}

// Notifications were lost (the socket's buffer overflowed): dump again, and
// report as deleted what the dump no longer shows.
void KernelNeighbourWatch::resync() {
  for (int tries = 0; tries < 4; tries++) {
    lost_ = false;
    resyncs_.fetch_add(1, std::memory_order_relaxed);
    std::map<Key, uint16_t> before;
    {
      std::lock_guard<std::mutex> g(known_mu_);
      before = known_;
    }
    std::map<Key, uint16_t> seen;
    dump_all(&seen);
    for (const auto& kv : before) {
      if (seen.count(kv.first)) continue;
      {
        std::lock_guard<std::mutex> g(known_mu_);
        known_.erase(kv.first);
      }
      cb_(kv.first.family, kv.first.ip, nullptr, 0);
    }
    if (!lost_) return;
  }
}

bool KernelNeighbourWatch::request_resolution(uint8_t family, const uint8_t ip[16]) {
  if (family != 4 && family != 6) return false;
  Key k{};
  k.family = family;
  std::memcpy(k.ip, ip, family == 4 ? 4 : 16);
  {
    std::lock_guard<std::mutex> g(known_mu_);
    auto it = known_.find(k);
    // PERMANENT: NTF_USE would make it dynamic (__neigh_update: new = old & ~NUD_PERMANENT).
    // NOARP, REACHABLE: nothing to resolve (neigh_event_send returns at once for them).
    if (it != known_.end() && (it->second & (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE))) return true;
  }
  std::lock_guard<std::mutex> g(req_mu_);
  if (req_fd_ < 0) return false;
  NeighReq m{};
  m.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg));
  m.nh.nlmsg_type = RTM_NEWNEIGH;
  // NLM_F_CREATE: neigh_add answers ENOENT without it for an address it does not know.
  m.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE;
  m.nh.nlmsg_seq = ++req_seq_;
  m.ndm.ndm_family = family == 4 ? AF_INET : AF_INET6;
  m.ndm.ndm_ifindex = ifindex_;
  m.ndm.ndm_state = NUD_NONE;  // ignored with NTF_USE; NONE says we assert nothing
  m.ndm.ndm_flags = NTF_USE;
  put_attr(m, NDA_DST, k.ip, family == 4 ? 4 : 16);
  int r = send_to_kernel(req_fd_, &m, m.nh.nlmsg_len);
  if (r == 0) {
    char buf[1024];
    for (;;) {
      const ssize_t n = ::recv(req_fd_, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        r = -errno;  // EAGAIN: no answer in time
        break;
      }
      const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
      if (!NLMSG_OK(h, size_t(n)) || h->nlmsg_seq != m.nh.nlmsg_seq || h->nlmsg_type != NLMSG_ERROR) continue;
      r = h->nlmsg_len >= NLMSG_LENGTH(sizeof(nlmsgerr)) ? reinterpret_cast<const nlmsgerr*>(NLMSG_DATA(h))->error : -EPROTO;
      break;
    }
  }
  if (r < 0) last_error_.store(r);
  return r == 0;
}

}  // namespace lr
