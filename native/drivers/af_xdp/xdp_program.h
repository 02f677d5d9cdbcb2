// The XDP program of an af_xdp port, generated at run time as raw eBPF
// instructions and loaded with bpf(BPF_PROG_LOAD): no clang, no libbpf.
//
//   1. Early-drop rules (drop_rules.h): if the active rule set is not empty,
//      parse Ethernet (+ one 802.1Q tag) / IPv4 / IPv6 / TCP / UDP with bounds
//      checks and compare untagged frames against each rule (unrolled,
//      kMaxDropRules at most); the first match increments its per-CPU counter
//      and returns XDP_DROP.
//   2. UDP steering (udp_steer.h), when on: a UDP datagram (not a fragment) on
//      the configured VLAN whose (destination address, port) is in the
//      lr_udp_steer hash map goes on to step 3, counted `redirected`; every
//      other frame returns XDP_PASS to the kernel's stack, counted `passed`.
//   3. bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS): to the
//      XDP socket of the queue the packet arrived on, or to the kernel stack
//      when that queue has no socket (include/uapi/linux/bpf.h, bpf_redirect_map:
//      "the lower two bits of flags are used as the return code if the map
//      lookup fails").
//
// Maps: xsks (XSKMAP, rx queue -> socket), rules (ARRAY of 2 rule sets),
// active (ARRAY of 1 Control: which rule set the program reads, steering on
// or off and its VLAN), drops (PERCPU_ARRAY of per-rule packet counters, one
// block per set), udp_steer (HASH SteerKey -> 1), steer (PERCPU_ARRAY of 2:
// redirected, passed). Rules change with map updates and no reload: zero the
// inactive set's counters, write the set, flip `active`.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "drivers/af_xdp/uapi.h"
#include "drivers/bpf/sys.h"
#include "drivers/af_xdp/drop_rules.h"
#include "drivers/af_xdp/udp_steer.h"

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

  // Replaces the UDP steering set (empty: off, everything to the sockets).
  // vlan: 802.1Q VLAN id the frames must carry, 0 for untagged. Safe while the
  // program runs: new keys are added before the switch, old ones removed after,
  // so a datagram for a pair in both sets is never passed to the kernel.
  void set_udp_steering(const std::vector<UdpSteerRule>& rules, uint16_t vlan);
  size_t udp_steer_rules() const { return steer_keys_.size(); }
  // Frames the steering sent to the sockets / passed to the kernel, since the
  // program was loaded (per-CPU counters summed).
  uint64_t steer_redirected() const;
  uint64_t steer_passed() const;

  size_t insn_count() const { return insns_; }
  // The program with a comment per instruction (map fds shown as 0).
  static std::string listing();

 private:
  std::string scope_;
  // The one value of lr_active, read by the program at its start.
  struct Control {
    uint32_t set;         // 0: live rule set, 0 or 1
    uint32_t steer;       // 4: 1 = UDP steering on
    uint32_t steer_vlan;  // 8: 0 = untagged frames; 0x10000 | VLAN id otherwise (as the program encodes a frame's tag)
    uint32_t pad;
  };
  void write_control(const Control& c);

  Fd xsks_, rules_, active_, drops_, steer_map_, steer_stats_, prog_;
  Control control_{};
  std::vector<SteerKey> steer_keys_;
  uint32_t active_set_ = 0;
  RuleSet rules_set_{};
  size_t insns_ = 0;
  int ncpus_ = 1;
};

}  // namespace lr::xdp
