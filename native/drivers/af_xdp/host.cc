#include "drivers/af_xdp/host.h"

#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace lr::xdp {

bool interface_queues(int ctl_fd, const std::string& ifname, uint32_t& rx, uint32_t& tx) {
  ethtool_channels ch{};
  ch.cmd = ETHTOOL_GCHANNELS;
  ifreq r;
  std::memset(&r, 0, sizeof r);
  std::strncpy(r.ifr_name, ifname.c_str(), IFNAMSIZ - 1);
  r.ifr_data = reinterpret_cast<char*>(&ch);
  if (ioctl(ctl_fd, SIOCETHTOOL, &r) != 0) return false;
  rx = ch.rx_count + ch.combined_count;
  tx = ch.tx_count + ch.combined_count;
  return rx > 0;
}

bool has_capability(int cap) {
  struct Header {
    uint32_t version;
    int pid;
  } h{0x20080522, 0};  // _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set
  struct Data {
    uint32_t effective, permitted, inheritable;
  } d[2] = {};
  if (syscall(SYS_capget, &h, d) != 0) return false;
  return (d[cap / 32].effective >> (cap % 32)) & 1;
}

}  // namespace lr::xdp
