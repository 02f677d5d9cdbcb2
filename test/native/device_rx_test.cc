// Regressions from device_rx_fuzz (test/fuzz/device_rx_fuzz.cc): what the vfio
// drivers take from a device's receive bytes.
#include <cstring>
#include <vector>

#include "check.h"
#include "drivers/e1000e/rx_writeback.h"
#include "drivers/virtio_net/rx_csum.h"

using namespace lr;

// A written-back length beyond the buffer the descriptor was armed with (or 0)
// made data_len reach past the mbuf's slot into the next one: now an error.
TEST_CASE("e1000e write-back: a length of 0 or beyond BSIZE is dropped, not handed on") {
  alignas(64) uint8_t slot[64 + 2048] = {};
  auto* m = reinterpret_cast<Mbuf*>(slot);
  m->data_off = 64;
  const uint32_t dd_eop = e1000e::RXD_STAT_DD | e1000e::RXD_STAT_EOP;
  bool discarding = false;
  CHECK(!e1000e::rx_writeback(m, dd_eop, 2049, 0, 0, 2048, 0, 0, &discarding));
  CHECK(!e1000e::rx_writeback(m, dd_eop, 0, 0, 0, 2048, 0, 0, &discarding));
  CHECK(!e1000e::rx_writeback(m, dd_eop, 1025, 0, 0, 1024, 0, 0, &discarding));
  CHECK(e1000e::rx_writeback(m, dd_eop, 2048, 1, 0xabcd, 2048, 3, 1, &discarding));
  CHECK(m->data_len == 2048 && m->port == 3 && m->queue == 1 && m->rss_hash == 0xabcd && (m->flags & kMbufRssValid));
  // A frame spanning descriptors: every part up to its EOP is dropped.
  CHECK(!e1000e::rx_writeback(m, e1000e::RXD_STAT_DD, 2048, 0, 0, 2048, 0, 0, &discarding));
  CHECK(discarding);
  CHECK(!e1000e::rx_writeback(m, dd_eop, 100, 0, 0, 2048, 0, 0, &discarding));
  CHECK(!discarding);
  CHECK(e1000e::rx_writeback(m, dd_eop, 60, 0, 0, 2048, 0, 0, &discarding));
}

// A partial checksum whose field is at an odd offset from csum_start would be
// stored across two 16-bit words and never verify: left as it is.
TEST_CASE("virtio NEEDS_CSUM: an odd csum_offset leaves the frame untouched") {
  std::vector<uint8_t> f(60);
  for (size_t i = 0; i < f.size(); i++) f[i] = uint8_t(i);
  const std::vector<uint8_t> before = f;
  CHECK(!virtio::finish_needs_csum(f.data(), uint32_t(f.size()), 34, 7));
  CHECK(f == before);
  CHECK(virtio::finish_needs_csum(f.data(), uint32_t(f.size()), 34, 6));
  CHECK(f != before);
}

TEST_MAIN()
