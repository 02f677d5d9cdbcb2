// libFuzzer target: the host layer's receive path (pipeline/host/host_input.cc)
// — Ethernet/802.1Q, ARP, IPv4, IPv6, ICMP echo, neighbour discovery, UDP and
// the ICMP errors it builds — on a HostStage over a guarded pool and sink ports
// (fuzz_bed.h), no engine.
//
// Input: one byte of host configuration (host_bed.h; bit 5: an exception path;
// bit 7: fix the frames' checksums, host_bed.h fix_checksums), then up to kFrames frames, each a
// 2-byte big-endian length and that many bytes (the last may be short), given
// to the stage as one burst, so the neighbour table's state carries across them.
// Checked after each input: no access outside an mbuf's slot (ASan, poisoned
// neighbours), every frame sent lies in its slot and has our source MAC and a
// valid IPv4 header checksum, and every mbuf is back in the pool.
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_bed.h"
#include "host_bed.h"
#include "pipeline/host/host.h"
#include "pipeline/host/host_stage.h"

namespace {
constexpr int kFrames = 8;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t bits = data[0];
  data++;
  size--;
  fuzz::HostBed& bed = fuzz::host_bed();
  lr::Mempool& pool = bed.pool.pool();
  lr::host::Host& host = bed.host(bits);
  {
    // bit 5: the port has an exception path to the kernel (what is not ours goes there).
    std::unique_ptr<lr::TxBuffer> to_kernel;
    if (bits & 32) to_kernel = std::make_unique<lr::TxBuffer>(bed.kport.get(), 0, &pool, nullptr, 32);
    lr::host::HostStage stage(&host, lr::TxBuffer(bed.port.get(), 0, &pool, nullptr, 32), std::move(to_kernel),
                              std::vector<lr::host::SocketSink>(2), &pool, nullptr, 0);
    lr::Mbuf* burst[kFrames];
    uint16_t n = 0;
    while (size >= 2 && n < kFrames) {
      size_t len = size_t(data[0]) << 8 | data[1];
      data += 2;
      size -= 2;
      if (len > size) len = size;
      burst[n] = bed.pool.rx(data, len);
      if (bits & 128) fuzz::fix_checksums(burst[n]->data(), burst[n]->data_len);
      n++;
      data += len;
      size -= len;
    }
    stage.process(burst, n);
    stage.flush();
    bed.release_held(host);
    stage.drain();
  }
  for (auto& f : bed.wire->sent) FUZZ_ASSERT(std::memcmp(f.data() + 6, fuzz::kHostMac.data(), 6) == 0);
  fuzz::check_ipv4_headers(bed.wire->sent);
  bed.pool.check_whole();
  return 0;
}
