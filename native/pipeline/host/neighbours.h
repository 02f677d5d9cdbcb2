// The host layer's neighbour table: IPv4 (ARP, RFC 826) and IPv6 (neighbour
// discovery, RFC 4861) addresses of on-link peers mapped to their Ethernet
// addresses, one table for all lcores.
//
// Readers (every lcore that sends) never lock and never allocate: lookup() copies
// an entry under a per-entry seqlock. Writers (learning from ARP/ND, holding
// packets for unresolved peers, timers, the control path) are serialised by one
// mutex; they are rare compared with lookups. All memory is allocated in the
// constructor.
//
// States (RFC 4861 §7.3.2, simplified; ARP entries use the same machine):
//   Incomplete  resolution in progress: probes (ARP request / multicast NS) go
//               out every retrans_ns; up to `hold` packets wait (§7.2.2).
//   Reachable   confirmed within reachable_ns (REACHABLE_TIME, §7.3.1).
//   Stale       usable but unconfirmed. The first use after retrans_ns asks the
//               caller for a unicast refresh probe (see lookup()).
//   Failed      max_probes probes went unanswered (§7.2.2: the held packets are
//               dropped). Refuses holds for failed_ns, then is removed.
//   Static      configured; never learned over, never aged.
//
// RFC 4861 has two more states, DELAY and PROBE (§7.3.3). DELAY waits
// DELAY_FIRST_PROBE_TIME for upper-layer confirmation (e.g. TCP ACKs); the host
// layer serves UDP and has none, so we skip it and probe at the first use of a
// Stale entry. PROBE is folded into Stale: the entry stays usable while its
// unicast probes are outstanding and is removed (counted `unreachable`) when
// max_probes of them went unanswered, as §7.3.3 says ("the entry SHOULD be
// deleted"); the next send re-resolves it with multicast probes.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/counter.h"
#include "core/mbuf.h"
#include "pipeline/host/ip_addr.h"

namespace lr::host {

enum class NeighState : uint8_t { Incomplete, Reachable, Stale, Failed, Static };
const char* neigh_state_name(NeighState s);  // "incomplete", "reachable", ...

// Timer defaults are RFC 4861 §10's protocol constants; ARP (RFC 826) defines
// none, so IPv4 uses the same ones (as Linux does).
struct NeighbourOptions {
  uint32_t capacity = 1024;         // entries; a power of two. The hash array has twice as many slots.
  uint32_t hold = 4;                // packets held per unresolved neighbour, 1..kMaxHold (§7.2.2: "at least one")
  uint64_t reachable_ns = 30'000'000'000;  // Reachable -> Stale: REACHABLE_TIME, 30 s
  uint64_t retrans_ns = 1'000'000'000;     // between probes of one neighbour: RETRANS_TIMER, 1 s
  uint32_t max_probes = 3;          // MAX_MULTICAST_SOLICIT (Incomplete) and MAX_UNICAST_SOLICIT (Stale), 3
  uint64_t failed_ns = 5'000'000'000;      // a Failed entry drops holds at once for this long, then goes
  uint64_t stale_gc_ns = 600'000'000'000;  // Stale entries unused this long may be evicted for room
  uint32_t probes_per_sec = 100;    // all probes of the table (ARP requests, NS); 0: no limit
  uint64_t hash_seed = 0;           // 0: random (so peers cannot aim at one chain)
};

constexpr uint32_t kMaxHold = 16;
constexpr uint32_t kMaxNeighbours = 1u << 20;

struct NeighbourInfo {
  IpAddr ip;
  uint8_t mac[6] = {};  // zero while Incomplete
  NeighState state = NeighState::Incomplete;
  uint64_t age_ns = 0;  // since the state or address last changed or was confirmed
  uint32_t held = 0;    // packets waiting
  uint32_t probes = 0;  // probes sent in this state: multicast while Incomplete/Failed, unicast while Reachable/Stale
};

// A counter bumped by many threads (lookup()'s refresh probes): an atomic add.
class SharedCounter {
 public:
  void add(uint64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Writer-side counters are lr::Counter: their one writer at a time is whoever
// holds the table's mutex, and the mutex orders those writers.
struct NeighbourCounters {
  Counter resolved;       // Incomplete entries that learned their address
  Counter hold_drops;     // packets dropped: hold queue full, table full, entry Failed, or expired
  Counter expired;        // Incomplete entries that became Failed (max_probes unanswered)
  Counter unreachable;    // Stale entries removed after max_probes unanswered refresh probes
  Counter table_full;     // entries not created: no free slot and nothing evictable
  Counter evicted;        // Stale/Failed entries removed to make room
  Counter probes;         // multicast probes asked for (hold(), tick())
  SharedCounter refresh_probes;  // unicast refresh probes asked for (lookup())
};

class NeighbourTable {
 public:
  // Throws INVALID_OPTION for a capacity that is not a power of two, hold
  // outside 1..kMaxHold, max_probes or a timer of 0.
  explicit NeighbourTable(const NeighbourOptions& opts);
  ~NeighbourTable();
  NeighbourTable(const NeighbourTable&) = delete;
  NeighbourTable& operator=(const NeighbourTable&) = delete;

  // ---- readers: any thread, lock-free, no allocation ----
  // A reader never takes the mutex. It retries a slot it caught half-written
  // (a few stores) and, after a miss, the walk if a deletion moved entries
  // meanwhile; a writer never waits for readers.

  // The MAC to send to when ip has a usable entry (Reachable, Stale, Static).
  // When the entry is Stale and `refresh` is given, *refresh is set true if the
  // caller should send one unicast probe to that MAC now (RFC 4861 §7.3.3's
  // PROBE; for IPv4 a unicast ARP request, as RFC 1122 §2.3.2.1 suggests): at
  // most one per entry per retrans_ns, at most max_probes before tick() removes
  // an entry that did not answer, within the global probe budget. Pass nullptr
  // to never refresh (e.g. the kernel resolves): the entry then stays Stale.
  bool lookup(const IpAddr& ip, uint8_t mac[6], uint64_t now_ns, bool* refresh = nullptr) const;

  // ---- writers: serialised by the table's mutex ----

  // A configured entry. Replaces whatever the table had for ip. Throws
  // INVALID_OPTION when the table is full and nothing can be evicted.
  void add_static(const IpAddr& ip, const uint8_t mac[6]);

  // ip has link-layer address mac (an ARP packet, an NS/NA, the kernel's table).
  // create=false updates an existing entry only: RFC 826's merge rule adds a
  // sender only when the packet is addressed to us. confirmed: the peer proved
  // it is reachable (an ARP packet, a solicited NA: RFC 4861 §7.2.5) and the
  // entry becomes Reachable; unconfirmed information (an NS, an unsolicited NA:
  // §7.2.3, §7.2.5) makes a new or changed entry Stale and leaves an unchanged
  // one as it is. Static entries are never overwritten.
  // The packets held for ip move to `released`, oldest first (up to cap; pass
  // cap >= hold_limit()): the caller writes the MAC into them and transmits
  // them on its own tx queue. Returns how many. Packets beyond cap stay behind
  // and are dropped by the next tick().
  uint32_t learn(const IpAddr& ip, const uint8_t mac[6], bool create, uint64_t now_ns, Mbuf** released, uint32_t cap,
                 bool confirmed = true);

  enum class Hold {
    Held,      // the table owns m until learn() releases it or tick() expires it
    Dropped,   // the caller still owns m and frees it (counted in hold_drops)
    Resolved,  // ip resolved between the caller's lookup() and this call: mac_out
               // holds the address, the caller still owns m and sends it
  };
  // The sender found no usable entry for ip: hold m while ip is resolved
  // (RFC 4861 §7.2.2). Creates an Incomplete entry when there is none (evicting
  // an unused Stale or a Failed entry when the table is full, else Dropped and
  // table_full). *probe_now is set true when the caller should send a probe
  // (ARP request / multicast NS) now: for a new entry and when retrans_ns has
  // passed since the last, up to max_probes, within the global budget. A full
  // queue drops the new packet, not the oldest as §7.2.2 suggests: the first
  // packets of an exchange are the ones worth keeping, and ownership stays simple.
  Hold hold(const IpAddr& ip, Mbuf* m, uint64_t now_ns, bool* probe_now, uint8_t mac_out[6]);

  // Timers; call every few milliseconds from one thread at a time (a try-lock:
  // returns false at once, doing nothing, if another thread holds the table).
  //  - Incomplete entries whose retrans timer ran out are probed again (their
  //    addresses go to probe_out, up to probe_cap, within the global budget).
  //    After max_probes probes, or (max_probes + 1) * retrans_ns after creation
  //    when the budget starved them, they become Failed.
  //  - Held packets of entries that are no longer Incomplete go to expired_out
  //    (up to expired_cap; the rest on a later tick), counted in hold_drops; the
  //    caller frees them.
  //  - Reachable entries become Stale reachable_ns after their confirmation.
  //  - Stale entries whose max_probes refresh probes went unanswered for
  //    retrans_ns are removed; Failed entries are removed after failed_ns.
  bool tick(uint64_t now_ns, IpAddr* probe_out, uint32_t probe_cap, uint32_t* nprobe, Mbuf** expired_out,
            uint32_t expired_cap, uint32_t* nexpired);

  // Forgets ip (e.g. the kernel deleted it). An entry that still holds packets
  // becomes Failed with no refusal time: tick() hands its packets out as expired
  // and removes it, and a hold() in between starts resolving it again.
  void remove(const IpAddr& ip);

  // At stop: moves held packets to out (up to cap); call until it returns 0.
  // Not counted as drops. Entries keep their state.
  uint32_t drain(Mbuf** out, uint32_t cap);

  // ---- control path ----
  std::vector<NeighbourInfo> snapshot(uint64_t now_ns) const;  // takes the mutex; allocates
  uint32_t held() const { return held_total_.load(std::memory_order_relaxed); }  // any thread
  uint32_t size() const { return live_.load(std::memory_order_relaxed); }        // entries, any thread
  uint32_t capacity() const { return opts_.capacity; }
  uint32_t hold_limit() const { return opts_.hold; }
  const NeighbourOptions& options() const { return opts_; }
  const NeighbourCounters& counters() const { return counters_; }

  // Tests only: fn runs inside writes, between a slot's key and its address and
  // between the entry moves of a deletion, to widen the windows in which a
  // reader could see a half-written slot or miss a moving entry.
  void set_test_pause(void (*fn)()) { test_pause_ = fn; }

 private:
  struct Slot;
  struct Meta;

  uint32_t home(const IpAddr& ip) const;
  int32_t find(const IpAddr& ip) const;
  int32_t insert(const IpAddr& ip, uint64_t now_ns);
  bool evict(uint64_t now_ns);
  void erase(uint32_t i);
  void publish(uint32_t i);
  void reset_refresh(uint32_t i, uint64_t now_ns);
  void move_slot(uint32_t from, uint32_t to);
  uint32_t take_held(uint32_t i, Mbuf** out, uint32_t cap);
  bool take_probe_token(uint64_t now_ns) const;
  void set_state(uint32_t i, NeighState s, uint64_t now_ns);

  NeighbourOptions opts_;
  uint32_t nslots_ = 0;  // 2 * capacity: linear probing at load <= 1/2
  uint32_t mask_ = 0;
  uint64_t seed_ = 0;
  uint64_t used_granularity_ns_ = 0;   // how coarse lookup()'s use stamps are
  uint64_t probe_interval_ns_ = 0;     // 1 s / probes_per_sec
  uint64_t probe_tolerance_ns_ = 0;    // burst: one second's worth

  std::unique_ptr<Slot[]> slots_;      // what readers copy
  std::unique_ptr<Meta[]> meta_;       // writer-only state, moves with its slot
  std::unique_ptr<Mbuf*[]> held_;      // nslots_ * hold: held packets per slot, oldest first

  // Table-wide sequence: odd while erase() moves entries between slots, so a
  // reader that missed can tell whether an entry moved past it (see lookup()).
  std::atomic<uint32_t> moves_{0};
  std::atomic<uint32_t> live_{0};
  std::atomic<uint32_t> held_total_{0};
  mutable std::atomic<uint64_t> probe_tat_{0};  // GCRA theoretical arrival time of the next probe
  uint64_t no_evict_before_ns_ = 0;             // evict() found nothing; nothing can qualify before then

  void (*test_pause_)() = nullptr;
  mutable std::mutex mu_;
  mutable NeighbourCounters counters_;
};

}  // namespace lr::host
