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

}  // namespace lr::xdp
