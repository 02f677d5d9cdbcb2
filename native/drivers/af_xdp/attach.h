// Attaching an af_xdp port's XDP program to its interface, and detaching it.
//
// A BPF link first (BPF_LINK_CREATE, attach type BPF_XDP, Linux 5.9+): the
// program stays attached while the link fd is open, so it goes away when the
// process dies. Native (driver) mode first, then generic (skb) mode. Only a
// kernel without XDP links falls back to netlink (IFLA_XDP, netlink_xdp.h),
// where the program would outlive a killed process.
#pragma once
#include <cstdint>
#include <string>

#include "drivers/bpf/sys.h"

namespace lr::xdp {

class XdpAttachment {
 public:
  XdpAttachment(const std::string& scope, const std::string& ifname, const std::string& netns)
      : scope_(scope), ifname_(ifname), netns_(netns) {}
  // In the interface's namespace. force_netlink / force_skb: test hooks
  // (LINERATE_AF_XDP_ATTACH=netlink, LINERATE_AF_XDP_XDP_MODE=generic).
  // XDP_ATTACH_REFUSED (another program there, or refused), MISSING_CAPABILITY.
  void attach(int prog_fd, int ifindex, bool force_netlink, bool force_skb);
  // Closes the link, or removes the netlink attachment (entering the namespace).
  void detach(int prog_fd);
  bool by_link() const { return by_link_; }
  bool native() const { return native_; }

 private:
  [[noreturn]] void busy() const;

  std::string scope_, ifname_, netns_;
  bpf::Fd link_;
  int ifindex_ = 0;
  uint32_t netlink_mode_ = 0;  // XDP flags of a netlink attachment, 0 when none
  bool by_link_ = false, native_ = false;
};

}  // namespace lr::xdp
