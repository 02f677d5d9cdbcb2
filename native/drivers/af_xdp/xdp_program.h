// The XDP program of an af_xdp port, generated at run time as raw eBPF
// instructions and loaded with bpf(BPF_PROG_LOAD): no clang, no libbpf.
//
//   1. Early-drop rules (drop_rules.h): if the active rule set is not empty,
//      parse Ethernet / IPv4 / IPv6 / TCP / UDP with bounds checks and compare
//      against each rule (unrolled, kMaxDropRules at most); the first match
//      increments its per-CPU counter and returns XDP_DROP.
//   2. Otherwise bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS): to the
//      XDP socket of the queue the packet arrived on, or to the kernel stack
//      when that queue has no socket (include/uapi/linux/bpf.h, bpf_redirect_map:
//      "the lower two bits of flags are used as the return code if the map
//      lookup fails").
//
// Maps: xsks (XSKMAP, rx queue -> socket), rules (ARRAY of 2 rule sets),
// active (ARRAY of 1: which set the program reads), drops (PERCPU_ARRAY of
// per-rule packet counters, one block per set). Rules change with map updates
// and no reload: zero the inactive set's counters, write the set, flip `active`.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "drivers/af_xdp/uapi.h"
#include "drivers/bpf/sys.h"
#include "drivers/af_xdp/drop_rules.h"

namespace lr::xdp {

constexpr uint32_t kMaxQueues = 64;

class XdpProgram {
 public:
  // Creates the maps and loads the program. Throws XDP_ATTACH_REFUSED (with the
  // verifier's log) or MISSING_CAPABILITY.
  explicit XdpProgram(const std::string& scope);

  int prog_fd() const { return prog_.get(); }
  // Point rx queue `queue` at an XDP socket (or remove it).
  void set_socket(uint32_t queue, int xsk_fd);
  void clear_socket(uint32_t queue);

  // Installs a rule set while the program may run (no reload) and restarts the
  // counters reported for it.
  void set_rules(const RuleSet& set);
  const RuleSet& rules() const { return rules_set_; }
  // Packets dropped by each rule of the current set since it was installed.
  std::vector<uint64_t> drop_counts() const;

  size_t insn_count() const { return insns_; }
  // The program with a comment per instruction (map fds shown as 0).
  static std::string listing();

 private:
  std::string scope_;
  Fd xsks_, rules_, active_, drops_, prog_;
  uint32_t active_set_ = 0;
  RuleSet rules_set_{};
  size_t insns_ = 0;
  int ncpus_ = 1;
};

}  // namespace lr::xdp
