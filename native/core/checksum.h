// The Internet checksum's core (RFC 1071): a one's-complement sum of 16-bit
// words, accumulated here in the machine's byte order with deferred carries.
//
// Why this shape: the host layer sums every UDP datagram twice (the check on
// input, the reply's checksum on output) and every IPv4 header twice, so these
// sums were a third of its cost per packet (perf on bench/udp's null run). The
// old csum_partial folded and byte-swapped at the end of every call, and a UDP
// checksum took three calls (pseudo-header, header copy, payload). Here the
// pieces add into one 64-bit accumulator, inline, and fold once.
//
// Facts relied on (RFC 1071 section 2):
//  (A) the sum is commutative and associative, so 32-bit words may be added
//      as two 16-bit halves at once and halves folded later;
//  (B) it is independent of byte order: summing machine-order words and folding
//      gives the byte-swapped sum, which stored as it is (no swap) puts the
//      right bytes on the wire; constants (protocol, length) are added
//      byte-swapped the same way (htons);
//  (C) carries may be deferred: 32-bit words into a 64-bit accumulator cannot
//      overflow below 2^32 additions, and the fold adds them back.
// Every piece must start at an even offset of the summed message (true of the
// pseudo-header, the L3 and L4 headers and the payload after them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lr::net {

// Adds [data, data + len) to acc as 32-bit machine-order words; an odd last
// byte is padded with a zero byte after it (RFC 1071 section 4.1). Always
// inlined: GCC kept it out of line in the host's receive fast path and reply,
// and inlining it there saved ~7 cycles a datagram (bench/udp's null run).
[[gnu::always_inline]] inline uint64_t csum_acc(const void* data, size_t len, uint64_t acc = 0) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  // Two accumulators, so the adds of consecutive words do not wait on each other.
  uint64_t acc2 = 0;
  while (len >= 16) {
    uint64_t a, b;
    std::memcpy(&a, p, 8);
    std::memcpy(&b, p + 8, 8);
    acc += (a & 0xffffffffu) + (a >> 32);
    acc2 += (b & 0xffffffffu) + (b >> 32);
    p += 16;
    len -= 16;
  }
  acc += acc2;
  if (len & 8) {
    uint64_t a;
    std::memcpy(&a, p, 8);
    acc += (a & 0xffffffffu) + (a >> 32);
    p += 8;
  }
  if (len & 4) {
    uint32_t a;
    std::memcpy(&a, p, 4);
    acc += a;
    p += 4;
  }
  if (len & 2) {
    uint16_t a;
    std::memcpy(&a, p, 2);
    acc += a;
    p += 2;
  }
  if (len & 1) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    acc += p[0];  // the word [p0, 0] read in little-endian order
#else
    acc += uint32_t(p[0]) << 8;
#endif
  }
  return acc;
}

// Adds a 16-bit value given in host order (a protocol number, a length) as the
// big-endian word the wire carries.
inline uint64_t csum_acc_u16(uint16_t host_value, uint64_t acc) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return acc + __builtin_bswap16(host_value);
#else
  return acc + host_value;
#endif
}

// Folds the accumulator to 16 bits in machine order: the value to compare
// with 0xffff (a message that includes its checksum sums to all ones, RFC
// 1071 section 1), or to complement and store as it is.
//
// Each step adds the value to itself rotated by half its width: the high half
// of that sum is high + low with the carry out of the low half added back (the
// end-around carry, RFC 1071 section 2 (C)), in one add where adding halves and
// folding the carry took three dependent ones. This is on every datagram's
// path four times (two checks on input, two checksums on a reply).
// test/native/checksum_test compares it with the step-by-step fold.
inline uint16_t csum_acc_fold(uint64_t acc) {
  const uint64_t t = acc + (acc >> 32 | acc << 32);  // high 32 bits: the 32-bit sum
  const uint32_t s = uint32_t(t >> 32);
  const uint32_t u = s + (s >> 16 | s << 16);  // high 16 bits: the 16-bit sum
  return uint16_t(u >> 16);
}

// The same sum as a host-order number (the big-endian sum), for callers that
// add further host-order values or compare with host-order constants.
inline uint16_t csum_acc_fold_host(uint64_t acc) {
  const uint16_t s = csum_acc_fold(acc);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return __builtin_bswap16(s);
#else
  return s;
#endif
}

}  // namespace lr::net
