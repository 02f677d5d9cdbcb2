/**
 * A valid Ethernet/IPv4/UDP frame for the examples' self-tests (checksums set),
 * built with linerate's protocol helpers.
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
