#include "drivers/af_xdp/attach.h"

#include <cerrno>

#include "core/error.h"
#include "drivers/af_xdp/host.h"
#include "drivers/af_xdp/netlink_xdp.h"
#include "drivers/af_xdp/uapi.h"
#include "drivers/netns.h"

namespace lr::xdp {

void XdpAttachment::attach(int prog, int ifindex, bool force_netlink, bool force_skb) {
  ifindex_ = ifindex;
  const uint32_t modes[2] = {kXdpFlagsDrvMode, kXdpFlagsSkbMode};
  int err = 0;
  if (!force_netlink) {
    for (uint32_t mode : modes) {
      if (force_skb && mode == kXdpFlagsDrvMode) continue;
      const int fd = bpf_xdp_link_create(prog, ifindex, mode);
      if (fd >= 0) {
        link_.reset(fd);
        by_link_ = true;
        native_ = mode == kXdpFlagsDrvMode;
        return;
      }
      err = fd;
      if (err == -EBUSY || err == -EEXIST || err == -EPERM) break;
    }
    if (err == -EBUSY || err == -EEXIST) busy();
    if (err == -EPERM || err == -EACCES)
      fail("MISSING_CAPABILITY", scope_ + ": attaching XDP to '" + ifname_ + "' needs CAP_NET_ADMIN: " + kCapFix);
    // Only a kernel without XDP links (before 5.9) falls through to netlink.
    if (err != -EINVAL && err != -ENOSYS && err != -EOPNOTSUPP)
      fail("XDP_ATTACH_REFUSED", scope_ + ": attaching the XDP program to '" + ifname_ + "' failed: " + errno_text(-err));
  }
  for (uint32_t mode : modes) {
    if (force_skb && mode == kXdpFlagsDrvMode) continue;
    err = netlink_xdp_attach(ifindex, prog, mode);
    if (err == 0) {
      netlink_mode_ = mode;
      by_link_ = false;
      native_ = mode == kXdpFlagsDrvMode;
      return;
    }
    if (err == -EBUSY || err == -EEXIST) busy();
  }
  fail("XDP_ATTACH_REFUSED", scope_ + ": attaching the XDP program to '" + ifname_ + "' failed: " + errno_text(-err));
}

void XdpAttachment::busy() const {
  const std::string ns = netns_cmd_prefix(netns_);
  fail("XDP_ATTACH_REFUSED", scope_ + ": interface '" + ifname_ + "' already has an XDP program attached. See which with: " + ns +
                                 "ip -d link show dev " + ifname_ + " (prog/xdp). If ip or another tool attached it, remove it with: " + ns +
                                 "ip link set dev " + ifname_ + " xdp off; if a running process holds it through a BPF link "
                                 "(another linerate engine, a libxdp program), stop that process");
}

void XdpAttachment::detach(int prog_fd) {
  link_.reset();  // closing the BPF link detaches the program
  if (netlink_mode_) {
    try {
      NetnsScope ns(netns_, scope_);
      netlink_xdp_detach(ifindex_, prog_fd, netlink_mode_);
    } catch (...) {
      // The namespace is gone, and the interface and its program with it.
    }
    netlink_mode_ = 0;
  }
}

}  // namespace lr::xdp
