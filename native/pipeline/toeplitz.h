// The Toeplitz hash used for receive-side scaling (Microsoft RSS specification,
// "Verifying the RSS Hash Calculation"; Intel 82599 datasheet section 7.1.2.8.1):
// for every set bit i of the input (most significant bit of byte 0 first), XOR
// into the result the 32 bits of the key starting at bit i.
//
// We precompute, for each input byte position and byte value, the XOR of the key
// windows its set bits select, so hashing is one table lookup per input byte.
#pragma once
#include <cstdint>
#include <vector>

#include "core/mbuf.h"

namespace lr {

class Toeplitz {
 public:
  static constexpr size_t kMaxInput = 36;  // IPv6 addresses (32) + ports (4)
  static constexpr size_t kKeyLen = 40;

  // The key of the Microsoft RSS specification, used by most NICs by default.
  static const uint8_t kDefaultKey[kKeyLen];

  explicit Toeplitz(const std::vector<uint8_t>& key);
  uint32_t hash(const uint8_t* input, size_t len) const;
  // Straight bit-by-bit definition, for tests.
  static uint32_t hash_reference(const uint8_t* key, size_t key_len, const uint8_t* input, size_t len);

 private:
  std::vector<uint32_t> table_;  // [kMaxInput][256]
};

// Hash input of a packet: IPv4/IPv6 source and destination addresses, then UDP
// or TCP source and destination ports when the packet carries them (not a later
// fragment). Non-IP packets give len 0 (hash 0: queue 0). With symmetric, the two
// endpoints are put in a fixed order first, so both directions of a flow hash
// alike (and land on the same lcore).
size_t rss_input(const Mbuf* m, bool symmetric, uint8_t out[Toeplitz::kMaxInput]);

}  // namespace lr
