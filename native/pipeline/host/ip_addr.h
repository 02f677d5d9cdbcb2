// IpAddr: an IPv4 or IPv6 address as the host layer keys it (the neighbour
// table, later the socket demultiplexer): the family and 16 bytes in network
// byte order, so both families compare and hash the same way.
#pragma once
#include <cstdint>
#include <string>

namespace lr::host {

// An IPv4 or IPv6 address; in network byte order.
struct IpAddr {
  uint8_t family = 0;  // 4 or 6; 0: none
  uint8_t b[16] = {};  // network byte order; IPv4 in b[0..3], the rest zero

  bool operator==(const IpAddr& o) const;
  bool operator!=(const IpAddr& o) const { return !(*this == o); }

  // From the 4 bytes as they are on the wire (e.g. ARP's sender protocol address).
  static IpAddr v4(const uint8_t bytes[4]);
  // From a host-order number: v4(0xC6120002) is 198.18.0.2.
  static IpAddr v4(uint32_t host_order);
  static IpAddr v6(const uint8_t bytes[16]);
  // Dotted quad or RFC 5952 text; false when it is neither.
  static bool parse(const std::string& text, IpAddr* out);
  std::string str() const;  // "" for family 0
};

}  // namespace lr::host
