/**
 * Valid Ethernet/IPv4/UDP and Ethernet/IPv6/UDP frames for the examples'
 * self-tests and the benches (checksums set), built with linerate's protocol helpers.
 */
import { protocols } from '../src/index.js';
import { parseIp, parseMacBytes } from '../src/host/address.js';

export function udpFrame(dstMac: string, src: string, dst: string, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(42 + payload.length);
  f.set(parseMacBytes(dstMac, 'dstMac'), 0);
  f.set([0x02, 0, 0, 0, 0, 0x01], 6);
  f.set([0x08, 0x00], 12);
  const total = 28 + payload.length;
  f.set([0x45, 0, total >> 8, total & 0xff, 0, 0, 0x40, 0, 64, 17, 0, 0], 14);
  f.set(parseIp(src, 'src').bytes, 26);
  f.set(parseIp(dst, 'dst').bytes, 30);
  f.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff], 34);
  f.set(payload, 42);
  protocols.setIpv4Checksum(f, 14);
  protocols.setUdpChecksum(f, 14, 34, 8 + payload.length);
  return f;
}

/** The IPv6 counterpart of {@link udpFrame}: hop limit 64, no extension headers (RFC 8200 section 3). */
export function udpFrame6(dstMac: string, src: string, dst: string, sport: number, dport: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(62 + payload.length);
  f.set(parseMacBytes(dstMac, 'dstMac'), 0);
  f.set([0x02, 0, 0, 0, 0, 0x01], 6);
  f.set([0x86, 0xdd], 12);
  const plen = 8 + payload.length;
  f.set([0x60, 0, 0, 0, plen >> 8, plen & 0xff, 17, 64], 14);
  f.set(parseIp(src, 'src').bytes, 22);
  f.set(parseIp(dst, 'dst').bytes, 38);
  f.set([sport >> 8, sport & 0xff, dport >> 8, dport & 0xff], 54);
  f.set(payload, 62);
  protocols.setUdpChecksum(f, 14, 54, plen);
  return f;
}
