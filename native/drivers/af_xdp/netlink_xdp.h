// Attaching an XDP program the old way, for kernels without XDP BPF links
// (before 5.9): RTM_SETLINK with a nested kIflaXdp attribute carrying
// kIflaXdpFd and kIflaXdpFlags (include/uapi/linux/if_link.h,
// net/core/rtnetlink.c do_setlink). Such an attachment outlives the process:
// the driver detaches it in stop() and close(), and a process killed with
// SIGKILL leaves it behind (ip link set dev X xdp off removes it).
#pragma once
#include <cstdint>

namespace lr::xdp {

// Call inside the interface's namespace. Return 0 or -errno.
int netlink_xdp_attach(int ifindex, int prog_fd, uint32_t xdp_flags);
// Detaches only if our program is still the one attached (kIflaXdpExpectedFd).
int netlink_xdp_detach(int ifindex, int prog_fd, uint32_t xdp_flags);

}  // namespace lr::xdp
