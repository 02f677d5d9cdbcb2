// The neighbour table (neighbours.h): an open-addressing hash table with linear
// probing, lock-free readers and mutex-serialised writers.
//
// Concurrency, in the terms of the C++ memory model:
//  - Per-slot seqlock (H.-J. Boehm, "Can seqlocks get along with programming
//    language memory models?", MSPC 2012, the variant with ordered data
//    accesses). The writer stores seq+1, then the data words with release
//    stores, then seq+2 with release. A reader loads seq with acquire, the data
//    words with acquire loads, then seq again. A release store orders the seq+1
//    before it, so a reader that saw any data word of a write synchronises with
//    it and its second seq load sees at least that write's seq+1: a copy taken
//    while a write was in progress is always detected (seq odd or changed) and
//    retried. Every word a reader copies is a std::atomic, so there is no data
//    race in the language's sense. No standalone fences: ThreadSanitizer does
//    not model them, but it models these loads and stores exactly. On x86-64
//    acquire loads and release stores of aligned words are plain moves.
//  - Entries move only in erase() (backward-shift deletion, Knuth TAOCP vol. 3,
//    §6.4 Algorithm R), which keeps probe chains free of tombstones. A reader
//    walking a chain while an entry moves backwards past it could miss that
//    entry, so erase() brackets its moves with a table-wide sequence (moves_,
//    same protocol) and a reader re-checks it before it believes a miss. A hit
//    needs no such check: the slot's own seqlock proves the copy is whole.
//  - Readers also store into a slot: the coarse use stamp and the refresh-probe
//    claim of Stale entries (atomics, relaxed / CAS). Such a store can land just
//    after the writer reused or moved the slot; the worst outcomes are a delayed
//    or an extra refresh probe, or an unused entry kept a little longer.
#include "pipeline/host/neighbours.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "core/cycles.h"
#include "core/error.h"

namespace lr::host {

const char* neigh_state_name(NeighState s) {
  switch (s) {
    case NeighState::Incomplete: return "incomplete";
    case NeighState::Reachable: return "reachable";
    case NeighState::Stale: return "stale";
    case NeighState::Failed: return "failed";
    case NeighState::Static: return "static";
  }
  return "unknown";
}

// ---------------------------------------------------------------- layout

namespace {

// The key as two 64-bit words (bytes 0..7 and 8..15, memory order).
inline void key_words(const IpAddr& ip, uint64_t* k0, uint64_t* k1) {
  std::memcpy(k0, ip.b, 8);
  std::memcpy(k1, ip.b + 8, 8);
}

// The third word a reader copies: mac in bits 0..47 (mac[0] lowest), the
// family in 48..55 (0: empty slot), the state in 56..63.
inline uint64_t pack_word(const uint8_t mac[6], uint8_t family, NeighState s) {
  uint64_t w = 0;
  for (int i = 0; i < 6; i++) w |= uint64_t(mac[i]) << (8 * i);
  return w | uint64_t(family) << 48 | uint64_t(s) << 56;
}
inline uint8_t word_family(uint64_t w) { return uint8_t(w >> 48); }
inline NeighState word_state(uint64_t w) { return NeighState(uint8_t(w >> 56)); }
inline void word_mac(uint64_t w, uint8_t mac[6]) {
  for (int i = 0; i < 6; i++) mac[i] = uint8_t(w >> (8 * i));
}

inline bool usable(NeighState s) {
  return s == NeighState::Reachable || s == NeighState::Stale || s == NeighState::Static;
}

// splitmix64's finaliser (Steele, Lea, Flood, "Fast splittable pseudorandom
// number generators", OOPSLA 2014): a cheap multiply-xorshift with full avalanche.
inline uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

inline uint64_t hash_key(uint64_t k0, uint64_t k1, uint8_t family, uint64_t seed) {
  return mix(mix(k0 ^ seed) ^ k1 ^ (uint64_t(family) << 56));
}

}  // namespace

// What readers copy, one cache line per slot so that a write to one entry does
// not disturb readers of its neighbours.
struct alignas(64) NeighbourTable::Slot {
  std::atomic<uint32_t> seq{0};        // seqlock: odd while being written
  std::atomic<uint32_t> refreshes{0};  // Stale: refresh probes claimed by lookup()
  std::atomic<uint64_t> k0{0};
  std::atomic<uint64_t> k1{0};
  std::atomic<uint64_t> word{0};             // pack_word(); 0: empty
  std::atomic<uint64_t> used_ns{0};          // Stale: last lookup(), to used_granularity_ns_
  std::atomic<uint64_t> next_refresh_ns{0};  // Stale: no refresh probe before this
};

// Writer-only state of a slot (the mutex guards it); moves with the slot.
struct NeighbourTable::Meta {
  IpAddr ip;  // family 0: empty
  uint8_t mac[6] = {};
  NeighState state = NeighState::Incomplete;
  uint32_t home = 0;       // hash slot
  uint32_t nheld = 0;      // packets in held_[slot * hold ..]
  uint32_t probes = 0;     // multicast probes sent while Incomplete
  uint64_t updated_ns = 0; // state or address last changed / confirmed
  uint64_t next_ns = 0;    // Incomplete: next probe due; Failed: refusal ends and the entry goes
  uint64_t deadline_ns = 0;  // Incomplete: fails at the latest then, however the budget went
};

// ---------------------------------------------------------------- construction

NeighbourTable::NeighbourTable(const NeighbourOptions& o) : opts_(o) {
  if (o.capacity < 1 || o.capacity > kMaxNeighbours || (o.capacity & (o.capacity - 1)))
    fail("INVALID_OPTION", "neighbour table capacity must be a power of two in [1, " + std::to_string(kMaxNeighbours) +
                               "], got " + std::to_string(o.capacity));
  if (o.hold < 1 || o.hold > kMaxHold)
    fail("INVALID_OPTION", "neighbour hold must be in [1, " + std::to_string(kMaxHold) + "], got " + std::to_string(o.hold));
  if (o.max_probes < 1) fail("INVALID_OPTION", "neighbour max_probes must be at least 1");
  if (o.reachable_ns == 0 || o.retrans_ns == 0 || o.failed_ns == 0 || o.stale_gc_ns == 0)
    fail("INVALID_OPTION", "neighbour timers must be greater than 0");
  nslots_ = o.capacity * 2;
  mask_ = nslots_ - 1;
  seed_ = o.hash_seed;
  if (!seed_) {
    std::random_device rd;
    seed_ = (uint64_t(rd()) << 32 | rd()) | 1;
  }
  used_granularity_ns_ = std::min<uint64_t>(1'000'000'000, o.stale_gc_ns / 16);
  if (o.probes_per_sec) {
    probe_interval_ns_ = std::max<uint64_t>(1, 1'000'000'000ull / o.probes_per_sec);
    probe_tolerance_ns_ = probe_interval_ns_ * (o.probes_per_sec - 1);
  }
  slots_.reset(new Slot[nslots_]);
  meta_.reset(new Meta[nslots_]);
  held_.reset(new Mbuf*[size_t(nslots_) * o.hold]());
}

NeighbourTable::~NeighbourTable() = default;

// ---------------------------------------------------------------- readers

bool NeighbourTable::lookup(const IpAddr& ip, uint8_t mac[6], uint64_t now_ns, bool* refresh) const {
  if (refresh) *refresh = false;
  uint64_t k0, k1;
  key_words(ip, &k0, &k1);
  const uint32_t start = uint32_t(hash_key(k0, k1, ip.family, seed_)) & mask_;
  for (;;) {
    const uint32_t moves = moves_.load(std::memory_order_acquire);
    if (moves & 1) {  // erase() is moving entries: wait for it (a few slots)
      cpu_pause();
      continue;
    }
    uint32_t i = start;
    for (uint32_t n = 0; n < nslots_; n++, i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      uint64_t c0, c1, w;
      for (;;) {
        const uint32_t q = s.seq.load(std::memory_order_acquire);
        if (q & 1) {
          cpu_pause();
          continue;
        }
        c0 = s.k0.load(std::memory_order_acquire);
        c1 = s.k1.load(std::memory_order_acquire);
        w = s.word.load(std::memory_order_acquire);
        if (s.seq.load(std::memory_order_relaxed) == q) break;  // after the acquire loads
      }
      if (word_family(w) == 0) break;  // end of the chain
      if (c0 != k0 || c1 != k1 || word_family(w) != ip.family) continue;
      const NeighState st = word_state(w);
      if (!usable(st)) return false;
      word_mac(w, mac);
      if (st == NeighState::Stale) {
        // Coarse use stamp: at most one store per entry per granularity, so
        // lcores sending to the same peer do not keep taking the line from
        // each other.
        if (now_ns >= s.used_ns.load(std::memory_order_relaxed) + used_granularity_ns_)
          s.used_ns.store(now_ns, std::memory_order_relaxed);
        if (refresh && s.refreshes.load(std::memory_order_relaxed) < opts_.max_probes) {
          uint64_t due = s.next_refresh_ns.load(std::memory_order_relaxed);
          // One thread wins the claim for this retrans period; the others see
          // the new due time.
          if (now_ns >= due &&
              s.next_refresh_ns.compare_exchange_strong(due, now_ns + opts_.retrans_ns, std::memory_order_relaxed) &&
              take_probe_token(now_ns)) {
            s.refreshes.fetch_add(1, std::memory_order_relaxed);
            counters_.refresh_probes.add(1);
            *refresh = true;
          }
        }
      }
      return true;
    }
    // A miss is only believed if no entry moved during the walk: a slot word
    // written by a move was a release store after moves_ turned odd, and this
    // load comes after the acquire loads that would have seen it.
    if (moves_.load(std::memory_order_acquire) == moves) return false;
  }
}

// GCRA (the ATM Forum's generic cell rate algorithm, the virtual-scheduling
// form): a token bucket of probes_per_sec tokens refilled at probes_per_sec per
// second, kept as one timestamp so that lcores share it with one CAS.
bool NeighbourTable::take_probe_token(uint64_t now_ns) const {
  if (!opts_.probes_per_sec) return true;
  uint64_t tat = probe_tat_.load(std::memory_order_relaxed);
  for (;;) {
    const uint64_t t = std::max(tat, now_ns);
    if (t - now_ns > probe_tolerance_ns_) return false;
    if (probe_tat_.compare_exchange_weak(tat, t + probe_interval_ns_, std::memory_order_relaxed)) return true;
  }
}

// ---------------------------------------------------------------- writer helpers

uint32_t NeighbourTable::home(const IpAddr& ip) const {
  uint64_t k0, k1;
  key_words(ip, &k0, &k1);
  return uint32_t(hash_key(k0, k1, ip.family, seed_)) & mask_;
}

int32_t NeighbourTable::find(const IpAddr& ip) const {
  if (ip.family != 4 && ip.family != 6) return -1;
  for (uint32_t i = home(ip), n = 0; n < nslots_; n++, i = (i + 1) & mask_) {
    if (meta_[i].ip.family == 0) return -1;
    if (meta_[i].ip == ip) return int32_t(i);
  }
  return -1;
}

// Copies meta_[i]'s key, address and state into slot i under its seqlock.
void NeighbourTable::publish(uint32_t i) {
  Slot& s = slots_[i];
  const Meta& m = meta_[i];
  uint64_t k0 = 0, k1 = 0;
  if (m.ip.family) key_words(m.ip, &k0, &k1);
  const uint32_t q = s.seq.load(std::memory_order_relaxed);
  s.seq.store(q + 1, std::memory_order_relaxed);
  // Release: a reader that sees any of these words also sees seq odd (and,
  // inside erase(), moves_ odd).
  s.k0.store(k0, std::memory_order_release);
  s.k1.store(k1, std::memory_order_release);
  if (test_pause_) test_pause_();
  s.word.store(m.ip.family ? pack_word(m.mac, m.ip.family, m.state) : 0, std::memory_order_release);
  s.seq.store(q + 2, std::memory_order_release);
}

void NeighbourTable::reset_refresh(uint32_t i, uint64_t now_ns) {
  slots_[i].refreshes.store(0, std::memory_order_relaxed);
  slots_[i].next_refresh_ns.store(0, std::memory_order_relaxed);
  slots_[i].used_ns.store(now_ns, std::memory_order_relaxed);
}

// A new state for entry i, published to readers. Entering Stale or Failed may
// make an entry evictable, so evict() must look again.
void NeighbourTable::set_state(uint32_t i, NeighState st, uint64_t now_ns) {
  Meta& m = meta_[i];
  m.state = st;
  m.updated_ns = now_ns;
  if (st == NeighState::Stale || st == NeighState::Reachable) reset_refresh(i, now_ns);
  if (st == NeighState::Stale || st == NeighState::Failed) no_evict_before_ns_ = 0;
  publish(i);
}

void NeighbourTable::move_slot(uint32_t from, uint32_t to) {
  meta_[to] = meta_[from];
  std::memcpy(&held_[size_t(to) * opts_.hold], &held_[size_t(from) * opts_.hold], sizeof(Mbuf*) * meta_[from].nheld);
  Slot& a = slots_[to];
  const Slot& b = slots_[from];
  a.refreshes.store(b.refreshes.load(std::memory_order_relaxed), std::memory_order_relaxed);
  a.used_ns.store(b.used_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
  a.next_refresh_ns.store(b.next_refresh_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
  publish(to);
}

// Backward-shift deletion: walk the chain after i and pull back every entry
// whose home does not lie cyclically in (hole, j], so no chain has a gap.
void NeighbourTable::erase(uint32_t i) {
  const uint32_t m = moves_.load(std::memory_order_relaxed);
  moves_.store(m + 1, std::memory_order_relaxed);  // ordered before the slot words by their release stores
  uint32_t hole = i;
  for (uint32_t j = (i + 1) & mask_; meta_[j].ip.family != 0; j = (j + 1) & mask_) {
    const uint32_t h = meta_[j].home;
    const bool stays = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
    if (stays) continue;
    move_slot(j, hole);
    hole = j;
  }
  meta_[hole] = Meta{};
  publish(hole);
  moves_.store(m + 2, std::memory_order_release);
  live_.store(live_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

// Finds or frees room for a new key; -1 when the table is full and nothing can
// be evicted. The caller sets the state and publishes.
int32_t NeighbourTable::insert(const IpAddr& ip, uint64_t now_ns) {
  if (live_.load(std::memory_order_relaxed) >= opts_.capacity && !evict(now_ns)) return -1;
  uint32_t i = home(ip);
  while (meta_[i].ip.family != 0) i = (i + 1) & mask_;  // load <= 1/2: there is an empty slot
  Meta& m = meta_[i];
  m = Meta{};
  m.ip = ip;
  m.home = home(ip);
  m.updated_ns = now_ns;
  live_.store(live_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return int32_t(i);
}

// Removes the least recently used entry among those worth nothing: Failed
// entries and Stale entries unused for stale_gc_ns, none of them holding
// packets. A full scan, so it remembers when a scan that found nothing can
// first find something (use stamps only grow, so that bound is safe).
bool NeighbourTable::evict(uint64_t now_ns) {
  if (now_ns < no_evict_before_ns_) return false;
  int32_t best = -1;
  uint64_t best_t = UINT64_MAX, next = UINT64_MAX;
  for (uint32_t i = 0; i < nslots_; i++) {
    const Meta& m = meta_[i];
    if (!m.ip.family || m.nheld) continue;
    uint64_t t;
    if (m.state == NeighState::Failed) {
      t = m.updated_ns;
    } else if (m.state == NeighState::Stale) {
      t = slots_[i].used_ns.load(std::memory_order_relaxed);
      if (now_ns < t + opts_.stale_gc_ns) {
        next = std::min(next, t + opts_.stale_gc_ns);
        continue;
      }
    } else {
      continue;
    }
    if (t < best_t) best_t = t, best = int32_t(i);
  }
  if (best < 0) {
    no_evict_before_ns_ = next;
    return false;
  }
  erase(uint32_t(best));
  counters_.evicted.add(1);
  return true;
}

// Moves up to cap held packets of entry i to out, oldest first.
uint32_t NeighbourTable::take_held(uint32_t i, Mbuf** out, uint32_t cap) {
  Meta& m = meta_[i];
  const uint32_t n = std::min(m.nheld, cap);
  if (!n) return 0;
  Mbuf** q = &held_[size_t(i) * opts_.hold];
  std::memcpy(out, q, sizeof(Mbuf*) * n);
  std::memmove(q, q + n, sizeof(Mbuf*) * (m.nheld - n));
  m.nheld -= n;
  held_total_.store(held_total_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed);
  if (m.nheld == 0 && m.state != NeighState::Incomplete) no_evict_before_ns_ = 0;
  return n;
}

// ---------------------------------------------------------------- writers

void NeighbourTable::add_static(const IpAddr& ip, const uint8_t mac[6]) {
  if (ip.family != 4 && ip.family != 6) fail("INVALID_OPTION", "a static neighbour needs an IPv4 or IPv6 address");
  std::lock_guard<std::mutex> g(mu_);
  int32_t i = find(ip);
  if (i < 0) i = insert(ip, 0);
  if (i < 0)
    fail("INVALID_OPTION", "the neighbour table is full (" + std::to_string(opts_.capacity) +
                               " entries): cannot add static neighbour " + ip.str() + "; raise its capacity");
  std::memcpy(meta_[i].mac, mac, 6);
  set_state(uint32_t(i), NeighState::Static, 0);
}

uint32_t NeighbourTable::learn(const IpAddr& ip, const uint8_t mac[6], bool create, uint64_t now_ns, Mbuf** released,
                               uint32_t cap, bool confirmed) {
  if (ip.family != 4 && ip.family != 6) return 0;
  std::lock_guard<std::mutex> g(mu_);
  int32_t i = find(ip);
  if (i < 0) {
    if (!create) return 0;  // RFC 826: only a packet addressed to us adds an entry
    i = insert(ip, now_ns);
    if (i < 0) {
      counters_.table_full.add(1);
      return 0;
    }
    std::memcpy(meta_[i].mac, mac, 6);
    set_state(uint32_t(i), confirmed ? NeighState::Reachable : NeighState::Stale, now_ns);
    return 0;
  }
  Meta& m = meta_[i];
  if (m.state == NeighState::Static) return 0;
  const NeighState was = m.state;
  const bool changed = std::memcmp(m.mac, mac, 6) != 0;
  std::memcpy(m.mac, mac, 6);  // RFC 826 merge: the new address replaces the old
  if (confirmed) {
    set_state(uint32_t(i), NeighState::Reachable, now_ns);
  } else if (was == NeighState::Incomplete || was == NeighState::Failed || changed) {
    // RFC 4861 §7.2.3 / §7.2.5: unconfirmed news makes the entry Stale.
    set_state(uint32_t(i), NeighState::Stale, now_ns);
  }
  if (was == NeighState::Incomplete) counters_.resolved.add(1);
  return take_held(uint32_t(i), released, cap);
}

NeighbourTable::Hold NeighbourTable::hold(const IpAddr& ip, Mbuf* m, uint64_t now_ns, bool* probe_now,
                                          uint8_t mac_out[6]) {
  *probe_now = false;
  std::lock_guard<std::mutex> g(mu_);  // also makes this thread the counters' one writer
  if (ip.family != 4 && ip.family != 6) {
    counters_.hold_drops.add(1);
    return Hold::Dropped;
  }
  int32_t i = find(ip);
  if (i < 0) {
    i = insert(ip, now_ns);
    if (i < 0) {
      counters_.table_full.add(1);
      counters_.hold_drops.add(1);
      return Hold::Dropped;
    }
    Meta& e = meta_[i];
    e.next_ns = now_ns;  // first probe due now
    e.deadline_ns = now_ns + uint64_t(opts_.max_probes + 1) * opts_.retrans_ns;
    set_state(uint32_t(i), NeighState::Incomplete, now_ns);
  }
  Meta& e = meta_[i];
  switch (e.state) {
    case NeighState::Reachable:
    case NeighState::Stale:
    case NeighState::Static:
      std::memcpy(mac_out, e.mac, 6);
      return Hold::Resolved;
    case NeighState::Failed:
      if (now_ns < e.next_ns) {
        counters_.hold_drops.add(1);
        return Hold::Dropped;
      }
      // The refusal period is over: resolve again (packets still queued from
      // the failure, if tick() has not handed them out yet, wait along).
      std::memset(e.mac, 0, 6);
      e.probes = 0;
      e.next_ns = now_ns;
      e.deadline_ns = now_ns + uint64_t(opts_.max_probes + 1) * opts_.retrans_ns;
      set_state(uint32_t(i), NeighState::Incomplete, now_ns);
      break;
    case NeighState::Incomplete:
      break;
  }
  // RFC 4861 §7.2.2: at most one solicitation per RetransTimer, MAX_MULTICAST_SOLICIT in all.
  if (e.probes < opts_.max_probes && now_ns >= e.next_ns && take_probe_token(now_ns)) {
    e.probes++;
    e.next_ns = now_ns + opts_.retrans_ns;
    counters_.probes.add(1);
    *probe_now = true;
  }
  if (e.nheld >= opts_.hold) {
    counters_.hold_drops.add(1);
    return Hold::Dropped;
  }
  held_[size_t(i) * opts_.hold + e.nheld++] = m;
  held_total_.store(held_total_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return Hold::Held;
}

bool NeighbourTable::tick(uint64_t now_ns, IpAddr* probe_out, uint32_t probe_cap, uint32_t* nprobe,
                          Mbuf** expired_out, uint32_t expired_cap, uint32_t* nexpired) {
  *nprobe = 0;
  *nexpired = 0;
  std::unique_lock<std::mutex> g(mu_, std::try_to_lock);
  if (!g.owns_lock()) return false;
  if (live_.load(std::memory_order_relaxed) == 0) return true;
  // erase() pulls later entries back into slot i, so after an erase slot i is
  // looked at again. An entry that wraps around from the start of the array
  // may be looked at twice; every step below is guarded by its own time, so a
  // second look does nothing.
  for (uint32_t i = 0; i < nslots_;) {
    Meta& e = meta_[i];
    if (!e.ip.family) {
      i++;
      continue;
    }
    if (e.state == NeighState::Incomplete) {
      if (now_ns >= e.deadline_ns || (now_ns >= e.next_ns && e.probes >= opts_.max_probes)) {
        e.next_ns = now_ns + opts_.failed_ns;
        std::memset(e.mac, 0, 6);
        set_state(i, NeighState::Failed, now_ns);
        counters_.expired.add(1);
      } else if (now_ns >= e.next_ns && *nprobe < probe_cap && take_probe_token(now_ns)) {
        probe_out[(*nprobe)++] = e.ip;
        e.probes++;
        e.next_ns = now_ns + opts_.retrans_ns;
        counters_.probes.add(1);
      }
    }
    if (e.state != NeighState::Incomplete && e.nheld) {
      const uint32_t n = take_held(i, expired_out + *nexpired, expired_cap - *nexpired);
      *nexpired += n;
      counters_.hold_drops.add(n);
    }
    bool gone = false;
    if (e.state == NeighState::Reachable && now_ns >= e.updated_ns + opts_.reachable_ns) {
      set_state(i, NeighState::Stale, now_ns);
    } else if (e.state == NeighState::Stale && !e.nheld &&
               slots_[i].refreshes.load(std::memory_order_relaxed) >= opts_.max_probes &&
               now_ns >= slots_[i].next_refresh_ns.load(std::memory_order_relaxed)) {
      counters_.unreachable.add(1);
      gone = true;
    } else if (e.state == NeighState::Failed && !e.nheld && now_ns >= e.next_ns) {
      gone = true;
    }
    if (gone) {
      erase(i);  // slot i now holds the next entry of the chain, if any
      continue;
    }
    i++;
  }
  return true;
}

void NeighbourTable::remove(const IpAddr& ip) {
  std::lock_guard<std::mutex> g(mu_);
  const int32_t i = find(ip);
  if (i < 0) return;
  Meta& e = meta_[i];
  if (!e.nheld) {
    erase(uint32_t(i));
    return;
  }
  e.next_ns = 0;  // no refusal: a hold() resolves afresh
  std::memset(e.mac, 0, 6);
  set_state(uint32_t(i), NeighState::Failed, e.updated_ns);
}

uint32_t NeighbourTable::drain(Mbuf** out, uint32_t cap) {
  std::lock_guard<std::mutex> g(mu_);
  uint32_t n = 0;
  for (uint32_t i = 0; i < nslots_ && n < cap; i++)
    if (meta_[i].ip.family && meta_[i].nheld) n += take_held(i, out + n, cap - n);
  return n;
}

std::vector<NeighbourInfo> NeighbourTable::snapshot(uint64_t now_ns) const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<NeighbourInfo> v;
  v.reserve(live_.load(std::memory_order_relaxed));
  for (uint32_t i = 0; i < nslots_; i++) {
    const Meta& e = meta_[i];
    if (!e.ip.family) continue;
    NeighbourInfo n;
    n.ip = e.ip;
    std::memcpy(n.mac, e.mac, 6);
    n.state = e.state;
    n.age_ns = e.state == NeighState::Static || now_ns < e.updated_ns ? 0 : now_ns - e.updated_ns;
    n.held = e.nheld;
    n.probes = e.state == NeighState::Incomplete || e.state == NeighState::Failed
                   ? e.probes
                   : slots_[i].refreshes.load(std::memory_order_relaxed);
    v.push_back(n);
  }
  return v;
}

}  // namespace lr::host
