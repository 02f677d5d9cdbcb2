// All multicast on a kernel interface, for as long as linerate holds it
// (Driver::set_allmulticast for af_xdp and af_packet ports).
//
// A host that owns an IPv6 address must receive its solicited-node group
// (33:33:ff:xx:xx:xx, RFC 4291 section 2.7.1, RFC 2464 section 7), which the
// kernel never joined: the address is not the kernel's. A NIC that filters
// multicast in hardware would drop the neighbour solicitations for it. Rather
// than set IFF_ALLMULTI on the interface (a flag a killed process leaves set),
// this takes a membership of type PACKET_MR_ALLMULTI on a packet socket that
// receives nothing (protocol 0; packet(7)): the kernel counts memberships per
// socket and drops them when the socket closes, also when the process dies.
#pragma once
#include <string>

namespace lr {

class AllMulticast {
 public:
  AllMulticast() = default;
  ~AllMulticast() { release(); }
  AllMulticast(const AllMulticast&) = delete;
  AllMulticast& operator=(const AllMulticast&) = delete;

  // On: takes the membership on interface `ifindex` in namespace `netns` ("" = ours)
  // (throws SOCKET_SETUP or MISSING_CAPABILITY: CAP_NET_RAW). Off: gives it back.
  void set(bool on, const std::string& netns, int ifindex, const std::string& scope);
  bool on() const { return fd_ >= 0; }
  void release();

 private:
  int fd_ = -1;
};

}  // namespace lr
