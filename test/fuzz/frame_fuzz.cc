// libFuzzer target: the frame classification behind a handler's match
// (pipeline/match.cc), echo's rewrite (pipeline/echo.cc) and RSS's tuple
// extraction (pipeline/toeplitz.cc rss_input), on one received frame in a
// guarded mbuf (fuzz_bed.h). Input: 9 bytes choosing the match, then the frame.
// Besides memory safety it checks:
//  - rss_input writes at most Toeplitz::kMaxInput bytes, and the table hash of
//    it equals the bit-by-bit definition;
//  - echo is an involution: a frame echoed twice (both Ok) is the frame again.
#include <cstring>
#include <vector>

#include "fuzz_bed.h"
#include "pipeline/echo.h"
#include "pipeline/match.h"
#include "pipeline/toeplitz.h"

namespace {
fuzz::GuardedPool& bed() {
  static fuzz::GuardedPool b;
  return b;
}
const lr::Toeplitz& toeplitz() {
  static lr::Toeplitz t(std::vector<uint8_t>(lr::Toeplitz::kDefaultKey, lr::Toeplitz::kDefaultKey + lr::Toeplitz::kKeyLen));
  return t;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  const uint8_t pick = data[0];
  lr::Match match;
  const uint16_t v16 = uint16_t(data[1] << 8 | data[2]);
  if (pick & 1) match.ethertype = data[3] & 1 ? 0x86dd : (data[3] & 2 ? 0x0806 : 0x0800);
  if (pick & 2) match.ip_proto = data[4];
  if (pick & 4) match.udp_dst_port = v16;
  if (pick & 8) match.tcp_dst_port = uint16_t(data[5] << 8 | data[6]);
  if (pick & 16) match.dst_port = uint16_t(data[7] << 8 | data[8]);
  data += 9;
  size -= 9;

  lr::Mempool& pool = bed().pool();
  lr::Mbuf* m = bed().rx(data, size);
  const uint32_t len = m->data_len;
  (void)match(m);

  uint8_t in[lr::Toeplitz::kMaxInput + 8];
  std::memset(in, 0xa5, sizeof in);
  for (bool sym : {false, true}) {
    const size_t n = lr::rss_input(m, sym, in);
    FUZZ_ASSERT(n <= lr::Toeplitz::kMaxInput);
    for (size_t i = lr::Toeplitz::kMaxInput; i < sizeof in; i++) FUZZ_ASSERT(in[i] == 0xa5);
    FUZZ_ASSERT(toeplitz().hash(in, n) ==
                lr::Toeplitz::hash_reference(lr::Toeplitz::kDefaultKey, lr::Toeplitz::kKeyLen, in, n));
  }

  const std::vector<uint8_t> before(m->data(), m->data() + len);
  if (lr::echo_rewrite(m->data(), len) == lr::EchoResult::Ok && lr::echo_rewrite(m->data(), len) == lr::EchoResult::Ok)
    FUZZ_ASSERT(std::memcmp(before.data(), m->data(), len) == 0);
  FUZZ_ASSERT(m->data_len == len);

  pool.free_one(nullptr, m);
  bed().check_whole();
  return 0;
}
