// The protocol helpers agree with independently built frames and checksum verifiers.
import { describe, expect, it } from 'vitest';
import { protocols as p } from '../src/index.js';
import { ipv4ChecksumOk, udp4Frame, udp6Frame, udpChecksumOk, arpFrame } from './helpers/pcap.js';

const at = (f: Uint8Array, off = 10) => {
  const b = new Uint8Array(f.length + off + 5);
  b.set(f, off);
  return b;
};

describe('protocols', () => {
  it('reads the five-tuple of IPv4 UDP at an offset, without allocating', () => {
    const f = udp4Frame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '198.18.0.1', dst: '198.18.0.2', sport: 1234, dport: 53, payload: Uint8Array.of(1, 2, 3) });
    const b = at(f);
    const t = new p.FiveTuple();
    expect(p.readFiveTuple(b, 10, f.length, t)).toBe(true);
    expect([t.version, t.proto, t.src4, t.dst4, t.srcPort, t.dstPort]).toEqual([4, 17, 0xc6120001, 0xc6120002, 1234, 53]);
    expect(p.etherType(b, 10)).toBe(p.ETHERTYPE_IPV4);
    expect(p.l4Offset(b, p.l3Offset(b, 10))).toBe(10 + 14 + 20);
  });

  it('reads IPv6 and VLAN-tagged frames, refuses non-IP and cut-short ones', () => {
    const f6 = udp6Frame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: 'fd00:198:18::1', dst: 'fd00:198:18::2', sport: 7, dport: 9, payload: Uint8Array.of(9) });
    const t = new p.FiveTuple();
    expect(p.readFiveTuple(f6, 0, f6.length, t)).toBe(true);
    expect([t.version, t.proto, t.srcPort, t.dstPort]).toEqual([6, 17, 7, 9]);
    expect(Array.from(f6.subarray(t.srcOffset, t.srcOffset + 2))).toEqual([0xfd, 0x00]);
    const fv = udp4Frame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 2, vlan: 5, payload: Uint8Array.of(1) });
    expect(p.readFiveTuple(fv, 0, fv.length, t)).toBe(true);
    expect(t.dstPort).toBe(2);
    expect(p.readFiveTuple(arpFrame({ senderIp: '198.18.0.1', targetIp: '198.18.0.2' }), 0, 42, t)).toBe(false);
    expect(p.readFiveTuple(f6, 0, 30, t)).toBe(false);
  });

  it('rewrites a request into a reply with valid checksums', () => {
    const f = udp4Frame({ srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '198.18.0.1', dst: '198.18.0.2', sport: 1234, dport: 53, payload: Uint8Array.of(1, 2, 3, 4) });
    const b = Uint8Array.from(f);
    const ip = p.l3Offset(b, 0);
    const l4 = p.l4Offset(b, ip);
    p.swapMacs(b, 0);
    p.swapIpAddresses(b, ip);
    p.swapPorts(b, l4);
    expect(ipv4ChecksumOk(b)).toBe(true);
    expect(udpChecksumOk(b)).toBe(true);
    b[l4 + 8] = 0xff; // change the payload: the checksum must be recomputed
    expect(udpChecksumOk(b)).toBe(false);
    p.setUdpChecksum(b, ip, l4, f.length - l4);
    expect(udpChecksumOk(b)).toBe(true);
    b[ip + 8] = 3; // TTL
    p.setIpv4Checksum(b, ip);
    expect(ipv4ChecksumOk(b)).toBe(true);
    expect(p.srcPort(b, l4)).toBe(53);
  });
});
