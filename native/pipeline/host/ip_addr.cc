// IpAddr (ip_addr.h): construction and text forms (inet_pton/inet_ntop give
// RFC 5952's canonical IPv6 text).
#include "pipeline/host/ip_addr.h"

#include <arpa/inet.h>

#include <cstring>

namespace lr::host {

bool IpAddr::operator==(const IpAddr& o) const { return family == o.family && std::memcmp(b, o.b, 16) == 0; }

IpAddr IpAddr::v4(const uint8_t bytes[4]) {
  IpAddr a;
  a.family = 4;
  std::memcpy(a.b, bytes, 4);
  return a;
}

IpAddr IpAddr::v4(uint32_t host_order) {
  const uint8_t bytes[4] = {uint8_t(host_order >> 24), uint8_t(host_order >> 16), uint8_t(host_order >> 8),
                            uint8_t(host_order)};
  return v4(bytes);
}

IpAddr IpAddr::v6(const uint8_t bytes[16]) {
  IpAddr a;
  a.family = 6;
  std::memcpy(a.b, bytes, 16);
  return a;
}

bool IpAddr::parse(const std::string& text, IpAddr* out) {
  uint8_t buf[16] = {};
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    *out = v4(buf);
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    *out = v6(buf);
    return true;
  }
  return false;
}

std::string IpAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family == 4) return inet_ntop(AF_INET, b, buf, sizeof buf) ? buf : "";
  if (family == 6) return inet_ntop(AF_INET6, b, buf, sizeof buf) ? buf : "";
  return "";
}

}  // namespace lr::host
