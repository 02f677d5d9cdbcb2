// What the host layer's C++ tests share: a heap-memory pool and the host's
// configuration (198.18.0.1/24 and fd00:198:18::1/64, the benchmark ranges).
#pragma once
#include <cstdint>
#include <cstring>

#include "core/mempool.h"
#include "pipeline/host/host.h"

namespace host_test {

inline lr::MempoolOptions pool_opts(uint32_t mbufs) {
  lr::MempoolOptions o;
  o.mbufs = mbufs;
  o.cache_size = 0;
  o.caches = 0;
  o.region.hugepages = lr::HugepagePolicy::Off;
  return o;
}

inline lr::host::HostConfig config() {
  lr::host::HostConfig c;
  c.has4 = c.has6 = true;
  const uint8_t ip4[4] = {198, 18, 0, 1};
  const uint8_t ip6[16] = {0xfd, 0, 0x01, 0x98, 0, 0x18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::memcpy(c.ip4, ip4, 4);
  c.prefix4 = 24;
  std::memcpy(c.ip6, ip6, 16);
  c.prefix6 = 64;
  c.neigh.capacity = 16;
  return c;
}

}  // namespace host_test
