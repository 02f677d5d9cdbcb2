// What the host sends, on one thread slot (an lcore, an inline worker or the
// control path), out of that slot's own tx queue of the host's port:
//  - reply(): a handler answered a datagram in place; swap it back to its sender
//    and finish lengths, TTL/hop limit and checksums (RFC 791, RFC 8200, RFC 768);
//  - send(): a new datagram (or a received one redirected) to the address and
//    port JS wrote into its IP and UDP headers: the host writes the rest and
//    resolves the next hop (neighbour table; held while resolving, RFC 4861 section 7.2.2);
//  - probes (ARP requests, neighbour solicitations), the held packets a learned
//    neighbour releases, and the timers.
#pragma once
#include <cstdint>

#include "core/mempool.h"
#include "pipeline/host/host.h"
#include "pipeline/tx_buffer.h"

namespace lr::host {

class HostOut {
 public:
  HostOut(Host* host, TxBuffer* tx, Mempool* pool, Mempool::Cache* cache, uint32_t slot)
      : host_(host), tx_(tx), pool_(pool), cache_(cache), slot_(slot), c_(&host->counters(slot)) {}

  // Each takes ownership of m: it is transmitted, held for resolution, or freed and counted.
  void reply(Mbuf* m) { reply_burst(&m, 1); }
  // reply() for each of n datagrams, with what is the same for all of them done
  // once: counters added per burst, not per datagram, and one push to the tx
  // buffer. Why: per datagram, the call, three counter updates and a push were
  // about a third of a reply's cost (bench/udp's null run).
  void reply_burst(Mbuf* const* m, uint32_t n);
  void send(Mbuf* m);

  // A neighbour's MAC was learned: update the table and transmit what it held.
  // confirmed: the neighbour showed it is reachable (ARP, solicited NA), not only
  // that it exists (an NS: RFC 4861 section 7.2.3).
  void learn(const IpAddr& ip, const uint8_t mac[6], bool create, uint64_t now_ns, bool confirmed = true);
  // ARP request or neighbour solicitation for `target`, out now.
  void probe(const IpAddr& target);
  // Gratuitous ARP and an unsolicited NA for the host's addresses (at start).
  void announce();
  // Timers (about every 10 ms, one slot at a time).
  void tick(uint64_t now_ns);

  HostCounters& counters() { return *c_; }
  // Tests: off sends every reply through the general path (turn_around), which
  // the fast path (reply4, reply6 in host_reply_fast.h) must agree with.
  void set_fast_path(bool on) { fast_ = on; }
  TxBuffer* tx() { return tx_; }

 private:
  // Checks the HostMeta JS may have changed; returns the UDP header offset, or 0.
  [[gnu::always_inline]] uint32_t checked_l4(Mbuf* m) const;
  // reply()'s work on one datagram, short of counting and sending it: false
  // when it was dropped (freed and counted).
  [[gnu::always_inline]] bool turn_around(Mbuf* m);
  // reply_burst for a host with these families (host_reply_fast.h; -1: no fast path).
  template <int Families>
  void replies(Mbuf* const* m, uint32_t n);
  // Writes the IP and UDP headers from our address to the one in the packet,
  // ports as stored (network order), with both checksums.
  // Inlined into reply() and send(): both are per datagram.
  [[gnu::always_inline]] void finish_udp(Mbuf* m, uint32_t l3, uint32_t l4, uint8_t family, uint16_t sport, uint16_t dport);
  void drop(Mbuf* m, Counter& why);

  Host* host_;
  TxBuffer* tx_;
  Mempool* pool_;
  Mempool::Cache* cache_;
  uint32_t slot_;
  HostCounters* c_;
  bool fast_ = true;
};

}  // namespace lr::host
