// `consume`: take the frames an af_packet port receives away from the kernel's
// own stack.
//
// Why: a packet socket is a tap (packet(7)). __netif_receive_skb_core()
// (net/core/dev.c) hands each frame to the ptype_all taps, the port's sockets
// among them, and then goes on to tc ingress and the protocol handlers
// (ip_rcv, arp_rcv). So without this the kernel also runs every frame linerate
// received through its own input path: it answers frames linerate answers too
// (ICMP port unreachable for a UDP port only linerate serves, a second ARP
// reply), and it pays for it on the receiving CPU. On a veth at 0.34 Mpps that
// IP input (route lookup, ip_error, freeing) was most of a CPU and made the
// af_packet echo lose 35-67% (docs/bench.md).
//
// How: a tcx ingress program that returns TCX_DROP. tcx runs in
// sch_handle_ingress(), after the ptype_all loop, so the packet sockets have
// their copy before the skb is freed. tcx (Linux 6.6+, CONFIG_NET_XGRESS)
// attaches through a BPF link (BPF_LINK_CREATE, attach type BPF_TCX_INGRESS):
// the program goes away when the link fd is closed, including when the process
// dies, so a killed linerate never leaves an interface black. It is appended
// after any tcx program already there; one that returns TCX_PASS earlier keeps
// its frames in the stack.
//
// What the kernel should still see (ARP, ping, SSH) goes to it through the
// exception path (a tap port) instead, as with af_xdp.
//
// The program counts what it drops in a one-slot per-CPU array (each CPU adds
// to its own slot, so no atomics): the port's rx_consumed counter.
#pragma once
#include <cstdint>
#include <string>

#include "drivers/bpf/sys.h"

namespace lr::afp {

class StackDrop {
 public:
  // Creates the counter map and loads the program. MISSING_CAPABILITY without
  // CAP_BPF (or CAP_SYS_ADMIN).
  void load(const std::string& scope, const std::string& ifname, const std::string& netns);
  // Links it to ifindex, in the caller's network namespace (the kernel looks the
  // index up in the current one). MISSING_CAPABILITY without CAP_NET_ADMIN,
  // TCX_UNSUPPORTED on a kernel without tcx. A second call is a no-op.
  void attach(int ifindex);
  // Closes the link: the stack sees the interface's frames again.
  void detach() { link_.reset(); }
  bool loaded() const { return bool(prog_); }
  bool attached() const { return bool(link_); }
  // Frames the program dropped since load(), summed over the CPUs.
  uint64_t consumed() const;

 private:
  std::string scope_, ifname_, netns_;
  bpf::Fd map_, prog_, link_;
  int ncpus_ = 1;
};

}  // namespace lr::afp
