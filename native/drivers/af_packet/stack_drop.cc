#include "drivers/af_packet/stack_drop.h"

#include <cerrno>

#include "core/error.h"
#include "drivers/bpf/asm.h"
#include "drivers/netns.h"

namespace lr::afp {

namespace {
constexpr const char* kCaps = "CAP_BPF and CAP_NET_ADMIN (option 'consume' loads and attaches a tcx program)";
// The kernel's internal ENOTSUPP (include/linux/errno.h), which some paths leak to user space.
constexpr int kEnotsupp = 524;
}

void StackDrop::load(const std::string& scope, const std::string& ifname, const std::string& netns) {
  scope_ = scope;
  ifname_ = ifname;
  netns_ = netns;
  const int map = bpf::bpf_map_create(bpf::BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1, "lr_consumed");
  if (map < 0) fail_syscall("SOCKET_SETUP", scope_ + ": creating the counter map for option 'consume'", -map, kCaps);
  map_.reset(map);
  ncpus_ = bpf::possible_cpus();
  // The skb (r1) is not read. Count it in this CPU's slot, then drop it.
  using namespace bpf;
  Asm a;
  a.st(op::W, FP, -4, 0);  // key 0 on the stack
  a.count_in_percpu_slot(map_.get(), -4, "drop");
  a.label("drop");
  a.mov(R0, TCX_DROP);
  a.exit();
  std::string log;
  const int fd = bpf::bpf_prog_load(bpf::BPF_PROG_TYPE_SCHED_CLS, bpf::BPF_TCX_INGRESS, a.finish(), "lr_consume", &log);
  if (fd < 0) {
    const int err = -fd;
    if (err == EINVAL)
      fail("TCX_UNSUPPORTED", scope_ + ": option 'consume' needs a kernel with tcx (Linux 6.6+, CONFIG_NET_XGRESS); this one refused the "
                                     "tc program (" + errno_text(err) + (log.empty() ? "" : ", verifier: " + log) +
                                     "). Drop 'consume', or use an af_xdp port, which takes frames out of the stack by itself");
    fail_syscall("SOCKET_SETUP", scope_ + ": loading the tcx program for option 'consume'", err, kCaps);
  }
  prog_.reset(fd);
}

uint64_t StackDrop::consumed() const {
  return map_ ? bpf::bpf_percpu_sum(map_.get(), 0, ncpus_) : 0;
}

void StackDrop::attach(int ifindex) {
  if (link_ || !prog_) return;
  // flags 0: appended after the programs already attached (no BPF_F_BEFORE/AFTER),
  // no expected revision.
  const int fd = bpf::bpf_link_create(prog_.get(), ifindex, bpf::BPF_TCX_INGRESS, 0);
  if (fd >= 0) {
    link_.reset(fd);
    return;
  }
  const int err = -fd;
  if (err == EINVAL || err == EOPNOTSUPP || err == kEnotsupp)
    fail("TCX_UNSUPPORTED", scope_ + ": option 'consume': attaching a tcx ingress program to '" + ifname_ + "' failed (" + errno_text(err) +
                                   "); it needs Linux 6.6+ with CONFIG_NET_XGRESS. Drop 'consume', or use an af_xdp port");
  if (err == ENODEV)
    fail("INTERFACE_NOT_FOUND", scope_ + ": interface '" + ifname_ + "' is gone; list interfaces with: " + netns_cmd_prefix(netns_) + "ip link");
  fail_syscall("SOCKET_SETUP", scope_ + ": attaching the tcx program of option 'consume' to '" + ifname_ + "'", err, kCaps);
}

}  // namespace lr::afp
