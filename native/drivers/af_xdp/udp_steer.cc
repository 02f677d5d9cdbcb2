#include "drivers/af_xdp/udp_steer.h"

#include <arpa/inet.h>

#include <cstring>

#include "core/error.h"

namespace lr::xdp {

SteerKey steer_key(const UdpSteerRule& r) {
  SteerKey k;
  std::memset(&k, 0, sizeof k);
  k.family = r.family;
  k.port_be = htons(r.port);
  std::memcpy(k.addr, r.addr, r.family == 4 ? 4 : 16);
  return k;
}

std::vector<UdpSteerRule> parse_udp_steer(const std::string& spec, const std::string& scope) {
  std::vector<UdpSteerRule> out;
  if (spec.empty()) return out;
  size_t start = 0;
  for (;;) {
    const size_t comma = spec.find(',', start);
    const std::string e = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const std::string where = scope + ": udpSteer entry '" + e + "'";
    const size_t colon = e.rfind(':');
    if (colon == std::string::npos || colon + 1 >= e.size())
      fail("INVALID_OPTION", where + " is not ADDRESS:PORT, like '198.18.0.2:53' or '[fd00:198:18::2]:53'");
    std::string addr = e.substr(0, colon);
    const std::string port = e.substr(colon + 1);
    UdpSteerRule r;
    if (!addr.empty() && addr.front() == '[') {
      if (addr.back() != ']') fail("INVALID_OPTION", where + ": an IPv6 address goes in brackets, like '[fd00:198:18::2]:53'");
      addr = addr.substr(1, addr.size() - 2);
      r.family = 6;
      if (inet_pton(AF_INET6, addr.c_str(), r.addr) != 1) fail("INVALID_OPTION", where + ": '" + addr + "' is not an IPv6 address");
    } else {
      r.family = 4;
      if (inet_pton(AF_INET, addr.c_str(), r.addr) != 1)
        fail("INVALID_OPTION", where + ": '" + addr + "' is not an IPv4 address (IPv6 goes in brackets: '[fd00:198:18::2]:53')");
    }
    uint32_t v = 0;
    bool ok = port.size() <= 5;
    for (char c : port) ok = ok && c >= '0' && c <= '9', v = v * 10 + uint32_t(c - '0');
    if (!ok || v == 0 || v > 65535) fail("INVALID_OPTION", where + ": the port must be 1..65535");
    r.port = uint16_t(v);
    out.push_back(r);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

void check_udp_steer(const std::vector<UdpSteerRule>& rules, uint16_t vlan, const std::string& scope) {
  if (rules.size() > kMaxUdpSteerRules)
    fail("INVALID_OPTION", scope + ": at most " + std::to_string(kMaxUdpSteerRules) + " UDP steering rules, got " + std::to_string(rules.size()));
  if (vlan > 4094) fail("INVALID_OPTION", scope + ": the VLAN id for UDP steering must be 0 (untagged) or 1..4094, got " + std::to_string(vlan));
  for (const auto& r : rules) {
    if (r.family != 4 && r.family != 6)
      fail("INVALID_OPTION", scope + ": a UDP steering rule's family must be 4 or 6, got " + std::to_string(r.family));
    if (r.port == 0) fail("INVALID_OPTION", scope + ": UDP steering rule " + describe_steer(r) + ": the port must be 1..65535");
    if (r.family == 4)
      for (int i = 4; i < 16; i++)
        if (r.addr[i]) fail("INVALID_OPTION", scope + ": an IPv4 UDP steering rule has bytes past addr[3]");
  }
}

std::string describe_steer(const UdpSteerRule& r) {
  char buf[INET6_ADDRSTRLEN] = "?";
  inet_ntop(r.family == 6 ? AF_INET6 : AF_INET, r.addr, buf, sizeof buf);
  return r.family == 6 ? "[" + std::string(buf) + "]:" + std::to_string(r.port) : std::string(buf) + ":" + std::to_string(r.port);
}

}  // namespace lr::xdp
