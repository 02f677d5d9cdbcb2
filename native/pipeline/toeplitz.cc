#include "pipeline/toeplitz.h"

#include <cstring>

#include "core/error.h"
#include "core/net.h"

namespace lr {

const uint8_t Toeplitz::kDefaultKey[kKeyLen] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

namespace {
// 32 key bits starting at bit position `bit` (0 = MSB of key[0]).
uint32_t key_window(const uint8_t* key, size_t key_len, size_t bit) {
  uint32_t w = 0;
  for (size_t i = 0; i < 32; i++) {
    const size_t b = bit + i;
    const uint32_t v = b / 8 < key_len ? (key[b / 8] >> (7 - b % 8)) & 1 : 0;
    w = (w << 1) | v;
  }
  return w;
}
}  // namespace

uint32_t Toeplitz::hash_reference(const uint8_t* key, size_t key_len, const uint8_t* in, size_t len) {
  uint32_t h = 0;
  for (size_t i = 0; i < len * 8; i++)
    if ((in[i / 8] >> (7 - i % 8)) & 1) h ^= key_window(key, key_len, i);
  return h;
}

Toeplitz::Toeplitz(const std::vector<uint8_t>& key) : table_(kMaxInput * 256) {
  if (key.size() < kMaxInput + 4)
    fail("INVALID_OPTION", "rss.key must be at least " + std::to_string(kMaxInput + 4) + " bytes (40 is standard)");
  for (size_t pos = 0; pos < kMaxInput; pos++) {
    uint32_t bitw[8];
    for (int b = 0; b < 8; b++) bitw[b] = key_window(key.data(), key.size(), pos * 8 + b);
    for (uint32_t v = 0; v < 256; v++) {
      uint32_t h = 0;
      for (int b = 0; b < 8; b++)
        if (v & (0x80 >> b)) h ^= bitw[b];
      table_[pos * 256 + v] = h;
    }
  }
}

uint32_t Toeplitz::hash(const uint8_t* in, size_t len) const {
  uint32_t h = 0;
  for (size_t i = 0; i < len; i++) h ^= table_[i * 256 + in[i]];
  return h;
}

size_t rss_input(const Mbuf* m, bool symmetric, uint8_t out[Toeplitz::kMaxInput]) {
  using namespace net;
  const uint8_t* d = m->data();
  const uint32_t len = m->data_len;
  if (len < sizeof(EthHdr)) return 0;
  uint32_t off = 12;
  uint16_t type = uint16_t(d[off] << 8 | d[off + 1]);
  off += 2;
  if (type == kEtherTypeVlan && len >= off + 4) {
    type = uint16_t(d[off + 2] << 8 | d[off + 3]);
    off += 4;
  }
  size_t alen = 0;
  const uint8_t *src = nullptr, *dst = nullptr, *ports = nullptr;
  if (type == kEtherTypeIPv4 && len >= off + sizeof(Ipv4Hdr)) {
    auto* ip = reinterpret_cast<const Ipv4Hdr*>(d + off);
    const uint32_t ihl = uint32_t(ip->ver_ihl & 0xf) * 4;
    if (ihl < 20 || len < off + ihl) return 0;
    alen = 4;
    src = ip->src;
    dst = ip->dst;
    const bool first_frag = (ntohs(ip->frag) & 0x3fff) == 0;
    if (first_frag && (ip->proto == kProtoUdp || ip->proto == kProtoTcp) && len >= off + ihl + 4) ports = d + off + ihl;
  } else if (type == kEtherTypeIPv6 && len >= off + sizeof(Ipv6Hdr)) {
    auto* ip = reinterpret_cast<const Ipv6Hdr*>(d + off);
    alen = 16;
    src = ip->src;
    dst = ip->dst;
    if ((ip->next == kProtoUdp || ip->next == kProtoTcp) && len >= off + sizeof(Ipv6Hdr) + 4) ports = d + off + sizeof(Ipv6Hdr);
  } else {
    return 0;
  }
  const uint8_t* sp = ports;
  const uint8_t* dp = ports ? ports + 2 : nullptr;
  if (symmetric) {
    // Order the endpoints (address, then port) so that a->b and b->a give the same input.
    int c = std::memcmp(src, dst, alen);
    if (c == 0 && ports) c = std::memcmp(sp, dp, 2);
    if (c > 0) {
      std::swap(src, dst);
      std::swap(sp, dp);
    }
  }
  std::memcpy(out, src, alen);
  std::memcpy(out + alen, dst, alen);
  size_t n = 2 * alen;
  if (ports) {
    std::memcpy(out + n, sp, 2);
    std::memcpy(out + n + 2, dp, 2);
    n += 4;
  }
  return n;
}

}  // namespace lr
