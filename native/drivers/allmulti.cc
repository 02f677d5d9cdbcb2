#include "drivers/allmulti.h"

#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "core/error.h"
#include "drivers/netns.h"

namespace lr {

void AllMulticast::set(bool on, const std::string& netns, int ifindex, const std::string& scope) {
  if (!on) return release();
  if (fd_ >= 0) return;
  int fd;
  {
    // A packet socket belongs to the namespace it was created in (drivers/netns.h).
    NetnsScope ns(netns, scope);
    fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);  // protocol 0: receives no frame
  }
  if (fd < 0) fail_syscall("SOCKET_SETUP", scope + ": cannot open a packet socket for all-multicast reception", errno, "CAP_NET_RAW");
  packet_mreq mr{};
  mr.mr_ifindex = ifindex;
  mr.mr_type = PACKET_MR_ALLMULTI;
  if (::setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof mr) != 0) {
    const int e = errno;
    ::close(fd);
    fail_syscall("SOCKET_SETUP", scope + ": cannot receive all multicast on interface " + std::to_string(ifindex), e, "CAP_NET_RAW");
  }
  fd_ = fd;
}

void AllMulticast::release() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace lr
