// libFuzzer target: the bytes a NIC hands back on receive, for the two vfio
// drivers (issue 14: "the VFIO drivers' descriptor handling where a device's
// bytes are read"). A device that misbehaves, or a guest's emulated one that is
// hostile, controls them, so neither driver may trust any of it:
//  - virtio-net (drivers/virtio_net/rx_used.h): the used element's length and
//    the virtio_net_hdr in front of the frame (flags, csum_start/csum_offset
//    of a partial checksum, the hash report);
//  - e1000e (drivers/e1000e/rx_writeback.h): the written-back descriptor's
//    status and error bits, length, MRQ and RSS hash, across a run of
//    descriptors (a frame spanning several is dropped whole).
//
// Input: byte 0 bit 0 the driver (0 virtio-net, 1 e1000e), bit 1 virtio's
// header size (20 with F_HASH_REPORT, else 12); then records:
//  virtio:  u16 used length, 20 header bytes, u8 frame length, frame bytes
//  e1000e:  u32 status/errors, u16 length, u8 MRQ, u32 hash, u8 frame length, frame bytes
// Checked: no access outside the mbuf's slot (ASan; every byte of a packet
// handed on is read), a packet handed on lies in its slot, a finished partial
// checksum verifies, and every mbuf comes back to the pool.
#include <cstring>

#include "drivers/e1000e/rx_writeback.h"
#include "drivers/virtio_net/rx_used.h"
#include "fuzz_bed.h"

namespace {

struct Reader {
  const uint8_t* p;
  size_t n;
  bool take(void* out, size_t k) {
    if (n < k) return false;
    std::memcpy(out, p, k);
    p += k;
    n -= k;
    return true;
  }
};

fuzz::GuardedPool& pool() {
  static fuzz::GuardedPool p;
  return p;
}

// Reads the whole packet (ASan sees any byte outside the slot) and checks it lies in its slot.
void consume(lr::Mempool& mp, lr::Mbuf* m) {
  FUZZ_ASSERT(uint32_t(m->data_off) + m->data_len <= mp.slot_size());
  volatile uint8_t sink = 0;
  for (uint32_t i = 0; i < m->data_len; i++) sink = sink ^ m->data()[i];
  (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  fuzz::GuardedPool& gp = pool();
  lr::Mempool& mp = gp.pool();
  const bool e1000e = data[0] & 1;
  const uint32_t hdr = (data[0] & 2) ? lr::virtio::kNetHdrHashSize : lr::virtio::kNetHdrSize;
  const uint32_t room = mp.data_room();
  // As e1000e's constructor picks RCTL.BSIZE: the largest of 2048/1024/512/256 that fits.
  const uint32_t bsize = room >= 2048 ? 2048 : room >= 1024 ? 1024 : room >= 512 ? 512 : 256;
  Reader r{data + 1, size - 1};
  bool discarding = false;
  for (int rec = 0; rec < 8; rec++) {
    uint8_t frame[255];
    uint8_t flen = 0;
    if (!e1000e) {
      uint16_t used_len;
      uint8_t h[20];
      if (!r.take(&used_len, 2) || !r.take(h, 20) || !r.take(&flen, 1)) break;
      flen = uint8_t(std::min<size_t>(flen, r.n));
      r.take(frame, flen);
      lr::Mbuf* m = gp.rx(frame, flen);
      std::memcpy(m->data() - hdr, h, hdr);  // the device writes the header into the buffer before the frame
      // The field as the device left it: the pseudo-header's sum (virtio 1.2 section 5.1.6.4.1).
      const auto* nh = reinterpret_cast<const lr::virtio::NetHdr*>(m->data() - hdr);
      const uint32_t start = nh->csum_start, field = start + nh->csum_offset;
      const uint32_t pseudo = field + 2 <= room ? uint32_t(m->data()[field] << 8 | m->data()[field + 1]) : 0;
      lr::virtio::RxCsum csum;
      if (lr::virtio::rx_used(m, used_len, hdr, room, 0, 0, &csum)) {
        consume(mp, m);
        if (csum == lr::virtio::RxCsum::Finished) {
          // The finished field completes the checksum: the pseudo-header's sum
          // plus everything from csum_start to the end sums to all ones.
          FUZZ_ASSERT(field + 2 <= m->data_len && nh->csum_offset % 2 == 0);
          FUZZ_ASSERT(lr::net::csum_fold(lr::net::csum_partial(m->data() + start, m->data_len - start, pseudo)) == 0xffff);
        }
      }
      mp.free_one(nullptr, m);
    } else {
      uint32_t status, hash;
      uint16_t len;
      uint8_t mrq;
      if (!r.take(&status, 4) || !r.take(&len, 2) || !r.take(&mrq, 1) || !r.take(&hash, 4) || !r.take(&flen, 1)) break;
      flen = uint8_t(std::min<size_t>(flen, r.n));
      r.take(frame, flen);
      lr::Mbuf* m = gp.rx(frame, flen);
      if (lr::e1000e::rx_writeback(m, status, len, mrq, hash, bsize, 0, 0, &discarding)) consume(mp, m);
      mp.free_one(nullptr, m);
    }
  }
  gp.check_whole();
  return 0;
}
