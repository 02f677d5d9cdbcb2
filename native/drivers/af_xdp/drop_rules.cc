#include "drivers/af_xdp/drop_rules.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace lr::xdp {

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t at = s.find(sep, start);
    out.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return out;
}

bool parse_uint(const std::string& s, uint32_t max, uint32_t& out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + uint64_t(c - '0');
  }
  if (v > max) return false;
  out = uint32_t(v);
  return true;
}

// Sets the first `bits` bits of mask (network order) and clears the address bits past them.
void prefix_mask(uint8_t* addr, uint8_t* mask, size_t bytes, uint32_t bits) {
  for (size_t i = 0; i < bytes; i++) {
    const uint32_t b = bits > i * 8 ? std::min<uint32_t>(8, bits - uint32_t(i) * 8) : 0;
    mask[i] = uint8_t(b ? 0xff << (8 - b) : 0);
    addr[i] &= mask[i];
  }
}

}  // namespace

RuleSet parse_drop_rules(const std::string& spec, const std::string& scope) {
  RuleSet set;
  std::memset(&set, 0, sizeof set);
  if (spec.empty()) return set;
  const auto rules = split(spec, ';');
  if (rules.size() > kMaxDropRules)
    fail("INVALID_OPTION", scope + ": at most " + std::to_string(kMaxDropRules) + " drop rules, got " + std::to_string(rules.size()));
  for (size_t i = 0; i < rules.size(); i++) {
    DropRule& r = set.rules[i];
    const std::string where = scope + ": drop rule " + std::to_string(i);
    for (const auto& field : split(rules[i], ',')) {
      const size_t eq = field.find('=');
      const std::string k = field.substr(0, eq), v = eq == std::string::npos ? "" : field.substr(eq + 1);
      uint32_t n = 0;
      if (k == "proto") {
        if (!parse_uint(v, 255, n)) fail("INVALID_OPTION", where + ": protocol must be 0..255, got '" + v + "'");
        r.proto = uint8_t(n);
        r.flags |= kRuleProto;
      } else if (k == "dport") {
        if (!parse_uint(v, 65535, n)) fail("INVALID_OPTION", where + ": dstPort must be 0..65535, got '" + v + "'");
        r.dport = htons(uint16_t(n));
        r.flags |= kRulePort;
      } else if (k == "src") {
        const size_t slash = v.find('/');
        const std::string addr = v.substr(0, slash);
        const bool v6 = addr.find(':') != std::string::npos;
        uint32_t bits = v6 ? 128 : 32;
        if (slash != std::string::npos && !parse_uint(v.substr(slash + 1), v6 ? 128 : 32, bits))
          fail("INVALID_OPTION", where + ": srcPrefix '" + v + "' has a bad prefix length");
        if (v6) {
          if (inet_pton(AF_INET6, addr.c_str(), r.src6) != 1) fail("INVALID_OPTION", where + ": srcPrefix '" + v + "' is not an IPv6 prefix");
          prefix_mask(r.src6, r.mask6, 16, bits);
          r.flags |= kRuleSrc6;
        } else {
          if (inet_pton(AF_INET, addr.c_str(), r.src4) != 1)
            fail("INVALID_OPTION", where + ": srcPrefix '" + v + "' is not an IPv4 or IPv6 prefix like 198.18.5.0/24");
          prefix_mask(r.src4, r.mask4, 4, bits);
          r.flags |= kRuleSrc4;
        }
      } else {
        fail("INVALID_OPTION", where + ": unknown field '" + field + "' (src=, proto=, dport=)");
      }
    }
    if (!r.flags) fail("INVALID_OPTION", where + " matches every packet; give srcPrefix, protocol or dstPort");
  }
  set.count = uint32_t(rules.size());
  return set;
}

std::string describe_rule(const DropRule& r) {
  std::string s;
  char buf[INET6_ADDRSTRLEN];
  auto bits = [](const uint8_t* m, size_t n) {
    int b = 0;
    for (size_t i = 0; i < n; i++) b += __builtin_popcount(m[i]);
    return b;
  };
  if (r.flags & kRuleSrc4) s += std::string("src ") + inet_ntop(AF_INET, r.src4, buf, sizeof buf) + "/" + std::to_string(bits(r.mask4, 4)) + " ";
  if (r.flags & kRuleSrc6) s += std::string("src ") + inet_ntop(AF_INET6, r.src6, buf, sizeof buf) + "/" + std::to_string(bits(r.mask6, 16)) + " ";
  if (r.flags & kRuleProto) s += "proto " + std::to_string(r.proto) + " ";
  if (r.flags & kRulePort) s += "dport " + std::to_string(ntohs(r.dport)) + " ";
  if (!s.empty()) s.pop_back();
  return s;
}

}  // namespace lr::xdp
