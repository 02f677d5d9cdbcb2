// Early-drop rules: what the XDP program drops before a packet reaches an XDP
// socket (the DDoS case: garbage dropped in the driver, counted per rule).
//
// A rule matches when every field it sets matches (fields it leaves out match
// anything): IPv4 or IPv6 source prefix, IP protocol (IPv4 protocol / IPv6 next
// header, extension headers not walked), TCP or UDP destination port (first
// fragment only). The first matching rule counts the packet and drops it.
//
// Layout of the rule set in the BPF array map (one value = one whole set), read
// by the generated program at fixed offsets (xdp_program.cc). Addresses, masks
// and the port are kept in network byte order, exactly as the bytes sit in the
// packet, so the program compares memory images and never swaps bytes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace lr::xdp {

constexpr uint32_t kMaxDropRules = 32;

constexpr uint32_t kRuleProto = 1u << 0;
constexpr uint32_t kRulePort = 1u << 1;
constexpr uint32_t kRuleSrc4 = 1u << 2;
constexpr uint32_t kRuleSrc6 = 1u << 3;

struct DropRule {
  uint32_t flags;     // 0: kRule* bits
  uint8_t proto;      // 4
  uint8_t pad;        // 5
  uint16_t dport;     // 6: network order
  uint8_t src4[4];    // 8
  uint8_t mask4[4];   // 12
  uint8_t src6[16];   // 16
  uint8_t mask6[16];  // 32
};
static_assert(sizeof(DropRule) == 48, "rule layout is read by the XDP program at fixed offsets");

struct RuleSet {
  uint32_t count;  // 0: rules in use, from index 0
  uint32_t pad;
  DropRule rules[kMaxDropRules];  // 8 + 48 * i
};
constexpr int16_t kRuleSetRulesOffset = 8;

// Per-rule counter: a per-CPU array map of uint64_t packets, indexed by rule
// position; user space sums the CPUs' values.

// Parses the wire form the TypeScript side produces (src/options.ts encodeDropRules):
// rules separated by ';', fields by ',': "src=198.18.5.0/24,proto=17,dport=53;proto=1".
// An empty string is no rules. Fails with INVALID_OPTION naming the rule.
RuleSet parse_drop_rules(const std::string& spec, const std::string& scope);
// "src 198.18.5.0/24 proto 17 dport 53", for messages and docs.
std::string describe_rule(const DropRule& r);

}  // namespace lr::xdp
