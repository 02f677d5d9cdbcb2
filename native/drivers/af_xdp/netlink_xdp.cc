#include "drivers/af_xdp/netlink_xdp.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "drivers/af_xdp/uapi.h"

namespace lr::xdp {

namespace {

struct Msg {
  nlmsghdr nh;
  ifinfomsg ifi;
  char attrs[64];
};

rtattr* put(Msg& m, uint16_t type, const void* data, size_t len) {
  auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&m) + NLMSG_ALIGN(m.nh.nlmsg_len));
  a->rta_type = type;
  a->rta_len = uint16_t(RTA_LENGTH(len));
  if (len) std::memcpy(RTA_DATA(a), data, len);
  m.nh.nlmsg_len = uint32_t(NLMSG_ALIGN(m.nh.nlmsg_len) + RTA_ALIGN(a->rta_len));
  return a;
}

int setlink_xdp(int ifindex, int fd, uint32_t flags, int expected_fd) {
  int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (s < 0) return -errno;
  Msg m{};
  m.nh.nlmsg_len = NLMSG_LENGTH(sizeof(ifinfomsg));
  m.nh.nlmsg_type = RTM_SETLINK;
  m.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  m.nh.nlmsg_seq = 1;
  m.ifi.ifi_family = AF_UNSPEC;
  m.ifi.ifi_index = ifindex;
  rtattr* nest = put(m, kIflaXdp | NLA_F_NESTED, nullptr, 0);
  const int32_t v = fd;
  put(m, kIflaXdpFd, &v, sizeof v);
  if (expected_fd >= 0) {
    flags |= kXdpFlagsReplace;
    const int32_t e = expected_fd;
    put(m, kIflaXdpExpectedFd, &e, sizeof e);
  }
  put(m, kIflaXdpFlags, &flags, sizeof flags);
  nest->rta_len = uint16_t(reinterpret_cast<char*>(&m) + m.nh.nlmsg_len - reinterpret_cast<char*>(nest));

  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  int r = 0;
  if (sendto(s, &m, m.nh.nlmsg_len, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) {
    r = -errno;
  } else {
    char buf[4096];
    ssize_t n = recv(s, buf, sizeof buf, 0);
    if (n < 0) {
      r = -errno;
    } else {
      auto* h = reinterpret_cast<nlmsghdr*>(buf);
      if (NLMSG_OK(h, size_t(n)) && h->nlmsg_type == NLMSG_ERROR) r = reinterpret_cast<nlmsgerr*>(NLMSG_DATA(h))->error;
    }
  }
  ::close(s);
  return r;
}

}  // namespace

int netlink_xdp_attach(int ifindex, int prog_fd, uint32_t xdp_flags) {
  return setlink_xdp(ifindex, prog_fd, xdp_flags | kXdpFlagsUpdateIfNoexist, -1);
}

int netlink_xdp_detach(int ifindex, int prog_fd, uint32_t xdp_flags) {
  int r = setlink_xdp(ifindex, -1, xdp_flags, prog_fd);
  if (r == -EINVAL) r = setlink_xdp(ifindex, -1, xdp_flags, -1);  // kernels before 5.7: no EXPECTED_FD
  return r;
}

}  // namespace lr::xdp
