// A mirror of the kernel's neighbour table (ARP, IPv6 neighbour discovery) for
// one interface, through rtnetlink (rtnetlink(7), include/uapi/linux/neighbour.h).
//
// For a port whose addresses the kernel owns (issue 10, owner 'kernel'), the
// kernel resolves neighbours: ARP replies and neighbour advertisements go to
// its stack, not to linerate. linerate learns the result from netlink:
//
//  - at construction: join RTNLGRP_NEIGH first, then dump RTM_GETNEIGH for
//    AF_INET and then AF_INET6 (one dump at a time: a netlink socket runs one
//    dump at once), calling the callback for each entry of the interface. The
//    join comes first so that no change between the dump and the subscription
//    is lost; a change seen twice is harmless (the callback is a state, not a
//    delta).
//  - then a thread of its own: RTM_NEWNEIGH / RTM_DELNEIGH notifications, each
//    a callback. When the socket's buffer overflowed (ENOBUFS: notifications
//    were lost) it dumps again and reports as deleted what is no longer there.
//
// Callback(family, ip, mac, nud_state): family 4 or 6, ip 16 bytes (IPv4 in
// [0..3]), mac the link-layer address when the entry is usable (state
// REACHABLE, STALE, DELAY, PROBE, PERMANENT or NOARP, with an address), nullptr
// when it was deleted or is not usable (INCOMPLETE, FAILED, NONE); nud_state
// the kernel's NUD_* bits (0 when deleted). It runs on the constructing thread
// during the first dump, then on the watch thread, never two at once.
//
// request_resolution: RTM_NEWNEIGH with NLM_F_CREATE and NTF_USE for an address
// the kernel may not know: net/core/neighbour.c neigh_add() creates the entry
// (NLM_F_CREATE; state NUD_NONE), __neigh_update() with NEIGH_UPDATE_F_USE keeps
// the state (the ndm_state sent is ignored), then neigh_event_send() starts
// resolution: NONE -> INCOMPLETE and an immediate probe (an ARP request, a
// neighbour solicitation), STALE -> DELAY. The kernel sends the probe; linerate
// sends nothing. The answer reaches the table, and us, as a notification.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace lr {

class Netns;  // drivers/netns.h

class KernelNeighbourWatch {
 public:
  using Callback = std::function<void(uint8_t family, const uint8_t ip[16], const uint8_t mac[6], uint16_t nud_state)>;

  // Opens the netlink sockets inside `netns` (drivers/netns.h; the default
  // Netns: this thread's namespace), dumps the table of interface `ifindex` into `cb`,
  // then starts the watch thread. Throws SOCKET_SETUP, NETNS_NOT_FOUND or
  // MISSING_CAPABILITY; `scope` prefixes messages.
  KernelNeighbourWatch(const Netns& netns, int ifindex, Callback cb, const std::string& scope);
  ~KernelNeighbourWatch();  // stop()
  KernelNeighbourWatch(const KernelNeighbourWatch&) = delete;
  KernelNeighbourWatch& operator=(const KernelNeighbourWatch&) = delete;

  // Ends the thread and closes the sockets; no callback runs after it returns.
  // Idempotent. Not from inside the callback.
  void stop();

  // Asks the kernel to resolve `ip` on the interface (see above). One netlink
  // round trip, waiting for the kernel's answer (it takes the kernel's RTNL
  // lock): call it from a control thread or a rate-limited miss path, not per
  // packet. Returns false when the kernel refused (IPv6 off on the interface,
  // the interface gone, no CAP_NET_ADMIN; last_error() says why) and true
  // without asking when the kernel already has a usable or static entry for
  // `ip` (NTF_USE would turn a PERMANENT entry into a dynamic one). Thread-safe.
  bool request_resolution(uint8_t family, const uint8_t ip[16]);
  int last_error() const { return last_error_.load(); }  // -errno of the last refused request, 0 if none

  // True for the NUD states whose link-layer address may be used to send.
  static bool usable(uint16_t nud_state);

  // Counters, for stats and tests.
  uint64_t events() const { return events_.load(); }     // notifications handled
  uint64_t resyncs() const { return resyncs_.load(); }   // dumps after a lost notification (ENOBUFS)

 private:
  struct Key {
    uint8_t family;
    uint8_t ip[16];
    bool operator<(const Key& o) const;
  };
  void dump_all(std::map<Key, uint16_t>* seen);
  void dump(uint8_t af, std::map<Key, uint16_t>* seen);
  // Handles every message in buf; returns true when an NLMSG_DONE or error of dump `seq` was seen.
  bool handle(const char* buf, size_t len, uint32_t dump_seq, int* dump_err, std::map<Key, uint16_t>* seen);
  void resync();
  void run();

  std::string scope_;
  int ifindex_;
  Callback cb_;
  int watch_fd_ = -1;  // group member + dumps; read by the thread
  int req_fd_ = -1;    // request_resolution only, under req_mu_
  int stop_fd_ = -1;   // eventfd: wakes the thread to stop
  uint32_t seq_ = 1;   // dumps, on watch_fd_ (constructor, then the thread)
  uint32_t req_seq_ = 1;
  std::mutex req_mu_;
  std::mutex known_mu_;           // known_ is written by the callback's thread, read by request_resolution
  std::map<Key, uint16_t> known_;  // entry -> nud_state, as last reported
  std::thread thread_;
  std::atomic<int> last_error_{0};
  std::atomic<uint64_t> events_{0}, resyncs_{0};
  bool stopped_ = false;
  bool lost_ = false;  // an ENOBUFS during a dump: resync() once it ends (watch_fd_'s reader only)
};

}  // namespace lr
