// The host layer's neighbour table (native/pipeline/host/neighbours.h): states,
// timers, hold queues, probe budgets, a full table, and lock-free readers
// against a writer (run under TSan by scripts/test-native.mjs). Time is passed
// in, so every step is deterministic; nothing here sleeps or measures time.
#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "check.h"
#include "core/cycles.h"
#include "core/mempool.h"
#include "pipeline/host/neighbours.h"

using lr::Mbuf;
using Hold = lr::host::NeighbourTable::Hold;
using lr::host::IpAddr;
using lr::host::NeighbourOptions;
using lr::host::NeighbourTable;
using lr::host::NeighState;

namespace {

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kSec = 1'000'000'000;
constexpr uint64_t kT0 = 1000 * kSec;  // an arbitrary monotonic start

IpAddr ip4(uint32_t host_order) { return IpAddr::v4(host_order); }
IpAddr ip6(const char* text) {
  IpAddr a;
  IpAddr::parse(text, &a);
  return a;
}

struct Mac {
  uint8_t b[6];
};
Mac mac_n(uint8_t n) { return Mac{{0x02, 0, 0, 0, 0, n}}; }
bool mac_eq(const uint8_t* a, const Mac& m) { return std::memcmp(a, m.b, 6) == 0; }

// Fake mbufs: the table only stores pointers.
struct FakeMbufs {
  explicit FakeMbufs(uint32_t n) : v(n) {
    for (uint32_t i = 0; i < n; i++) v[i].index = i;
  }
  Mbuf* operator[](uint32_t i) { return &v[i]; }
  std::vector<Mbuf> v;
};

NeighbourOptions opts() {
  NeighbourOptions o;
  o.capacity = 16;
  o.hash_seed = 12345;
  return o;
}

struct Tick {
  IpAddr probes[64];
  Mbuf* expired[64];
  uint32_t nprobe = 0, nexpired = 0;
  bool run(NeighbourTable& t, uint64_t now, uint32_t probe_cap = 64, uint32_t expired_cap = 64) {
    return t.tick(now, probes, probe_cap, &nprobe, expired, expired_cap, &nexpired);
  }
};

const lr::host::NeighbourInfo* info_of(const std::vector<lr::host::NeighbourInfo>& v, const IpAddr& ip) {
  for (auto& n : v)
    if (n.ip == ip) return &n;
  return nullptr;
}

}  // namespace

TEST_CASE("IpAddr: v4, v6, parse, str, equality") {
  const IpAddr a = ip4(0xC6120002);
  CHECK(a.family == 4);
  CHECK(a.b[0] == 198 && a.b[1] == 18 && a.b[2] == 0 && a.b[3] == 2 && a.b[4] == 0 && a.b[15] == 0);
  CHECK(a.str() == "198.18.0.2");
  const uint8_t wire[4] = {198, 18, 0, 2};
  CHECK(IpAddr::v4(wire) == a);
  IpAddr b;
  CHECK(IpAddr::parse("fd00:198:18::2", &b));
  CHECK(b.family == 6 && b.b[0] == 0xfd && b.b[15] == 2);
  CHECK(b.str() == "fd00:198:18::2");
  CHECK(b != a);
  CHECK(!IpAddr::parse("198.18.0", &b));
  CHECK(IpAddr().str().empty());
  // ::c612:2 and 198.18.0.2 share bytes but not a family.
  IpAddr c;
  c.family = 6;
  std::memcpy(c.b, a.b, 4);
  CHECK(c != a);
}

TEST_CASE("options are validated") {
  auto with = [](auto f) {
    NeighbourOptions o = opts();
    f(o);
    return o;
  };
  CHECK_THROWS_CODE(NeighbourTable(with([](NeighbourOptions& o) { o.capacity = 12; })), "INVALID_OPTION");
  CHECK_THROWS_CODE(NeighbourTable(with([](NeighbourOptions& o) { o.capacity = 0; })), "INVALID_OPTION");
  CHECK_THROWS_CODE(NeighbourTable(with([](NeighbourOptions& o) { o.hold = 0; })), "INVALID_OPTION");
  CHECK_THROWS_CODE(NeighbourTable(with([](NeighbourOptions& o) { o.hold = 17; })), "INVALID_OPTION");
  CHECK_THROWS_CODE(NeighbourTable(with([](NeighbourOptions& o) { o.max_probes = 0; })), "INVALID_OPTION");
  CHECK_THROWS_CODE(NeighbourTable(with([](NeighbourOptions& o) { o.retrans_ns = 0; })), "INVALID_OPTION");
  NeighbourTable t(with([](NeighbourOptions& o) { o.hold = 16; }));
  CHECK(t.hold_limit() == 16 && t.capacity() == 16);
}

TEST_CASE("static entries: found, never learned over, never aged, removable") {
  NeighbourTable t(opts());
  const IpAddr a = ip4(0xC6120009), b = ip6("fd00:198:18::9");
  t.add_static(a, mac_n(9).b);
  t.add_static(b, mac_n(10).b);
  uint8_t mac[6];
  CHECK(t.lookup(a, mac, kT0) && mac_eq(mac, mac_n(9)));
  CHECK(t.lookup(b, mac, kT0) && mac_eq(mac, mac_n(10)));
  CHECK(t.learn(a, mac_n(99).b, true, kT0, nullptr, 0) == 0);  // not overwritten by learning
  Tick k;
  CHECK(k.run(t, kT0 + 10000 * kSec));  // far past every timer
  CHECK(k.nprobe == 0 && k.nexpired == 0);
  bool refresh = true;
  CHECK(t.lookup(a, mac, kT0 + 10000 * kSec, &refresh) && mac_eq(mac, mac_n(9)));
  CHECK(!refresh);
  auto snap = t.snapshot(kT0);
  REQUIRE(snap.size() == 2);
  REQUIRE(info_of(snap, a));
  CHECK(info_of(snap, a)->state == NeighState::Static && mac_eq(info_of(snap, a)->mac, mac_n(9)));
  // A hold for a static address is not held: the caller sends it.
  FakeMbufs m(1);
  bool probe = true;
  uint8_t out[6] = {};
  CHECK(t.hold(a, m[0], kT0, &probe, out) == Hold::Resolved);
  CHECK(mac_eq(out, mac_n(9)) && !probe && t.held() == 0);
  // add_static replaces; remove forgets.
  t.add_static(a, mac_n(11).b);
  CHECK(t.lookup(a, mac, kT0) && mac_eq(mac, mac_n(11)));
  t.remove(a);
  CHECK(!t.lookup(a, mac, kT0));
  CHECK(t.size() == 1);
}

TEST_CASE("learn: create=false updates only (RFC 826 merge), create=true adds Reachable") {
  NeighbourTable t(opts());
  const IpAddr a = ip4(0xC6120005);
  uint8_t mac[6];
  CHECK(t.learn(a, mac_n(5).b, false, kT0, nullptr, 0) == 0);
  CHECK(!t.lookup(a, mac, kT0));
  CHECK(t.size() == 0);
  t.learn(a, mac_n(5).b, true, kT0, nullptr, 0);
  CHECK(t.lookup(a, mac, kT0) && mac_eq(mac, mac_n(5)));
  CHECK(t.snapshot(kT0)[0].state == NeighState::Reachable);
  t.learn(a, mac_n(6).b, false, kT0 + kSec, nullptr, 0);  // merge: a known sender's new address
  CHECK(t.lookup(a, mac, kT0) && mac_eq(mac, mac_n(6)));
  CHECK(t.snapshot(kT0 + 3 * kSec)[0].age_ns == 2 * kSec);
  CHECK(t.counters().resolved.get() == 0);  // nothing was being resolved
}

TEST_CASE("learn unconfirmed (RFC 4861 7.2.3/7.2.5): new or changed entries are Stale, unchanged ones keep state") {
  NeighbourTable t(opts());
  const IpAddr a = ip6("fd00:198:18::5"), b = ip6("fd00:198:18::6");
  t.learn(a, mac_n(5).b, true, kT0, nullptr, 0, false);
  CHECK(t.snapshot(kT0)[0].state == NeighState::Stale);
  uint8_t mac[6];
  CHECK(t.lookup(a, mac, kT0) && mac_eq(mac, mac_n(5)));
  t.learn(b, mac_n(6).b, true, kT0, nullptr, 0, true);
  t.learn(b, mac_n(6).b, true, kT0 + kSec, nullptr, 0, false);  // same address, unconfirmed: no change
  CHECK(info_of(t.snapshot(kT0 + kSec), b)->state == NeighState::Reachable);
  CHECK(info_of(t.snapshot(kT0 + kSec), b)->age_ns == kSec);
  t.learn(b, mac_n(7).b, true, kT0 + kSec, nullptr, 0, false);  // a new address, unconfirmed: Stale
  CHECK(info_of(t.snapshot(kT0 + kSec), b)->state == NeighState::Stale);
  CHECK(t.lookup(b, mac, kT0) && mac_eq(mac, mac_n(7)));
  t.learn(b, mac_n(7).b, true, kT0 + kSec, nullptr, 0, true);  // confirmed: Reachable
  CHECK(info_of(t.snapshot(kT0 + kSec), b)->state == NeighState::Reachable);
}

TEST_CASE("hold then learn releases exactly the held packets, oldest first") {
  NeighbourOptions o = opts();
  o.hold = 4;
  NeighbourTable t(o);
  FakeMbufs m(8);
  const IpAddr a = ip4(0xC6120007), other = ip4(0xC6120008);
  uint8_t mac[6], out[6];
  bool probe = false;
  CHECK(!t.lookup(a, mac, kT0));
  CHECK(t.hold(a, m[0], kT0, &probe, out) == Hold::Held);
  CHECK(probe);  // a new entry: probe now
  CHECK(t.hold(a, m[1], kT0 + kMs, &probe, out) == Hold::Held);
  CHECK(!probe);  // not again within retrans_ns
  CHECK(t.hold(other, m[2], kT0 + kMs, &probe, out) == Hold::Held);
  CHECK(probe);
  CHECK(t.hold(a, m[3], kT0 + 2 * kMs, &probe, out) == Hold::Held);
  CHECK(t.held() == 4);
  CHECK(!t.lookup(a, mac, kT0 + 2 * kMs));  // Incomplete is not usable
  auto snap = t.snapshot(kT0 + 2 * kMs);
  CHECK(info_of(snap, a)->state == NeighState::Incomplete && info_of(snap, a)->held == 3 &&
        info_of(snap, a)->probes == 1);

  Mbuf* rel[16] = {};
  CHECK(t.learn(a, mac_n(7).b, false, kT0 + 3 * kMs, rel, 16) == 3);  // a reply to our probe
  CHECK(rel[0] == m[0] && rel[1] == m[1] && rel[2] == m[3] && rel[3] == nullptr);
  CHECK(t.held() == 1);
  CHECK(t.lookup(a, mac, kT0 + 3 * kMs) && mac_eq(mac, mac_n(7)));
  CHECK(t.counters().resolved.get() == 1);
  CHECK(t.counters().probes.get() == 2);
  CHECK(t.counters().hold_drops.get() == 0);
  // Learning again releases nothing more.
  CHECK(t.learn(a, mac_n(7).b, false, kT0 + 4 * kMs, rel, 16) == 0);
  // A later hold finds the entry usable.
  CHECK(t.hold(a, m[4], kT0 + 4 * kMs, &probe, out) == Hold::Resolved && mac_eq(out, mac_n(7)));
  CHECK(t.learn(other, mac_n(8).b, false, kT0 + 5 * kMs, rel, 16) == 1 && rel[0] == m[2]);
  CHECK(t.held() == 0);
}

TEST_CASE("hold beyond the limit drops the new packet and counts it") {
  NeighbourOptions o = opts();
  o.hold = 2;
  NeighbourTable t(o);
  FakeMbufs m(4);
  const IpAddr a = ip4(0xC6120007);
  bool probe;
  uint8_t out[6];
  CHECK(t.hold(a, m[0], kT0, &probe, out) == Hold::Held);
  CHECK(t.hold(a, m[1], kT0, &probe, out) == Hold::Held);
  CHECK(t.hold(a, m[2], kT0, &probe, out) == Hold::Dropped);
  CHECK(t.hold(a, m[3], kT0, &probe, out) == Hold::Dropped);
  CHECK(t.counters().hold_drops.get() == 2);
  CHECK(t.held() == 2);
  CHECK(t.hold(IpAddr(), m[3], kT0, &probe, out) == Hold::Dropped && !probe);  // no address family
  CHECK(t.counters().hold_drops.get() == 3 && t.size() == 1);
  Mbuf* rel[4] = {};
  CHECK(t.learn(a, mac_n(7).b, true, kT0, rel, 4) == 2);
  CHECK(rel[0] == m[0] && rel[1] == m[1]);  // the first ones were kept
}

TEST_CASE("learn with a small cap: the rest is dropped by the next tick") {
  NeighbourOptions o = opts();
  o.hold = 4;
  NeighbourTable t(o);
  FakeMbufs m(4);
  const IpAddr a = ip4(0xC6120007);
  bool probe;
  uint8_t out[6];
  for (uint32_t i = 0; i < 4; i++) CHECK(t.hold(a, m[i], kT0, &probe, out) == Hold::Held);
  Mbuf* rel[2];
  CHECK(t.learn(a, mac_n(7).b, true, kT0, rel, 2) == 2);
  CHECK(rel[0] == m[0] && rel[1] == m[1]);
  Tick k;
  CHECK(k.run(t, kT0 + kMs));
  CHECK(k.nexpired == 2 && k.expired[0] == m[2] && k.expired[1] == m[3]);
  CHECK(t.held() == 0 && t.counters().hold_drops.get() == 2);
}

TEST_CASE("tick: Incomplete probes every retrans_ns, fails after max_probes, expired packets come back") {
  NeighbourOptions o = opts();
  o.hold = 4;
  o.retrans_ns = kSec;
  o.max_probes = 3;
  o.failed_ns = 5 * kSec;
  NeighbourTable t(o);
  FakeMbufs m(8);
  const IpAddr a = ip6("fd00:198:18::77");
  bool probe;
  uint8_t out[6];
  for (uint32_t i = 0; i < 3; i++) CHECK(t.hold(a, m[i], kT0, &probe, out) == Hold::Held);
  Tick k;
  CHECK(k.run(t, kT0 + 500 * kMs));
  CHECK(k.nprobe == 0 && k.nexpired == 0);  // retrans timer not run out
  CHECK(k.run(t, kT0 + kSec));
  CHECK(k.nprobe == 1 && k.probes[0] == a);  // second probe
  CHECK(k.run(t, kT0 + kSec + kMs));
  CHECK(k.nprobe == 0);
  // A hold in between does not probe early.
  CHECK(t.hold(a, m[3], kT0 + 1500 * kMs, &probe, out) == Hold::Held && !probe);
  CHECK(k.run(t, kT0 + 2 * kSec));
  CHECK(k.nprobe == 1 && k.probes[0] == a);  // third and last
  CHECK(t.counters().probes.get() == 3);
  CHECK(info_of(t.snapshot(kT0 + 2 * kSec), a)->probes == 3);
  // max_probes unanswered: Failed; the held packets come back, two per tick here.
  CHECK(k.run(t, kT0 + 3 * kSec, 64, 2));
  CHECK(k.nprobe == 0 && k.nexpired == 2 && k.expired[0] == m[0] && k.expired[1] == m[1]);
  CHECK(info_of(t.snapshot(kT0 + 3 * kSec), a)->state == NeighState::Failed);
  CHECK(t.counters().expired.get() == 1);
  CHECK(k.run(t, kT0 + 3 * kSec + kMs, 64, 2));
  CHECK(k.nexpired == 2 && k.expired[0] == m[2] && k.expired[1] == m[3]);
  CHECK(t.held() == 0);
  CHECK(t.counters().hold_drops.get() == 4);
  // Failed refuses holds for failed_ns, without probing.
  CHECK(t.hold(a, m[4], kT0 + 4 * kSec, &probe, out) == Hold::Dropped && !probe);
  CHECK(t.counters().hold_drops.get() == 5);
  uint8_t mac[6];
  CHECK(!t.lookup(a, mac, kT0 + 4 * kSec));
  // Then the entry goes, and a new hold starts over.
  CHECK(k.run(t, kT0 + 8 * kSec));
  CHECK(t.size() == 0);
  CHECK(t.hold(a, m[5], kT0 + 8 * kSec, &probe, out) == Hold::Held && probe);
  Mbuf* rel[4];
  CHECK(t.learn(a, mac_n(1).b, true, kT0 + 8 * kSec, rel, 4) == 1 && rel[0] == m[5]);
}

TEST_CASE("a Failed entry past failed_ns is retried by hold() even before tick removes it") {
  NeighbourOptions o = opts();
  o.max_probes = 1;
  o.retrans_ns = kSec;
  o.failed_ns = 2 * kSec;
  NeighbourTable t(o);
  FakeMbufs m(2);
  const IpAddr a = ip4(0xC6120020);
  bool probe;
  uint8_t out[6];
  CHECK(t.hold(a, m[0], kT0, &probe, out) == Hold::Held && probe);
  Tick k;
  CHECK(k.run(t, kT0 + kSec));
  CHECK(k.nexpired == 1 && info_of(t.snapshot(kT0), a)->state == NeighState::Failed);
  CHECK(t.hold(a, m[1], kT0 + 3 * kSec, &probe, out) == Hold::Held && probe);
  CHECK(info_of(t.snapshot(kT0), a)->state == NeighState::Incomplete);
  Mbuf* rel[2];
  CHECK(t.learn(a, mac_n(1).b, false, kT0 + 3 * kSec, rel, 2) == 1 && rel[0] == m[1]);
}

TEST_CASE("Reachable becomes Stale after reachable_ns; a new confirmation restarts the timer") {
  NeighbourOptions o = opts();
  o.reachable_ns = 30 * kSec;
  NeighbourTable t(o);
  const IpAddr a = ip4(0xC6120030);
  t.learn(a, mac_n(3).b, true, kT0, nullptr, 0);
  Tick k;
  CHECK(k.run(t, kT0 + 29 * kSec));
  CHECK(t.snapshot(kT0)[0].state == NeighState::Reachable);
  t.learn(a, mac_n(3).b, true, kT0 + 20 * kSec, nullptr, 0);  // confirmed again
  CHECK(k.run(t, kT0 + 31 * kSec));
  CHECK(t.snapshot(kT0)[0].state == NeighState::Reachable);
  CHECK(k.run(t, kT0 + 50 * kSec));
  CHECK(t.snapshot(kT0 + 50 * kSec)[0].state == NeighState::Stale);
  uint8_t mac[6];
  CHECK(t.lookup(a, mac, kT0 + 50 * kSec) && mac_eq(mac, mac_n(3)));  // Stale is still usable
}

TEST_CASE("refresh: one unicast probe per retrans_ns while Stale, max_probes, then the entry goes") {
  NeighbourOptions o = opts();
  o.reachable_ns = 10 * kSec;
  o.retrans_ns = kSec;
  o.max_probes = 3;
  NeighbourTable t(o);
  const IpAddr a = ip4(0xC6120031), b = ip4(0xC6120032);
  t.learn(a, mac_n(1).b, true, kT0, nullptr, 0);
  t.learn(b, mac_n(2).b, true, kT0, nullptr, 0);
  uint8_t mac[6];
  bool refresh = true;
  CHECK(t.lookup(a, mac, kT0 + kSec, &refresh) && !refresh);  // Reachable: no refresh
  Tick k;
  CHECK(k.run(t, kT0 + 10 * kSec));  // both Stale now
  uint64_t now = kT0 + 10 * kSec;
  CHECK(t.lookup(a, mac, now, &refresh) && refresh);
  CHECK(t.lookup(a, mac, now, &refresh) && !refresh);  // rate limited per entry
  CHECK(t.lookup(a, mac, now + 999 * kMs, &refresh) && !refresh);
  CHECK(t.lookup(a, mac, now + kSec, &refresh) && refresh);
  CHECK(t.lookup(b, mac, now + kSec, &refresh) && refresh);  // per entry, not global
  CHECK(t.lookup(a, mac, now + 2 * kSec, &refresh) && refresh);
  CHECK(t.lookup(a, mac, now + 3 * kSec, &refresh) && !refresh);  // max_probes reached
  CHECK(t.lookup(a, mac, now + 3 * kSec) && mac_eq(mac, mac_n(1)));  // still usable until tick
  CHECK(t.counters().refresh_probes.get() == 4);
  CHECK(info_of(t.snapshot(now), a)->probes == 3);
  // b answers its probe: Reachable again, count reset.
  t.learn(b, mac_n(2).b, false, now + kSec + kMs, nullptr, 0);
  CHECK(info_of(t.snapshot(now), b)->state == NeighState::Reachable && info_of(t.snapshot(now), b)->probes == 0);
  // a never answered: removed retrans_ns after its last probe.
  CHECK(k.run(t, now + 2 * kSec + 999 * kMs));
  CHECK(t.lookup(a, mac, now + 3 * kSec));
  CHECK(k.run(t, now + 3 * kSec));
  CHECK(!t.lookup(a, mac, now + 3 * kSec));
  CHECK(t.counters().unreachable.get() == 1);
  CHECK(t.lookup(b, mac, now + 3 * kSec));
  // Without a refresh pointer (kernel-resolved tables) a Stale entry is never probed nor removed.
  CHECK(k.run(t, now + 100 * kSec));  // b: Stale
  for (int i = 0; i < 10; i++) CHECK(t.lookup(b, mac, now + (100 + i) * kSec));
  CHECK(k.run(t, now + 200 * kSec));
  CHECK(t.lookup(b, mac, now + 200 * kSec));
}

TEST_CASE("global probe budget: probes_per_sec across entries, holds, ticks and refreshes") {
  NeighbourOptions o = opts();
  o.probes_per_sec = 2;
  o.retrans_ns = kSec;
  o.max_probes = 3;
  NeighbourTable t(o);
  FakeMbufs m(8);
  const IpAddr a = ip4(0xC6120041), b = ip4(0xC6120042), c = ip4(0xC6120043);
  bool pa, pb, pc;
  uint8_t out[6];
  CHECK(t.hold(a, m[0], kT0, &pa, out) == Hold::Held);
  CHECK(t.hold(b, m[1], kT0, &pb, out) == Hold::Held);
  CHECK(t.hold(c, m[2], kT0, &pc, out) == Hold::Held);
  CHECK(pa && pb && !pc);  // a burst of two, then none
  CHECK(t.counters().probes.get() == 2);
  Tick k;
  CHECK(k.run(t, kT0 + 100 * kMs));
  CHECK(k.nprobe == 0);  // c is due but the bucket is empty
  CHECK(k.run(t, kT0 + 500 * kMs));
  CHECK(k.nprobe == 1 && k.probes[0] == c);  // one token every 500 ms
  CHECK(info_of(t.snapshot(kT0), c)->probes == 1);
  // probe_cap bounds one tick: at +1.5 s a, b and c are due and two tokens are back.
  CHECK(k.run(t, kT0 + 1500 * kMs, 1));
  CHECK(k.nprobe == 1);
  CHECK(k.run(t, kT0 + 1500 * kMs, 1));
  CHECK(k.nprobe == 1);
  CHECK(k.run(t, kT0 + 1500 * kMs));
  CHECK(k.nprobe == 0);  // the third due entry finds no token
  CHECK(t.counters().probes.get() == 5);
  // Refresh probes draw on the same bucket.
  Mbuf* rel[8];
  t.learn(a, mac_n(1).b, true, kT0 + 1500 * kMs, rel, 8, false);  // Stale
  uint8_t mac[6];
  bool refresh;
  CHECK(t.lookup(a, mac, kT0 + 1500 * kMs, &refresh) && !refresh);
  CHECK(t.lookup(a, mac, kT0 + 2500 * kMs, &refresh) && refresh);
}

TEST_CASE("a starved Incomplete entry still fails by its deadline") {
  NeighbourOptions o = opts();
  o.probes_per_sec = 1;
  o.retrans_ns = kSec;
  o.max_probes = 3;
  NeighbourTable t(o);
  FakeMbufs m(2);
  bool p;
  uint8_t out[6];
  CHECK(t.hold(ip4(1), m[0], kT0, &p, out) == Hold::Held && p);
  CHECK(t.hold(ip4(2), m[1], kT0, &p, out) == Hold::Held && !p);
  Tick k;
  uint32_t expired = 0;
  for (uint64_t ms = 0; ms <= 4000; ms += 100) {
    CHECK(k.run(t, kT0 + ms * kMs, 0));  // probe_cap 0: nothing can be probed from ticks
    expired += k.nexpired;
  }
  CHECK(expired == 2);
  CHECK(t.counters().expired.get() == 2);
  CHECK(t.held() == 0);
}

TEST_CASE("a full table evicts the oldest unused Stale or Failed entry, else refuses") {
  NeighbourOptions o = opts();
  o.capacity = 4;
  o.reachable_ns = 10 * kSec;
  o.stale_gc_ns = 100 * kSec;
  o.hold = 1;
  NeighbourTable t(o);
  FakeMbufs m(8);
  for (uint32_t i = 1; i <= 4; i++) t.learn(ip4(i), mac_n(uint8_t(i)).b, true, kT0 + i * kSec, nullptr, 0);
  CHECK(t.size() == 4);
  bool p;
  uint8_t out[6];
  // All Reachable: nothing to evict.
  CHECK(t.hold(ip4(10), m[0], kT0 + 5 * kSec, &p, out) == Hold::Dropped && !p);
  CHECK(t.counters().table_full.get() == 1 && t.counters().hold_drops.get() == 1);
  t.learn(ip4(11), mac_n(11).b, true, kT0 + 5 * kSec, nullptr, 0);
  CHECK(t.counters().table_full.get() == 2);
  CHECK(t.size() == 4);
  Tick k;
  CHECK(k.run(t, kT0 + 20 * kSec));  // all Stale, used at +20 s
  uint8_t mac[6];
  CHECK(t.hold(ip4(10), m[0], kT0 + 30 * kSec, &p, out) == Hold::Dropped);  // Stale but used recently
  CHECK(t.counters().table_full.get() == 3);
  // Use entries 1, 3 and 4 later than 2: 2 is the least recently used.
  for (uint32_t i : {1u, 3u, 4u}) CHECK(t.lookup(ip4(i), mac, kT0 + 60 * kSec));
  CHECK(t.hold(ip4(10), m[0], kT0 + 125 * kSec, &p, out) == Hold::Held && p);
  CHECK(t.counters().evicted.get() == 1);
  CHECK(!t.lookup(ip4(2), mac, kT0 + 125 * kSec));
  for (uint32_t i : {1u, 3u, 4u}) CHECK(t.lookup(ip4(i), mac, kT0 + 125 * kSec) && mac_eq(mac, mac_n(uint8_t(i))));
  // An Incomplete entry holding a packet is never evicted; nor Stale ones used
  // recently: the next new neighbour is refused.
  CHECK(t.hold(ip4(12), m[1], kT0 + 126 * kSec, &p, out) == Hold::Dropped);
  CHECK(t.counters().table_full.get() == 4);
  // 10 fails; once its packet has been handed back it can be evicted.
  CHECK(k.run(t, kT0 + 126 * kSec));
  CHECK(k.run(t, kT0 + 127 * kSec));
  CHECK(k.run(t, kT0 + 128 * kSec));
  CHECK(k.nexpired == 1 && k.expired[0] == m[0]);
  CHECK(info_of(t.snapshot(kT0), ip4(10))->state == NeighState::Failed);
  CHECK(t.hold(ip4(12), m[1], kT0 + 128 * kSec, &p, out) == Hold::Held);
  CHECK(t.counters().evicted.get() == 2);
  CHECK(!info_of(t.snapshot(kT0), ip4(10)));
  Mbuf* rel[1];
  CHECK(t.learn(ip4(12), mac_n(12).b, true, kT0 + 128 * kSec, rel, 1) == 1 && rel[0] == m[1]);
  CHECK(t.held() == 0);
}

TEST_CASE("add_static on a full table without anything evictable fails with INVALID_OPTION") {
  NeighbourOptions o = opts();
  o.capacity = 2;
  NeighbourTable t(o);
  t.add_static(ip4(1), mac_n(1).b);
  t.add_static(ip4(2), mac_n(2).b);
  CHECK_THROWS_CODE(t.add_static(ip4(3), mac_n(3).b), "INVALID_OPTION");
}

TEST_CASE("remove: an entry holding packets turns Failed, tick hands them back, hold resolves afresh") {
  NeighbourTable t(opts());
  FakeMbufs m(4);
  const IpAddr a = ip4(0xC6120050), b = ip4(0xC6120051);
  bool p;
  uint8_t out[6], mac[6];
  t.learn(b, mac_n(5).b, true, kT0, nullptr, 0);
  t.remove(b);
  CHECK(!t.lookup(b, mac, kT0) && t.size() == 0);
  t.remove(b);  // absent: nothing happens
  CHECK(t.hold(a, m[0], kT0, &p, out) == Hold::Held);
  CHECK(t.hold(a, m[1], kT0, &p, out) == Hold::Held);
  t.remove(a);
  CHECK(t.held() == 2);
  CHECK(t.hold(a, m[2], kT0 + kMs, &p, out) == Hold::Held && p);  // no refusal after remove()
  t.remove(a);
  Tick k;
  CHECK(k.run(t, kT0 + 2 * kMs));
  CHECK(k.nexpired == 3 && k.expired[0] == m[0] && k.expired[1] == m[1] && k.expired[2] == m[2]);
  CHECK(t.size() == 0 && t.held() == 0);
  CHECK(t.counters().expired.get() == 0);  // removed, not failed
}

TEST_CASE("drain gives back every held mbuf of a mempool") {
  lr::MempoolOptions po;
  po.mbufs = 64;
  po.cache_size = 0;
  po.region.hugepages = lr::HugepagePolicy::Off;
  lr::Mempool pool(po);
  NeighbourOptions o = opts();
  o.capacity = 16;
  o.hold = 3;
  NeighbourTable t(o);
  std::vector<Mbuf*> ms(40);
  REQUIRE(pool.alloc_bulk(nullptr, ms.data(), 40));
  uint32_t held = 0, dropped = 0;
  bool p;
  uint8_t out[6];
  for (uint32_t i = 0; i < 40; i++) {
    if (t.hold(ip4(100 + i % 12), ms[i], kT0, &p, out) == Hold::Held) {
      held++;
    } else {
      pool.free_one(nullptr, ms[i]);
      dropped++;
    }
  }
  CHECK(held == 36 && dropped == 4 && t.held() == 36);
  Mbuf* buf[5];
  uint32_t n, total = 0;
  while ((n = t.drain(buf, 5)) != 0) {
    pool.free_bulk(nullptr, buf, n);
    total += n;
  }
  CHECK(total == 36 && t.held() == 0);
  CHECK(pool.available() == pool.size());
  CHECK(t.counters().hold_drops.get() == 4);  // drain is not a drop
}

TEST_CASE("many inserts and removals with collisions agree with a model (backward-shift deletion)") {
  NeighbourOptions o = opts();
  o.capacity = 64;
  o.hash_seed = 7;
  NeighbourTable t(o);
  std::map<uint32_t, uint8_t> model;
  std::mt19937 rng(1);
  uint8_t mac[6];
  for (int step = 0; step < 20000; step++) {
    const uint32_t k = rng() % 150;
    const IpAddr ip = (k & 1) ? ip4(k) : [&] {
      uint8_t b[16] = {0xfd, 0, 0x01, 0x98, 0, 0x18};
      b[15] = uint8_t(k);
      b[14] = uint8_t(k >> 8);
      return IpAddr::v6(b);
    }();
    if (rng() % 3 == 0) {
      t.remove(ip);
      model.erase(k);
    } else if (model.size() < 64 || model.count(k)) {
      const uint8_t v = uint8_t(rng());
      t.learn(ip, mac_n(v).b, true, kT0, nullptr, 0);
      model[k] = v;
    }
    if (step % 97 == 0) {
      for (uint32_t j = 0; j < 150; j++) {
        const IpAddr q = (j & 1) ? ip4(j) : [&] {
          uint8_t b[16] = {0xfd, 0, 0x01, 0x98, 0, 0x18};
          b[15] = uint8_t(j);
          b[14] = uint8_t(j >> 8);
          return IpAddr::v6(b);
        }();
        const bool found = t.lookup(q, mac, kT0);
        auto it = model.find(j);
        CHECK(found == (it != model.end()));
        if (found && it != model.end()) CHECK(mac_eq(mac, mac_n(it->second)));
      }
      CHECK(t.size() == model.size());
    }
  }
}

// The MAC a writer stores for ip, with a version byte that changes: a reader can
// check that the MAC belongs to the key it copied whatever the version.
static void derived_mac(const IpAddr& ip, uint8_t version, uint8_t mac[6]) {
  mac[0] = 0x02;
  mac[1] = version;
  mac[2] = ip.b[ip.family == 4 ? 2 : 14];
  mac[3] = ip.b[ip.family == 4 ? 3 : 15];
  mac[4] = uint8_t(mac[1] ^ mac[2] ^ mac[3] ^ 0x5a);
  mac[5] = ip.family;
}

TEST_CASE("concurrent readers never see a torn (ip, mac) pair while a writer learns, ages, evicts and removes") {
  NeighbourOptions o;
  o.capacity = 64;  // fewer slots than keys: evictions and backward shifts happen
  o.hash_seed = 99;
  o.reachable_ns = 400 * 1000;  // 20 writer steps
  o.retrans_ns = 10 * kMs;
  o.stale_gc_ns = 400 * 1000;
  o.probes_per_sec = 0;
  NeighbourTable t(o);
  // Some writes pause half-way, so that readers do meet half-written slots and
  // moving entries (without it the windows are a few instructions wide).
  static std::atomic<uint32_t> pauses{0};
  t.set_test_pause([] {
    if (pauses.fetch_add(1, std::memory_order_relaxed) % 2 == 0)
      for (int i = 0; i < 64; i++) lr::cpu_pause();
  });
  constexpr uint32_t kKeys = 200;
  std::vector<IpAddr> keys;
  for (uint32_t i = 0; i < kKeys; i++) {
    if (i % 2) {
      keys.push_back(ip4(0xC6120000 + i));
    } else {
      uint8_t b[16] = {0xfd, 0, 0x01, 0x98, 0, 0x18};
      b[14] = uint8_t(i >> 8);
      b[15] = uint8_t(i);
      keys.push_back(IpAddr::v6(b));
    }
  }
  // Static entries among the churn: erase() moves them back along their
  // chains, and a reader must never miss one while that happens.
  std::vector<IpAddr> statics;
  for (uint32_t i = 0; i < 8; i++) {
    statics.push_back(ip4(0xC6130000 + i));
    uint8_t mac[6];
    derived_mac(statics.back(), 0xee, mac);
    t.add_static(statics.back(), mac);
  }
  std::atomic<bool> done{false};
  std::atomic<uint64_t> clock{kT0};
  std::atomic<uint64_t> bad{0}, hits{0}, refreshes{0}, missed{0};
  std::atomic<uint32_t> started{0};
  auto reader = [&](uint32_t seed) {
    std::mt19937 rng(seed);
    uint64_t h = 0, b = 0, r = 0, miss = 0;
    bool first = true;
    while (!done.load(std::memory_order_relaxed)) {
      if (first) started++, first = false;
      {
        const IpAddr& ip = statics[rng() % statics.size()];
        uint8_t mac[6], want[6];
        derived_mac(ip, 0xee, want);
        if (!t.lookup(ip, mac, clock.load(std::memory_order_relaxed))) {
          miss++;
        } else if (std::memcmp(mac, want, 6) != 0) {
          b++;
        }
      }
      const IpAddr& ip = keys[rng() % kKeys];
      uint8_t mac[6];
      bool refresh = false;
      // Readers run 200 ms behind the writer's clock: their use stamps then
      // never keep an entry from being evicted, so evictions happen too.
      if (t.lookup(ip, mac, clock.load(std::memory_order_relaxed) - 200 * kMs, &refresh)) {
        h++;
        r += refresh;
        uint8_t want[6];
        derived_mac(ip, mac[1], want);
        if (std::memcmp(mac, want, 6) != 0) b++;
      }
    }
    hits += h;
    bad += b;
    refreshes += r;
    missed += miss;
  };
  std::vector<std::thread> readers;
  for (uint32_t i = 0; i < 3; i++) readers.emplace_back(reader, 1000 + i);
  while (started.load() < 3) std::this_thread::yield();  // every reader is in its loop
  std::mt19937 rng(5);
  IpAddr probes[16];
  Mbuf* expired[16];
  uint32_t np, ne;
  for (uint32_t step = 0; step < 60000; step++) {
    const uint64_t now = clock.fetch_add(20 * 1000, std::memory_order_relaxed);  // 20 µs per step
    const IpAddr& ip = keys[rng() % kKeys];
    uint8_t mac[6];
    derived_mac(ip, uint8_t(rng()), mac);
    switch (rng() % 8) {
      case 0:
        t.remove(ip);
        break;
      case 1:
        t.tick(now, probes, 16, &np, expired, 16, &ne);
        break;
      case 2:
        t.learn(ip, mac, false, now, nullptr, 0, rng() % 2);
        break;
      default:
        t.learn(ip, mac, true, now, nullptr, 0, rng() % 2);
    }
  }
  done = true;
  for (auto& th : readers) th.join();
  CHECK(bad.load() == 0);
  CHECK(missed.load() == 0);
  CHECK(hits.load() > 0);
  CHECK(t.held() == 0);
  std::printf("  concurrent: %llu hits, %llu refreshes, %llu evicted, %llu table full\n",
              (unsigned long long)hits.load(), (unsigned long long)refreshes.load(),
              (unsigned long long)t.counters().evicted.get(), (unsigned long long)t.counters().table_full.get());
}

TEST_CASE("concurrent readers never miss nor tear an entry that deletions move back along its chain") {
  // Each round the writer adds fillers, then key K (often placed behind some of
  // them), announces K, removes the fillers (each removal ahead of K in its
  // cluster moves K one or more slots back), withdraws the announcement and
  // removes K. Readers look K up while it is announced: a miss is a bug (a
  // reader walked past K's new slot before K moved there and reached its old
  // one after it was cleared).
  NeighbourOptions o;
  o.capacity = 64;
  o.hash_seed = 4242;
  o.reachable_ns = 1000 * kSec;
  NeighbourTable t(o);
  constexpr uint32_t kRounds = 1500, kFill = 40;
  std::atomic<uint64_t> round{0};  // 0: nothing announced; else round r announces key(r)
  std::atomic<bool> done{false};
  std::atomic<uint64_t> missed{0}, found{0}, torn{0};
  // K moves into slots that held fillers: a reader that mixed K's key with a
  // filler's address (mac_n(1)) would be reading a half-written slot.
  // Half-way pauses widen the window for a torn copy but narrow the one for a
  // miss (which needs the reader to straddle the whole move), so odd rounds
  // pause and even rounds do not.
  static std::atomic<bool> pausing{false};
  t.set_test_pause([] {
    if (pausing.load(std::memory_order_relaxed))
      for (int i = 0; i < 64; i++) lr::cpu_pause();
  });
  auto key = [](uint64_t r) { return ip4(0xC6140000 + uint32_t(r)); };
  auto reader = [&] {
    uint8_t mac[6];
    while (!done.load(std::memory_order_relaxed)) {
      const uint64_t a = round.load(std::memory_order_acquire);
      if (!a) continue;
      const bool ok = t.lookup(key(a), mac, kT0);
      if (ok && !mac_eq(mac, mac_n(2))) torn.fetch_add(1, std::memory_order_relaxed);
      // lookup()'s loads are acquire loads, so this one comes after them.
      if (round.load(std::memory_order_acquire) != a) continue;  // withdrawn meanwhile: proves nothing
      (ok ? found : missed).fetch_add(1, std::memory_order_relaxed);
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; i++) readers.emplace_back(reader);
  std::mt19937 rng(3);
  std::vector<IpAddr> fill;
  for (uint64_t r = 1; r <= kRounds; r++) {
    fill.clear();
    for (uint32_t i = 0; i < kFill; i++) {
      fill.push_back(ip4(0x0A000000 + uint32_t(rng() % 100000)));
      t.learn(fill.back(), mac_n(1).b, true, kT0, nullptr, 0);
    }
    t.learn(key(r), mac_n(2).b, true, kT0, nullptr, 0);
    pausing.store(r % 2 == 1, std::memory_order_relaxed);
    // Wait for a reader to be looking (on two shared cores it may not be
    // running at all otherwise), then move K while they look.
    const uint64_t before = found.load(std::memory_order_relaxed) + missed.load(std::memory_order_relaxed);
    round.store(r, std::memory_order_release);
    while (found.load(std::memory_order_relaxed) + missed.load(std::memory_order_relaxed) == before)
      std::this_thread::yield();
    for (const IpAddr& f : fill) t.remove(f);
    round.store(0, std::memory_order_release);
    t.remove(key(r));
  }
  done = true;
  for (auto& th : readers) th.join();
  CHECK(missed.load() == 0);
  CHECK(torn.load() == 0);
  CHECK(found.load() > 0);
  CHECK(t.size() == 0);
}

TEST_CASE("concurrent holds, learns and ticks from several threads keep every mbuf accounted") {
  NeighbourOptions o = opts();
  o.capacity = 16;
  o.hold = 4;
  o.retrans_ns = 50 * 1000;
  o.max_probes = 2;
  o.failed_ns = 100 * 1000;
  o.probes_per_sec = 0;
  NeighbourTable t(o);
  constexpr uint32_t kPer = 4000;
  FakeMbufs m(3 * kPer);
  std::atomic<uint64_t> clock{kT0};
  std::atomic<uint64_t> back{0};  // mbufs returned to a caller: dropped, released, expired, drained
  std::atomic<bool> done{false};
  auto sender = [&](uint32_t id) {
    std::mt19937 rng(id);
    uint64_t n = 0;
    for (uint32_t i = 0; i < kPer; i++) {
      const uint64_t now = clock.fetch_add(1000, std::memory_order_relaxed);
      const IpAddr ip = ip4(rng() % 40);
      uint8_t mac[6];
      bool p;
      if (t.lookup(ip, mac, now)) {
        n++;
        continue;
      }
      if (t.hold(ip, m[id * kPer + i], now, &p, mac) != Hold::Held) n++;
      if (rng() % 4 == 0) {
        Mbuf* rel[4];
        n += t.learn(ip, mac_n(1).b, true, now, rel, 4);
      }
      if (rng() % 16 == 0) t.remove(ip4(rng() % 40));
    }
    back += n;
  };
  std::thread ticker([&] {
    IpAddr probes[8];
    Mbuf* expired[8];
    uint32_t np, ne;
    uint64_t n = 0;
    while (!done.load(std::memory_order_relaxed))
      if (t.tick(clock.load(std::memory_order_relaxed), probes, 8, &np, expired, 8, &ne)) n += ne;
    back += n;
  });
  std::thread s1(sender, 0), s2(sender, 1), s3(sender, 2);
  s1.join();
  s2.join();
  s3.join();
  done = true;
  ticker.join();
  Mbuf* buf[8];
  uint32_t n;
  while ((n = t.drain(buf, 8)) != 0) back += n;
  CHECK(back.load() == 3 * kPer);
  CHECK(t.held() == 0);
}

TEST_MAIN()
