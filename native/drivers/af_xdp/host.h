// Host facts the af_xdp driver needs beyond native/drivers/netns.h (namespaces,
// interface lookup): the interface's queue counts and this thread's capabilities.
#pragma once
#include <cstdint>
#include <string>

namespace lr::xdp {

// Rx and tx queue counts from ETHTOOL_GCHANNELS (include/uapi/linux/ethtool.h,
// struct ethtool_channels: rx/tx + combined), through ctl_fd, a socket of the
// interface's namespace. false when the driver does not say (then bind() tells).
bool interface_queues(int ctl_fd, const std::string& ifname, uint32_t& rx, uint32_t& tx);

// Effective capability of this thread (capget(2), include/uapi/linux/capability.h).
bool has_capability(int cap);
constexpr int kCapNetAdmin = 12, kCapNetRaw = 13, kCapIpcLock = 14, kCapSysAdmin = 21, kCapBpf = 39;

// What to run to give this process every capability an af_xdp port needs.
constexpr const char* kCapFix =
    "run as root, or: sudo setcap cap_net_raw,cap_net_admin,cap_bpf,cap_sys_admin,cap_ipc_lock+ep \"$(readlink -f \"$(which node)\")\"";

}  // namespace lr::xdp
