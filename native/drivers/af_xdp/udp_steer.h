// UDP steering: which datagrams the XDP program hands to linerate when the
// kernel shares the interface (driver.h set_udp_steering; issue 10, owner
// 'kernel'). Everything else goes to the kernel's stack with XDP_PASS.
//
// The program looks each candidate up in a BPF hash map (lr_udp_steer) keyed
// by SteerKey: one lookup per UDP datagram whatever the number of sockets, no
// program regeneration when sockets come and go, and the map is updated while
// the program runs. (An unrolled compare chain would cost ~8 instructions per
// rule and regeneration or a fixed rule count; the map costs one hash of 20
// bytes.)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "drivers/driver.h"

namespace lr::xdp {

constexpr uint32_t kMaxUdpSteerRules = 64;

// The hash map's key, built by the program on its stack from the packet's
// bytes: addresses and the port as they sit in the packet (network order).
struct SteerKey {
  uint8_t family;    // 0: 4 or 6
  uint8_t pad;       // 1: always 0
  uint16_t port_be;  // 2: UDP destination port, network order (RFC 768)
  uint8_t addr[16];  // 4: IPv4 destination (RFC 791 section 3.1) in [0..3], or IPv6 (RFC 8200 section 3)
};
static_assert(sizeof(SteerKey) == 20, "the XDP program builds this key at fixed stack offsets");

SteerKey steer_key(const UdpSteerRule& r);

// Parses the wire form the TypeScript side produces (src/options.ts
// encodeUdpSteer): entries separated by ',', each "198.18.0.2:7777" or
// "[fd00:198:18::2]:7777". Empty: no rules. INVALID_OPTION names the entry.
std::vector<UdpSteerRule> parse_udp_steer(const std::string& spec, const std::string& scope);
// Checks what set_udp_steering was given: families, port 0, count, VLAN id.
void check_udp_steer(const std::vector<UdpSteerRule>& rules, uint16_t vlan, const std::string& scope);
// "198.18.0.2:7777", "[fd00:198:18::2]:7777"
std::string describe_steer(const UdpSteerRule& r);

}  // namespace lr::xdp
