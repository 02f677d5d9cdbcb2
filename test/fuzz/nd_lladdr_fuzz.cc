// libFuzzer target: core/net_arp_icmp.cc nd_find_lladdr, the walk over an ND
// message's options (RFC 4861 section 4.6). Input: the option type wanted, then
// the options, copied into a buffer of exactly that size so ASan sees any read
// past it. A found address lies wholly inside the options.
#include <cstring>
#include <memory>

#include "core/net_arp_icmp.h"
#include "fuzz_bed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t type = data[0];
  const size_t len = size - 1;
  std::unique_ptr<uint8_t[]> opts(new uint8_t[len ? len : 1]);
  if (len) std::memcpy(opts.get(), data + 1, len);
  bool bad = true;
  const uint8_t* ll = lr::net::nd_find_lladdr(opts.get(), len, type, &bad);
  if (ll) {
    FUZZ_ASSERT(!bad);
    FUZZ_ASSERT(ll >= opts.get() + 2 && ll + 6 <= opts.get() + len);
    FUZZ_ASSERT(ll[-2] == type && ll[-1] == 1);
  }
  return 0;
}
