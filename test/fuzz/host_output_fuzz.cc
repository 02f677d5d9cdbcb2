// libFuzzer target: the host's finishing of what a JS handler wrote
// (pipeline/host/host_output.cc HostOut::reply and HostOut::send). JS can write
// the whole mbuf header, so the fuzzer controls the HostMeta bytes 44..47
// (family, l3_off, socket), data_len and data_off, and the packet bytes.
//
// Input: byte 0 host configuration (host_bed.h), byte 1 the call
// (even: reply, odd: send), bytes 2..5 header bytes 44..47, bytes 6..7
// data_len, byte 8 data_off (added to the default), then the packet bytes.
// Checked: no access outside the slot (ASan), what is sent lies in its slot
// with a valid IPv4 header checksum, and every mbuf comes back to the pool.
#include <cstring>
#include <memory>
#include <vector>

#include "fuzz_bed.h"
#include "host_bed.h"
#include "pipeline/host/host.h"
#include "pipeline/host/host_output.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  fuzz::HostBed& bed = fuzz::host_bed();
  lr::Mempool& pool = bed.pool.pool();
  lr::host::Host& host = bed.host(data[0]);
  {
    lr::TxBuffer tx(bed.port.get(), 0, &pool, nullptr, 32);
    lr::host::HostOut out(&host, &tx, &pool, nullptr, 0);
    lr::Mbuf* m = bed.pool.rx(data + 9, size - 9);
    std::memcpy(reinterpret_cast<uint8_t*>(m) + lr::host::kHostMetaOffset, data + 2, 4);
    m->flags |= lr::host::kMbufHostDatagram;
    m->data_len = uint16_t(data[6] << 8 | data[7]);
    m->data_off = uint16_t(m->data_off + data[8]);
    if (data[1] & 1) out.send(m);
    else out.reply(m);
    tx.flush();
    bed.release_held(host);
  }
  fuzz::check_ipv4_headers(bed.wire->sent);
  bed.pool.check_whole();
  return 0;
}
