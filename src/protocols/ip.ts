/**
 * IPv4 (RFC 791) and IPv6 (RFC 8200) header reads and the Internet checksum
 * (RFC 1071), in place, allocation-free. `ip` is the offset of the IP header
 * (see l3Offset); addresses of IPv4 come back as unsigned 32-bit numbers.
 */

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_ICMPV6 = 58;

/** 4, 6, or another value for a non-IP header. */
export function ipVersion(b: Uint8Array, ip: number): number {
  return b[ip] >> 4;
}

/** IPv4 header length in bytes (IHL × 4). */
export function ipv4HeaderLength(b: Uint8Array, ip: number): number {
  return (b[ip] & 0x0f) * 4;
}

/** IPv4 source address as an unsigned 32-bit number (198.18.0.1 is 0xc6120001). */
export function ipv4Src(b: Uint8Array, ip: number): number {
  return ((b[ip + 12] << 24) | (b[ip + 13] << 16) | (b[ip + 14] << 8) | b[ip + 15]) >>> 0;
}

/** IPv4 destination address as an unsigned 32-bit number. */
export function ipv4Dst(b: Uint8Array, ip: number): number {
  return ((b[ip + 16] << 24) | (b[ip + 17] << 16) | (b[ip + 18] << 8) | b[ip + 19]) >>> 0;
}

/** True for a fragment other than the first (its offset is non-zero): it carries no L4 header. */
export function ipv4IsLaterFragment(b: Uint8Array, ip: number): boolean {
  return (((b[ip + 6] & 0x1f) << 8) | b[ip + 7]) !== 0;
}

/** IP protocol (IPv4) or next header (IPv6; extension headers are not walked). */
export function ipProto(b: Uint8Array, ip: number): number {
  return ipVersion(b, ip) === 6 ? b[ip + 6] : b[ip + 9];
}

/** Offset of the L4 header (IPv4: after options; IPv6: after the fixed 40 bytes). */
export function l4Offset(b: Uint8Array, ip: number): number {
  return ipVersion(b, ip) === 6 ? ip + 40 : ip + ipv4HeaderLength(b, ip);
}

/** Swaps IPv4 or IPv6 source and destination addresses in place (checksums stay valid: RFC 1071 sums commute). */
export function swapIpAddresses(b: Uint8Array, ip: number): void {
  const v6 = ipVersion(b, ip) === 6;
  const src = v6 ? ip + 8 : ip + 12;
  const n = v6 ? 16 : 4;
  for (let k = 0; k < n; k++) {
    const t = b[src + k];
    b[src + k] = b[src + n + k];
    b[src + n + k] = t;
  }
}

/** One's-complement sum of b[start, start+len) as 16-bit big-endian words, folded, not inverted. */
export function onesComplementSum(b: Uint8Array, start: number, len: number, sum = 0): number {
  let i = start;
  const end = start + len;
  for (; i + 1 < end; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (i < end) sum += b[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Recomputes and stores the IPv4 header checksum (RFC 791 section 3.1). */
export function setIpv4Checksum(b: Uint8Array, ip: number): void {
  b[ip + 10] = 0;
  b[ip + 11] = 0;
  const c = ~onesComplementSum(b, ip, ipv4HeaderLength(b, ip)) & 0xffff;
  b[ip + 10] = c >> 8;
  b[ip + 11] = c & 0xff;
}
