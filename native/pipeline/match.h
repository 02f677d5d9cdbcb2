// Which packets a JS handler asked for. Every field is optional; a packet
// matches when it satisfies all the fields that are set (an empty match takes
// everything). Parsing follows echo.cc: Ethernet II, one optional 802.1Q tag,
// IPv4 (any header length) or IPv6 (fixed header only: extension headers are
// not walked, so such packets match on ethertype/protocol but not on ports).
#pragma once
#include <cstdint>

#include "core/mbuf.h"

namespace lr {

struct Match {
  int32_t ethertype = -1;     // e.g. 0x0800
  int32_t ip_proto = -1;      // e.g. 17
  int32_t udp_dst_port = -1;
  int32_t tcp_dst_port = -1;
  int32_t dst_port = -1;      // UDP or TCP

  bool empty() const {
    return ethertype < 0 && ip_proto < 0 && udp_dst_port < 0 && tcp_dst_port < 0 && dst_port < 0;
  }
  bool operator()(const Mbuf* m) const;
};

}  // namespace lr
