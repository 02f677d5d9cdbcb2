/**
 * UDP (RFC 768) and TCP (RFC 9293) port reads, the UDP checksum over the IPv4
 * or IPv6 pseudo-header, and a reusable five-tuple. Allocation-free.
 */
import { ipVersion, onesComplementSum, PROTO_TCP, PROTO_UDP, ipProto, ipv4IsLaterFragment, l4Offset, ipv4Src, ipv4Dst } from './ip.js';
import { etherType, l3Offset, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from './ethernet.js';

/** Source port of the UDP or TCP header at `l4`. */
export function srcPort(b: Uint8Array, l4: number): number {
  return (b[l4] << 8) | b[l4 + 1];
}

/** Destination port of the UDP or TCP header at `l4`. */
export function dstPort(b: Uint8Array, l4: number): number {
  return (b[l4 + 2] << 8) | b[l4 + 3];
}

/** Swaps source and destination ports in place (the checksum stays valid). */
export function swapPorts(b: Uint8Array, l4: number): void {
  const s0 = b[l4], s1 = b[l4 + 1];
  b[l4] = b[l4 + 2];
  b[l4 + 1] = b[l4 + 3];
  b[l4 + 2] = s0;
  b[l4 + 3] = s1;
}

/** Sets UDP length from `udpLen` and recomputes the checksum over the pseudo-header (RFC 768; RFC 8200 section 8.1). */
export function setUdpChecksum(b: Uint8Array, ip: number, udp: number, udpLen: number): void {
  b[udp + 4] = udpLen >> 8;
  b[udp + 5] = udpLen & 0xff;
  b[udp + 6] = 0;
  b[udp + 7] = 0;
  const v6 = ipVersion(b, ip) === 6;
  let sum = v6 ? onesComplementSum(b, ip + 8, 32) : onesComplementSum(b, ip + 12, 8);
  sum += PROTO_UDP + (udpLen >>> 16) + (udpLen & 0xffff);
  sum = onesComplementSum(b, udp, udpLen, sum);
  let c = ~sum & 0xffff;
  if (c === 0) c = 0xffff; // zero means "no checksum" (RFC 768)
  b[udp + 6] = c >> 8;
  b[udp + 7] = c & 0xff;
}

/**
 * A five-tuple, filled in place by {@link readFiveTuple}: make one per handler
 * and reuse it. IPv4 addresses are in `src4`/`dst4`; for IPv6 the 16 address
 * bytes are at `b[srcOffset]` and `b[dstOffset]` of the packet.
 */
export class FiveTuple {
  version = 0;
  proto = 0;
  src4 = 0;
  dst4 = 0;
  srcOffset = 0;
  dstOffset = 0;
  srcPort = 0;
  dstPort = 0;
  /** Offset of the L4 header (its payload starts 8 bytes later for UDP). */
  l4 = 0;
}

/**
 * Reads the five-tuple of the IPv4/IPv6 frame at b[off, off+len) into `out`.
 * Returns false for non-IP frames or headers cut short. Ports are 0 when the
 * packet carries none (not UDP/TCP, or a later IPv4 fragment).
 */
export function readFiveTuple(b: Uint8Array, off: number, len: number, out: FiveTuple): boolean {
  const end = off + len;
  const t = etherType(b, off);
  const ip = l3Offset(b, off);
  if (t === ETHERTYPE_IPV4) {
    if (ip + 20 > end || ipVersion(b, ip) !== 4) return false;
    out.version = 4;
    out.src4 = ipv4Src(b, ip);
    out.dst4 = ipv4Dst(b, ip);
    out.srcOffset = ip + 12;
    out.dstOffset = ip + 16;
  } else if (t === ETHERTYPE_IPV6) {
    if (ip + 40 > end || ipVersion(b, ip) !== 6) return false;
    out.version = 6;
    out.src4 = out.dst4 = 0;
    out.srcOffset = ip + 8;
    out.dstOffset = ip + 24;
  } else {
    return false;
  }
  out.proto = ipProto(b, ip);
  out.l4 = l4Offset(b, ip);
  const ports = (out.proto === PROTO_UDP || out.proto === PROTO_TCP) && out.l4 + 4 <= end && !(out.version === 4 && ipv4IsLaterFragment(b, ip));
  out.srcPort = ports ? srcPort(b, out.l4) : 0;
  out.dstPort = ports ? dstPort(b, out.l4) : 0;
  return true;
}
