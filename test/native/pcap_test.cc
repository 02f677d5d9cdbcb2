// The pcap driver: reading captures in every byte order and resolution, the
// errors a bad capture raises, loop and pace replay, writing and reading back,
// and that no test leaks an mbuf.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>

#include "check.h"
#include "core/cycles.h"
#include "core/error.h"
#include "core/mempool.h"
#include "drivers/driver.h"

namespace {

using Bytes = std::vector<uint8_t>;

// A scratch directory, removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/lr_pcap_test.XXXXXX";
    if (!mkdtemp(tmpl)) std::abort();
    path = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

struct Rec {
  uint64_t ts_ns;
  Bytes data;
};

// Builds a pcap in memory, in our byte order or the other one, so both paths
// of the reader are exercised on any host.
struct PcapBuilder {
  bool nano = false, swap = false;
  uint32_t linktype = 1, magic = 0;
  uint16_t major = 2, minor = 4;
  Bytes out;

  void u32(uint32_t v) {
    if (swap) v = __builtin_bswap32(v);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), p, p + 4);
  }
  void u16(uint16_t v) {
    if (swap) v = __builtin_bswap16(v);
    const uint8_t* p = reinterpret_cast<const uint8_t*>(&v);
    out.insert(out.end(), p, p + 2);
  }
  Bytes build(const std::vector<Rec>& recs) {
    out.clear();
    u32(magic ? magic : nano ? 0xa1b23c4d : 0xa1b2c3d4);
    u16(major);
    u16(minor);
    u32(0);
    u32(0);
    u32(65535);
    u32(linktype);
    for (auto& r : recs) record(r.ts_ns, r.data, uint32_t(r.data.size()), uint32_t(r.data.size()));
    return out;
  }
  void record(uint64_t ts_ns, const Bytes& d, uint32_t incl, uint32_t orig) {
    u32(uint32_t(ts_ns / 1000000000ull));
    u32(uint32_t(nano ? ts_ns % 1000000000ull : ts_ns % 1000000000ull / 1000));
    u32(incl);
    u32(orig);
    out.insert(out.end(), d.begin(), d.end());
  }
};

void write_file(const std::string& path, const Bytes& b) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}
Bytes read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), {});
}

Bytes frame(uint32_t len, uint8_t seed) {
  Bytes b(len);
  for (uint32_t i = 0; i < len; i++) b[i] = uint8_t(seed * 31 + i * 7);
  return b;
}

// Records with distinct sizes, contents and timestamps (µs-exact, so both
// resolutions must give them back unchanged).
std::vector<Rec> sample(size_t n) {
  std::vector<Rec> v;
  const uint32_t sizes[] = {60, 64, 1514, 128, 999, 42, 1500};
  for (size_t i = 0; i < n; i++)
    v.push_back({1700000000ull * 1000000000ull + i * 1234567000ull, frame(sizes[i % 7], uint8_t(i))});
  return v;
}

std::unique_ptr<lr::Mempool> make_pool(uint32_t mbufs, uint32_t data_room = 2048, uint32_t caches = 1) {
  lr::MempoolOptions o;
  o.mbufs = mbufs;
  o.data_room = data_room;
  o.caches = caches;
  o.region.hugepages = lr::HugepagePolicy::Off;
  return std::make_unique<lr::Mempool>(o);
}

lr::Config cfg_of(std::initializer_list<std::pair<const char*, lr::Config::Value>> kv) {
  lr::Config c;
  c.scope = "port 'p' (pcap)";
  for (auto& [k, v] : kv) c.set(k, v);
  return c;
}

std::unique_ptr<lr::Driver> open_port(const lr::Config& c, lr::Mempool& pool, uint16_t txq = 1) {
  auto d = lr::open_driver("pcap", c, pool, 3);
  d->configure(1, txq);
  d->setup_rx_queue({&pool, pool.cache(0), 3, 0});
  for (uint16_t q = 0; q < txq; q++) d->setup_tx_queue({&pool, pool.cache(q), 3, q});
  d->start();
  return d;
}

// Receives until the port says it is done (or `limit` packets), copying each
// packet out and freeing its mbuf into the same cache.
std::vector<Rec> drain(lr::Driver& d, lr::Mempool& pool, size_t limit = SIZE_MAX, uint16_t burst = 32) {
  std::vector<Rec> got;
  lr::Mbuf* m[64];
  uint64_t last_progress = lr::monotonic_ns();
  while (got.size() < limit && !d.rx_done()) {
    const uint16_t n = d.rx_burst(0, m, uint16_t(std::min<size_t>(burst, limit - got.size())));
    // A port that stops delivering (pool ran dry, replay stuck) fails, not hangs.
    const uint64_t now = lr::monotonic_ns();
    if (n) last_progress = now;
    if (now - last_progress > 5000000000ull) {
      CHECK(!"rx made no progress for 5 s");
      break;
    }
    for (uint16_t i = 0; i < n; i++) {
      CHECK(m[i]->port == 3);
      CHECK(m[i]->queue == 0);
      CHECK(m[i]->flags & lr::kMbufTimestampValid);
      got.push_back({m[i]->timestamp, Bytes(m[i]->data(), m[i]->data() + m[i]->data_len)});
    }
    pool.free_bulk(pool.cache(0), m, n);
  }
  return got;
}

uint64_t xstat(const lr::Driver& d, const std::string& name) {
  lr::XStats x;
  d.xstats(x);
  for (auto& [k, v] : x)
    if (k == name) return v;
  return UINT64_MAX;
}

std::string error_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const lr::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("reads microsecond and nanosecond pcaps in both byte orders") {
  TempDir dir;
  auto pool = make_pool(256);
  const auto recs = sample(23);
  for (int nano = 0; nano < 2; nano++) {
    for (int swap = 0; swap < 2; swap++) {
      PcapBuilder b;
      b.nano = nano;
      b.swap = swap;
      const std::string path = dir.file("in" + std::to_string(nano) + std::to_string(swap) + ".pcap");
      write_file(path, b.build(recs));
      auto d = open_port(cfg_of({{"rxFile", path}}), *pool);
      CHECK(!d->rx_done());
      const auto got = drain(*d, *pool, SIZE_MAX, 5);
      REQUIRE(got.size() == recs.size());
      for (size_t i = 0; i < recs.size(); i++) {
        CHECK(got[i].data == recs[i].data);
        CHECK(got[i].ts_ns == recs[i].ts_ns);
      }
      CHECK(d->rx_done());
      lr::Mbuf* m[4];
      CHECK(d->rx_burst(0, m, 4) == 0);
      CHECK(xstat(*d, "records") == recs.size());
      CHECK(xstat(*d, "delivered") == recs.size());
      const auto info = d->info();
      CHECK(info.driver == "pcap");
      CHECK(info.max_rx_queues == 1);
      CHECK(!info.hw_rss);
      CHECK(d->mac() == lr::virtual_mac(3));
      d->stop();
      d->close();
      CHECK(pool->available() == pool->size());
    }
  }
}

TEST_CASE("header-only file: nothing to receive, done at once") {
  TempDir dir;
  auto pool = make_pool(64);
  write_file(dir.file("empty.pcap"), PcapBuilder().build({}));
  for (const char* mode : {"once", "loop", "pace"}) {
    auto d = open_port(cfg_of({{"rxFile", dir.file("empty.pcap")}, {"mode", std::string(mode)}}), *pool);
    lr::Mbuf* m[8];
    CHECK(d->rx_burst(0, m, 8) == 0);
    CHECK(d->rx_done());
  }
  CHECK(pool->available() == pool->size());
}

TEST_CASE("truncated captures fail with PCAP_TRUNCATED, naming the record") {
  TempDir dir;
  auto pool = make_pool(64);
  const Bytes whole = PcapBuilder().build(sample(3));
  // Cut inside the data of record 3, then inside its 16-byte header.
  const size_t rec3 = 24 + (16 + 60) + (16 + 64);
  for (size_t cut : {whole.size() - 1, rec3 + 10}) {
    const std::string path = dir.file("cut.pcap");
    write_file(path, Bytes(whole.begin(), whole.begin() + long(cut)));
    CHECK_THROWS_CODE(open_port(cfg_of({{"rxFile", path}}), *pool), "PCAP_TRUNCATED");
    const std::string msg = error_message([&] { open_port(cfg_of({{"rxFile", path}}), *pool); });
    CHECK(msg.find("record 3") != std::string::npos);
    CHECK(msg.find("offset " + std::to_string(rec3)) != std::string::npos);
    CHECK(msg.find("editcap") != std::string::npos);
  }
  CHECK(pool->available() == pool->size());
}

TEST_CASE("not a pcap, or a corrupt one: PCAP_FORMAT") {
  TempDir dir;
  auto pool = make_pool(64);
  const std::string path = dir.file("bad.pcap");
  auto expect = [&](const Bytes& b) {
    write_file(path, b);
    CHECK_THROWS_CODE(open_port(cfg_of({{"rxFile", path}}), *pool), "PCAP_FORMAT");
  };
  PcapBuilder b;
  b.magic = 0xdeadbeef;
  expect(b.build(sample(2)));
  b.magic = 0x0a0d0d0a;  // pcapng
  expect(b.build({}));
  CHECK(error_message([&] { open_port(cfg_of({{"rxFile", path}}), *pool); }).find("pcapng") != std::string::npos);
  expect(Bytes(10, 0));  // shorter than the File Header
  expect(Bytes());
  PcapBuilder v;
  v.minor = 3;
  expect(v.build(sample(1)));
  PcapBuilder c;  // Captured Packet Length larger than the original
  c.build({});
  c.record(0, frame(100, 1), 100, 99);
  expect(c.out);
  PcapBuilder h;  // an absurd length: a garbage header, not a frame
  h.build({});
  h.record(0, frame(16, 1), 300000, 300000);
  expect(h.out);
  CHECK(pool->available() == pool->size());
}

TEST_CASE("link types other than Ethernet: PCAP_LINKTYPE") {
  TempDir dir;
  auto pool = make_pool(64);
  PcapBuilder b;
  b.linktype = 101;  // LINKTYPE_RAW
  write_file(dir.file("raw.pcap"), b.build(sample(2)));
  CHECK_THROWS_CODE(open_port(cfg_of({{"rxFile", dir.file("raw.pcap")}}), *pool), "PCAP_LINKTYPE");
  // The upper bits carry FCS information, not the type: still Ethernet.
  b.linktype = 0x14000001;
  write_file(dir.file("fcs.pcap"), b.build(sample(2)));
  auto d = open_port(cfg_of({{"rxFile", dir.file("fcs.pcap")}}), *pool);
  CHECK(drain(*d, *pool).size() == 2);
  CHECK(pool->available() == pool->size());
}

TEST_CASE("a record larger than the data room: FRAME_TOO_LARGE with the dataRoom to set") {
  TempDir dir;
  auto pool = make_pool(64, 2048);
  auto recs = sample(4);
  recs[2].data = frame(3000, 9);
  write_file(dir.file("big.pcap"), PcapBuilder().build(recs));
  const lr::Config c = cfg_of({{"rxFile", dir.file("big.pcap")}});
  CHECK_THROWS_CODE(open_port(c, *pool), "FRAME_TOO_LARGE");
  const std::string msg = error_message([&] { open_port(c, *pool); });
  CHECK(msg.find("record 3") != std::string::npos);
  CHECK(msg.find("dataRoom: 3008") != std::string::npos);
  // With that data room it replays.
  auto big = make_pool(64, 3008);
  auto d = open_port(c, *big);
  CHECK(drain(*d, *big).size() == 4);
  CHECK(pool->available() == pool->size());
  CHECK(big->available() == big->size());
}

TEST_CASE("loop mode wraps around forever") {
  TempDir dir;
  auto pool = make_pool(128);
  const auto recs = sample(3);
  write_file(dir.file("l.pcap"), PcapBuilder().build(recs));
  auto d = open_port(cfg_of({{"rxFile", dir.file("l.pcap")}, {"mode", std::string("loop")}}), *pool);
  const auto got = drain(*d, *pool, 20, 4);
  REQUIRE(got.size() == 20);
  for (size_t i = 0; i < got.size(); i++) CHECK(got[i].data == recs[i % 3].data);
  CHECK(!d->rx_done());
  CHECK(xstat(*d, "loops") == 6);
  CHECK(xstat(*d, "delivered") == 20);
  CHECK(pool->available() == pool->size());
}

TEST_CASE("pace mode replays at the recorded gaps") {
  TempDir dir;
  auto pool = make_pool(64);
  const uint64_t t0 = 1600000000ull * 1000000000ull, gap = 150ull * 1000000;
  std::vector<Rec> recs = {{t0, frame(60, 1)}, {t0 + gap, frame(61, 2)}, {t0 + 2 * gap, frame(62, 3)}};
  write_file(dir.file("p.pcap"), PcapBuilder().build(recs));
  auto d = open_port(cfg_of({{"rxFile", dir.file("p.pcap")}, {"mode", std::string("pace")}}), *pool);
  lr::Mbuf* m[8];
  const uint64_t start = lr::monotonic_ns();
  CHECK(d->rx_burst(0, m, 8) == 1);  // only the first is due at once
  pool->free_bulk(pool->cache(0), m, 1);
  CHECK(d->rx_burst(0, m, 8) == 0);
  const auto rest = drain(*d, *pool);
  const uint64_t took = lr::monotonic_ns() - start;
  CHECK(rest.size() == 2);
  CHECK(took >= 2 * gap);
  CHECK(d->rx_done());
  CHECK(pool->available() == pool->size());
}

TEST_CASE("nombuf: a burst larger than the pool returns 0, not a crash") {
  TempDir dir;
  auto pool = make_pool(4);
  write_file(dir.file("n.pcap"), PcapBuilder().build(sample(40)));
  auto d = open_port(cfg_of({{"rxFile", dir.file("n.pcap")}}), *pool);
  lr::Mbuf* m[32];
  CHECK(d->rx_burst(0, m, 32) == 0);
  CHECK(xstat(*d, "delivered") == 0);
  CHECK(d->rx_burst(0, m, 4) == 4);  // what fits still comes, in order
  CHECK(m[0]->data_len == 60);
  pool->free_bulk(pool->cache(0), m, 4);
  CHECK(drain(*d, *pool, SIZE_MAX, 4).size() == 36);
  CHECK(pool->available() == pool->size());
}

TEST_CASE("write, then read back byte for byte") {
  TempDir dir;
  auto pool = make_pool(256);
  const std::string out = dir.file("out.pcap");
  const auto recs = sample(100);
  const uint64_t before = lr::realtime_ns();
  {
    auto d = open_port(cfg_of({{"txFile", out}}), *pool);
    CHECK(d->rx_done());  // a tx-only port has nothing to give
    for (size_t i = 0; i < recs.size(); i += 10) {
      lr::Mbuf* m[10];
      REQUIRE(pool->alloc_bulk(pool->cache(0), m, 10));
      for (size_t k = 0; k < 10; k++) {
        std::memcpy(m[k]->data(), recs[i + k].data.data(), recs[i + k].data.size());
        m[k]->data_len = uint16_t(recs[i + k].data.size());
      }
      CHECK(d->tx_burst(0, m, 10) == 10);
    }
    d->stop();  // the file is complete from here on
    CHECK(xstat(*d, "written") == 100);
    CHECK(xstat(*d, "writeErrors") == 0);
    uint64_t bytes = 0;
    for (auto& r : recs) bytes += r.data.size();
    CHECK(xstat(*d, "writtenBytes") == bytes);
    auto back = open_port(cfg_of({{"rxFile", out}}), *pool);
    const auto got = drain(*back, *pool);
    REQUIRE(got.size() == recs.size());
    for (size_t i = 0; i < recs.size(); i++) {
      CHECK(got[i].data == recs[i].data);
      CHECK(got[i].ts_ns >= before && got[i].ts_ns <= lr::realtime_ns());
    }
  }
  const Bytes file = read_file(out);
  REQUIRE(file.size() >= 24);
  uint32_t magic;
  std::memcpy(&magic, file.data(), 4);
  CHECK(magic == 0xa1b23c4d);
  CHECK(pool->available() == pool->size());
}

TEST_CASE("snaplen cuts written records; the original length is kept") {
  TempDir dir;
  auto pool = make_pool(64);
  const std::string out = dir.file("snap.pcap");
  auto d = open_port(cfg_of({{"txFile", out}, {"snaplen", 100.0}}), *pool);
  lr::Mbuf* m[1];
  REQUIRE(pool->alloc_bulk(pool->cache(0), m, 1));
  const Bytes f = frame(300, 5);
  std::memcpy(m[0]->data(), f.data(), f.size());
  m[0]->data_len = 300;
  CHECK(d->tx_burst(0, m, 1) == 1);
  d->close();
  const Bytes file = read_file(out);
  REQUIRE(file.size() == 24 + 16 + 100);
  uint32_t incl, orig;
  std::memcpy(&incl, &file[24 + 8], 4);
  std::memcpy(&orig, &file[24 + 12], 4);
  CHECK(incl == 100);
  CHECK(orig == 300);
  CHECK(Bytes(file.begin() + 40, file.end()) == Bytes(f.begin(), f.begin() + 100));
  CHECK(d->tx_burst(0, m, 0) == 0);
  CHECK(pool->available() == pool->size());
}

TEST_CASE("tx queues on several threads share one file without tearing records") {
  TempDir dir;
  auto pool = make_pool(1024, 2048, 2);
  const std::string out = dir.file("mt.pcap");
  auto d = open_port(cfg_of({{"txFile", out}}), *pool, 2);
  constexpr int kPerThread = 2000;
  auto run = [&](uint16_t q) {
    for (int i = 0; i < kPerThread; i += 16) {
      lr::Mbuf* m[16];
      // Bounded: a driver that leaked mbufs must fail this test, not hang it.
      const uint64_t deadline = lr::monotonic_ns() + 5000000000ull;
      bool got = false;
      while (!(got = pool->alloc_bulk(pool->cache(q), m, 16)) && lr::monotonic_ns() < deadline) std::this_thread::yield();
      if (!got) {
        CHECK(!"mempool ran dry: the tx path is not freeing mbufs");
        return;
      }
      for (int k = 0; k < 16; k++) {
        const uint32_t id = uint32_t(q) << 16 | uint32_t(i + k);
        const Bytes f = frame(60 + (i + k) % 200, uint8_t(id));
        std::memcpy(m[k]->data(), f.data(), f.size());
        std::memcpy(m[k]->data(), &id, 4);
        m[k]->data_len = uint16_t(f.size());
      }
      CHECK(d->tx_burst(q, m, 16) == 16);
    }
  };
  std::thread a(run, 0), b(run, 1);
  a.join();
  b.join();
  d->stop();
  auto back = open_port(cfg_of({{"rxFile", out}}), *pool);
  const auto got = drain(*back, *pool);
  REQUIRE(got.size() == 2 * kPerThread);
  std::set<uint32_t> ids;
  uint32_t last[2] = {0, 0};
  bool ordered = true;
  for (auto& r : got) {
    uint32_t id;
    std::memcpy(&id, r.data.data(), 4);
    const uint32_t q = id >> 16, i = id & 0xffff;
    CHECK(r.data.size() == 60 + i % 200);
    if (i && i < last[q]) ordered = false;
    last[q] = i;
    ids.insert(id);
  }
  CHECK(ids.size() == 2 * kPerThread);
  CHECK(ordered);
  back->close();
  d->close();
  pool->flush_caches();
  CHECK(pool->available() == pool->size());
}

TEST_CASE("options and files: INVALID_OPTION, UNKNOWN_OPTION, FILE_OPEN") {
  TempDir dir;
  auto pool = make_pool(64);
  write_file(dir.file("ok.pcap"), PcapBuilder().build(sample(2)));
  CHECK_THROWS_CODE(open_port(cfg_of({}), *pool), "INVALID_OPTION");
  CHECK_THROWS_CODE(open_port(cfg_of({{"rxFile", dir.file("ok.pcap")}, {"speed", 1.0}}), *pool), "UNKNOWN_OPTION");
  CHECK_THROWS_CODE(open_port(cfg_of({{"rxFile", dir.file("ok.pcap")}, {"mode", std::string("fast")}}), *pool),
                    "INVALID_OPTION");
  CHECK_THROWS_CODE(open_port(cfg_of({{"rxFile", dir.file("missing.pcap")}}), *pool), "FILE_OPEN");
  CHECK_THROWS_CODE(open_port(cfg_of({{"rxFile", dir.path}}), *pool), "FILE_OPEN");
  CHECK_THROWS_CODE(open_port(cfg_of({{"txFile", dir.file("no/such/dir.pcap")}}), *pool), "FILE_OPEN");
  // The same file under two spellings: writing would destroy the capture.
  CHECK_THROWS_CODE(open_port(cfg_of({{"rxFile", dir.file("ok.pcap")}, {"txFile", dir.path + "/./ok.pcap"}}), *pool),
                    "INVALID_OPTION");
  CHECK(read_file(dir.file("ok.pcap")).size() > 24);
  // rxQueues is accepted; the port still has one rx queue.
  auto d = open_port(cfg_of({{"rxFile", dir.file("ok.pcap")}, {"rxQueues", 4.0}}), *pool);
  CHECK(d->info().max_rx_queues == 1);
  // An rx-only port accepts nothing for tx: the caller keeps (and counts) it.
  lr::Mbuf* m[2];
  REQUIRE(pool->alloc_bulk(pool->cache(0), m, 2));
  CHECK(d->tx_burst(0, m, 2) == 0);
  pool->free_bulk(pool->cache(0), m, 2);
  CHECK(pool->available() == pool->size());
}

TEST_CASE("tshark reads what the writer wrote (skipped without tshark)") {
  if (std::system("command -v tshark >/dev/null 2>&1") != 0) {
    std::printf("     (tshark not installed: skipped)\n");
    return;
  }
  TempDir dir;
  auto pool = make_pool(64);
  const std::string out = dir.file("ts.pcap");
  auto d = open_port(cfg_of({{"txFile", out}}), *pool);
  lr::Mbuf* m[7];
  REQUIRE(pool->alloc_bulk(pool->cache(0), m, 7));
  const auto recs = sample(7);
  for (int i = 0; i < 7; i++) {
    std::memcpy(m[i]->data(), recs[i].data.data(), recs[i].data.size());
    m[i]->data_len = uint16_t(recs[i].data.size());
  }
  CHECK(d->tx_burst(0, m, 7) == 7);
  d->stop();
  const std::string lens = dir.file("lens.txt");
  const std::string cmd = "tshark -r '" + out + "' -T fields -e frame.len > '" + lens + "' 2>/dev/null";
  CHECK(std::system(cmd.c_str()) == 0);
  std::ifstream f(lens);
  std::vector<uint32_t> got;
  for (uint32_t v; f >> v;) got.push_back(v);
  REQUIRE(got.size() == 7);
  for (int i = 0; i < 7; i++) CHECK(got[i] == recs[i].data.size());
  CHECK(pool->available() == pool->size());
}

TEST_MAIN()
