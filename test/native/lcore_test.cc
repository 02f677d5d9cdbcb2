// The lcore's adaptive idle with wake-up fds (core/lcore.h, core/wake_wait.h):
// plain eventfds stand in for a NIC queue's MSI-X eventfd. A FakeQueue behaves
// like a NIC: a packet put on it raises "the interrupt" (writes the eventfd)
// only while the lcore has armed it, as a masked interrupt would not fire.
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

#include "check.h"
#include "core/lcore.h"

using Clock = std::chrono::steady_clock;

namespace {

struct FakeQueue {
  int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  std::atomic<uint32_t> ready{0};  // packets waiting on the "ring"
  std::atomic<bool> armed{false};
  std::atomic<uint64_t> arms{0}, disarms{0};
  ~FakeQueue() { ::close(fd); }

  // The NIC side (any thread): a packet lands; the interrupt fires if unmasked.
  void deliver(uint32_t n = 1) {
    ready.fetch_add(n, std::memory_order_seq_cst);
    if (armed.load(std::memory_order_seq_cst)) {
      const uint64_t one = 1;
      (void)!::write(fd, &one, sizeof one);
    }
  }
};

// A task polling one FakeQueue: what it receives waits in a "tx buffer" until flush().
class FakeTask final : public lr::Task {
 public:
  explicit FakeTask(FakeQueue* q, bool has_fd = true) : q_(q), has_fd_(has_fd) {}
  uint32_t poll() override {
    const uint32_t n = q_->ready.exchange(0, std::memory_order_seq_cst);
    received += n;
    buffered += n;
    return n;
  }
  void flush() override {
    flushes++;
    sent += buffered.exchange(0);
  }
  bool wake_fds(std::vector<int>& fds) override {
    if (!has_fd_) return false;
    fds.push_back(q_->fd);
    return true;
  }
  void arm_wakeup() override {
    uint64_t v;
    (void)!::read(q_->fd, &v, sizeof v);  // stale count away, as drivers do
    // A packet landing now: after the lcore's last poll, just before the
    // interrupt is unmasked, so nothing signals it.
    if (inject_on_arm.exchange(0)) q_->deliver();
    q_->arms++;
    q_->armed.store(true, std::memory_order_seq_cst);
  }
  void disarm_wakeup() override {
    q_->armed.store(false, std::memory_order_seq_cst);
    q_->disarms++;
  }

  std::atomic<uint64_t> received{0}, buffered{0}, sent{0}, flushes{0};
  std::atomic<uint32_t> inject_on_arm{0};

 private:
  FakeQueue* q_;
  bool has_fd_;
};

lr::LcoreOptions adaptive(uint32_t max_wait_us) {
  lr::LcoreOptions o;
  o.idle = lr::IdleMode::Adaptive;
  o.max_wait_us = max_wait_us;
  return o;
}

int cpu() { return lr::allowed_cpus().at(0); }

template <class F>
bool wait_until(F f, int ms) {
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return f();
}

}  // namespace

TEST_CASE("idle lcore blocks on its wake-up fds and wakes when the interrupt fires") {
  FakeQueue q;
  lr::Lcore l(0, cpu(), adaptive(30'000'000));  // 30 s: only a signal can end the wait in time
  auto* t = new FakeTask(&q);
  l.add_task(std::unique_ptr<lr::Task>(t));
  l.start();
  REQUIRE(wait_until([&] { return l.counters().waits.get() >= 1; }, 5000));
  CHECK(l.waits_on_fds());
  CHECK(l.counters().sleeps.get() == 0);  // never nanosleeps
  REQUIRE(wait_until([&] { return q.armed.load(); }, 5000));
  const auto t0 = Clock::now();
  q.deliver(3);
  REQUIRE(wait_until([&] { return t->received.load() == 3; }, 5000));
  CHECK(Clock::now() - t0 < std::chrono::seconds(5));
  CHECK(wait_until([&] { return l.counters().wakeups.get() >= 1; }, 1000));
  // It flushes what it received before it blocks again (no drain timer while asleep).
  CHECK(wait_until([&] { return t->sent.load() == 3 && l.counters().waits.get() >= 2; }, 5000));
  CHECK(l.counters().wait_timeouts.get() == 0);
  l.stop();
  CHECK(!l.waits_on_fds());
  CHECK(q.arms.load() == q.disarms.load());
  CHECK(!q.armed.load());
}

TEST_CASE("stop() ends a long wait at once") {
  FakeQueue q;
  lr::Lcore l(0, cpu(), adaptive(60'000'000));
  l.add_task(std::make_unique<FakeTask>(&q));
  l.start();
  REQUIRE(wait_until([&] { return l.counters().waits.get() >= 1; }, 5000));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // well inside the wait
  const auto t0 = Clock::now();
  l.stop();
  CHECK(Clock::now() - t0 < std::chrono::seconds(2));
  CHECK(l.counters().wakeups.get() == 0);
  CHECK(l.counters().wait_timeouts.get() == 0);
  // And it starts and stops again (the stop signal does not linger).
  l.start();
  REQUIRE(wait_until([&] { return l.counters().waits.get() >= 2; }, 5000));
  CHECK(l.running());
  l.stop();
}

TEST_CASE("a wait that times out still flushes and polls; counters say so") {
  FakeQueue q;
  lr::Lcore l(0, cpu(), adaptive(2000));  // 2 ms
  auto* t = new FakeTask(&q);
  l.add_task(std::unique_ptr<lr::Task>(t));
  l.start();
  REQUIRE(wait_until([&] { return l.counters().wait_timeouts.get() >= 3; }, 10000));
  // A packet that lands while the interrupt is masked (no signal at all): only
  // the poll after a timed-out wait finds it, and the next flush sends it.
  q.armed.store(false);
  q.ready.fetch_add(1);
  REQUIRE(wait_until([&] { return t->received.load() == 1; }, 5000));
  REQUIRE(wait_until([&] { return t->sent.load() == 1; }, 5000));
  const uint64_t f = t->flushes.load();
  CHECK(wait_until([&] { return t->flushes.load() > f + 2; }, 5000));  // a flush each round
  l.stop();
  CHECK(l.counters().wakeups.get() == 0);  // nothing ever signalled
  CHECK(q.arms.load() == q.disarms.load());
}

TEST_CASE("one task without a wake-up fd: the lcore sleeps in steps, never blocks") {
  FakeQueue a, b;
  lr::Lcore l(0, cpu(), adaptive(30'000'000));
  l.add_task(std::make_unique<FakeTask>(&a));
  auto* nofd = new FakeTask(&b, false);
  l.add_task(std::unique_ptr<lr::Task>(nofd));
  l.start();
  REQUIRE(wait_until([&] { return l.counters().sleeps.get() >= 10; }, 5000));
  CHECK(!l.waits_on_fds());
  b.deliver(1);
  CHECK(wait_until([&] { return nofd->received.load() == 1; }, 2000));
  l.stop();
  CHECK(l.counters().waits.get() == 0);
  CHECK(a.arms.load() == 0);
}

TEST_CASE("a wake-up fd stuck in an error state (POLLHUP) makes the lcore sleep in steps, not spin") {
  // A pipe whose write end is closed polls POLLHUP, never POLLIN: like a socket
  // whose interface went away. Every wait would end at once.
  int p[2];
  REQUIRE(pipe(p) == 0);
  ::close(p[1]);
  struct HupTask final : lr::Task {
    int fd;
    explicit HupTask(int f) : fd(f) {}
    uint32_t poll() override { return 0; }
    bool wake_fds(std::vector<int>& fds) override {
      fds.push_back(fd);
      return true;
    }
  };
  lr::Lcore l(0, cpu(), adaptive(30'000'000));
  l.add_task(std::make_unique<HupTask>(p[0]));
  l.start();
  REQUIRE(wait_until([&] { return l.counters().sleeps.get() >= 20; }, 5000));
  CHECK(l.counters().waits.get() >= 20);
  CHECK(l.counters().wakeups.get() == 0);  // an error is not a packet
  l.stop();
  ::close(p[0]);
}

TEST_CASE("busy idle mode never blocks even with wake-up fds") {
  FakeQueue q;
  lr::LcoreOptions o = adaptive(30'000'000);
  o.idle = lr::IdleMode::Busy;
  lr::Lcore l(0, cpu(), o);
  l.add_task(std::make_unique<FakeTask>(&q));
  l.start();
  REQUIRE(wait_until([&] { return l.counters().loops.get() > 10000; }, 5000));
  l.stop();
  CHECK(l.counters().waits.get() == 0);
  CHECK(l.counters().sleeps.get() == 0);
}

TEST_CASE("a packet that lands between the last poll and the arming is found by the poll after arming") {
  FakeQueue q;
  lr::Lcore l(0, cpu(), adaptive(30'000'000));  // a stranded packet would wait 30 s
  auto* t = new FakeTask(&q);
  t->inject_on_arm.store(1);
  l.add_task(std::unique_ptr<lr::Task>(t));
  l.start();
  REQUIRE(wait_until([&] { return t->received.load() == 1; }, 5000));
  for (uint64_t i = 2; i <= 5; i++) {
    REQUIRE(wait_until([&] { return q.armed.load(); }, 5000));
    t->inject_on_arm.store(1);  // for the next arming
    q.deliver();                // wakes the lcore from this wait
    REQUIRE(wait_until([&] { return t->received.load() == 2 * i - 1; }, 5000));
  }
  l.stop();
  CHECK(l.counters().wait_timeouts.get() == 0);
}

TEST_CASE("no packet is stranded: packets racing the arm/poll/block sequence are all received") {
  // Packets arrive at random moments, including between the lcore's last poll
  // and its arming (no interrupt then: the queue was masked). The poll right
  // after arming must find those; otherwise they would wait out the 30 s limit.
  FakeQueue q1, q2;
  lr::Lcore l(0, cpu(), adaptive(30'000'000));
  auto* t1 = new FakeTask(&q1);
  auto* t2 = new FakeTask(&q2);
  l.add_task(std::unique_ptr<lr::Task>(t1));
  l.add_task(std::unique_ptr<lr::Task>(t2));
  l.start();
  uint32_t seed = 12345;
  auto rnd = [&] { return (seed = seed * 1103515245 + 12345) >> 16; };
  const int rounds = 300;
  for (int i = 0; i < rounds; i++) {
    FakeQueue& q = (rnd() & 1) ? q1 : q2;
    q.deliver();
    const uint64_t want = uint64_t(i) + 1;
    REQUIRE(wait_until([&] { return t1->received.load() + t2->received.load() == want; }, 5000));
    // Let the lcore go idle again for a random while (sometimes to the wait, sometimes not).
    if (rnd() % 4 == 0) wait_until([&] { return q1.armed.load() && q2.armed.load(); }, 50);
    else std::this_thread::sleep_for(std::chrono::microseconds(rnd() % 300));
  }
  l.stop();
  CHECK(l.counters().wait_timeouts.get() == 0);
  CHECK(l.counters().wakeups.get() > 0);
  CHECK(t1->sent.load() + t2->sent.load() == uint64_t(rounds));
  CHECK(q1.arms.load() == q1.disarms.load());
}

TEST_MAIN()
