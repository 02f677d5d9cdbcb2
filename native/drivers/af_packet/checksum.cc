#include "drivers/af_packet/checksum.h"

#include "core/net.h"

namespace lr::afp {

namespace {
inline uint16_t be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
}  // namespace

bool complete_l4_checksum(uint8_t* d, uint32_t len) {
  using namespace net;
  if (len < 14) return false;
  uint32_t off = 14;
  uint16_t type = be16(d + 12);
  if (type == kEtherTypeVlan) {
    if (len < 18) return false;
    type = be16(d + 16);
    off = 18;
  }
  uint32_t sum = 0, l4off = 0, l4len = 0;
  uint8_t proto = 0;
  if (type == kEtherTypeIPv4) {
    if (len < off + 20 || (d[off] >> 4) != 4) return false;
    const uint32_t ihl = uint32_t(d[off] & 0xf) * 4;
    const uint32_t total = be16(d + off + 2);
    if (ihl < 20 || total < ihl || off + total > len) return false;
    if (be16(d + off + 6) & 0x3fff) return false;  // a fragment: no whole L4 segment here
    proto = d[off + 9];
    l4off = off + ihl;
    l4len = total - ihl;
    sum = csum_partial(d + off + 12, 8);  // source and destination address
  } else if (type == kEtherTypeIPv6) {
    if (len < off + 40 || (d[off] >> 4) != 6) return false;
    proto = d[off + 6];  // extension headers are not walked
    l4off = off + 40;
    l4len = be16(d + off + 4);
    if (l4off + l4len > len) return false;
    sum = csum_partial(d + off + 8, 32);
  } else {
    return false;
  }
  uint32_t field;
  if (proto == kProtoUdp) field = 6;
  else if (proto == kProtoTcp) field = 16;
  else return false;
  if (l4len < field + 2) return false;
  sum += proto + (l4len >> 16) + (l4len & 0xffff);
  // The field is summed as zero, the pseudo-header comes in as the seed; a
  // computed 0 is written as 0xffff (net.h, l4_csum_value: RFC 768).
  d[l4off + field] = 0;
  d[l4off + field + 1] = 0;
  finish_l4_csum(d + l4off, l4len, field, sum);
  return true;
}

}  // namespace lr::afp
