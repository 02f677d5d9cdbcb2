// Frame builders and checkers for host-layer tests: Ethernet + ARP (RFC 826),
// IPv4 (RFC 791), IPv6 (RFC 8200), UDP (RFC 768), ICMP echo (RFC 792), ICMPv6
// echo and neighbour discovery (RFC 4443, RFC 4861). Written independently of
// the native code they test.
import { parseIp } from '../../src/host/address.js';

export function macBytes(s: string): number[] {
  return s.split(':').map((h) => parseInt(h, 16));
}
export function ipBytes(s: string): number[] {
  return [...parseIp(s, 'test').bytes];
}

function sum16(b: Uint8Array, off: number, len: number, s = 0): number {
  for (let i = 0; i + 1 < len; i += 2) s += (b[off + i] << 8) | b[off + i + 1];
  if (len & 1) s += b[off + len - 1] << 8;
  return s;
}
function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}
function put16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

export interface EthOpts {
  vlan?: number;
}

function eth(dst: string, src: string, type: number, o: EthOpts = {}): number[] {
  const h = [...macBytes(dst), ...macBytes(src)];
  if (o.vlan !== undefined) h.push(0x81, 0x00, (o.vlan >> 8) & 0x0f, o.vlan & 0xff);
  h.push(type >> 8, type & 0xff);
  return h;
}

export function arp(op: 1 | 2, dstMac: string, srcMac: string, senderIp: string, targetIp: string, targetMac = '00:00:00:00:00:00', o: EthOpts = {}): Uint8Array {
  return Uint8Array.from([
    ...eth(dstMac, srcMac, 0x0806, o),
    0, 1, 0x08, 0, 6, 4, 0, op,
    ...macBytes(srcMac), ...ipBytes(senderIp), ...macBytes(targetMac), ...ipBytes(targetIp),
  ]);
}

export interface Ip4Opts extends EthOpts {
  ttl?: number;
  frag?: number;
  ihlWords?: number;
  badIpCsum?: boolean;
  totalLenDelta?: number;
}

function ipv4(dstMac: string, srcMac: string, src: string, dst: string, proto: number, l4: number[], o: Ip4Opts = {}): Uint8Array {
  const ihl = o.ihlWords ?? 5;
  const opts = new Array((ihl - 5) * 4).fill(1); // NOP options
  const total = ihl * 4 + l4.length;
  const f = Uint8Array.from([
    ...eth(dstMac, srcMac, 0x0800, o),
    0x40 | ihl, 0, (total + (o.totalLenDelta ?? 0)) >> 8, (total + (o.totalLenDelta ?? 0)) & 0xff, 0, 1, (o.frag ?? 0) >> 8, (o.frag ?? 0) & 0xff, o.ttl ?? 64, proto, 0, 0,
    ...ipBytes(src), ...ipBytes(dst), ...opts, ...l4,
  ]);
  const l3 = f.length - total;
  put16(f, l3 + 10, ~fold(sum16(f, l3, ihl * 4)) & 0xffff);
  if (o.badIpCsum) f[l3 + 10] ^= 0xff;
  return f;
}

export function udp4(dstMac: string, srcMac: string, src: string, dst: string, sport: number, dport: number, payload: Uint8Array | number[], o: Ip4Opts & { badCsum?: boolean; zeroCsum?: boolean } = {}): Uint8Array {
  const p = [...payload];
  const u = [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, (8 + p.length) >> 8, (8 + p.length) & 0xff, 0, 0, ...p];
  const f = ipv4(dstMac, srcMac, src, dst, 17, u, o);
  const l4 = f.length - u.length;
  if (!o.zeroCsum) {
    const s = sum16(f, l4 - 8, 8) + 17 + u.length + sum16(f, l4, u.length);
    let c = ~fold(s) & 0xffff;
    if (c === 0) c = 0xffff;
    put16(f, l4 + 6, c);
    if (o.badCsum) f[l4 + 7] ^= 0x55;
  }
  return f;
}

export function icmpEcho4(dstMac: string, srcMac: string, src: string, dst: string, id: number, seq: number, data: number[], o: Ip4Opts = {}): Uint8Array {
  const m = [8, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff, ...data];
  const c = ~fold(sum16(Uint8Array.from(m), 0, m.length)) & 0xffff;
  m[2] = c >> 8;
  m[3] = c & 0xff;
  return ipv4(dstMac, srcMac, src, dst, 1, m, o);
}

export interface Ip6Opts extends EthOpts {
  hop?: number;
  next?: number;
}

function ipv6(dstMac: string, srcMac: string, src: string, dst: string, next: number, l4: number[], o: Ip6Opts = {}): Uint8Array {
  return Uint8Array.from([
    ...eth(dstMac, srcMac, 0x86dd, o),
    0x60, 0, 0, 0, l4.length >> 8, l4.length & 0xff, o.next ?? next, o.hop ?? 64,
    ...ipBytes(src), ...ipBytes(dst), ...l4,
  ]);
}

function pseudo6(f: Uint8Array, l3: number, len: number, next: number): number {
  return sum16(f, l3 + 8, 32) + Math.floor(len / 65536) + (len & 0xffff) + next;
}

export function udp6(dstMac: string, srcMac: string, src: string, dst: string, sport: number, dport: number, payload: Uint8Array | number[], o: Ip6Opts & { badCsum?: boolean; zeroCsum?: boolean } = {}): Uint8Array {
  const p = [...payload];
  const u = [sport >> 8, sport & 0xff, dport >> 8, dport & 0xff, (8 + p.length) >> 8, (8 + p.length) & 0xff, 0, 0, ...p];
  const f = ipv6(dstMac, srcMac, src, dst, 17, u, o);
  const l4 = f.length - u.length;
  if (!o.zeroCsum) {
    let c = ~fold(pseudo6(f, l4 - 40, u.length, 17) + sum16(f, l4, u.length)) & 0xffff;
    if (c === 0) c = 0xffff;
    put16(f, l4 + 6, c);
    if (o.badCsum) f[l4 + 7] ^= 0x55;
  }
  return f;
}

function icmp6(dstMac: string, srcMac: string, src: string, dst: string, msg: number[], o: Ip6Opts = {}): Uint8Array {
  const f = ipv6(dstMac, srcMac, src, dst, 58, msg, o);
  const l4 = f.length - msg.length;
  put16(f, l4 + 2, ~fold(pseudo6(f, l4 - 40, msg.length, 58) + sum16(f, l4, msg.length)) & 0xffff);
  return f;
}

export function icmp6Echo(dstMac: string, srcMac: string, src: string, dst: string, id: number, seq: number, data: number[], o: Ip6Opts = {}): Uint8Array {
  return icmp6(dstMac, srcMac, src, dst, [128, 0, 0, 0, id >> 8, id & 0xff, seq >> 8, seq & 0xff, ...data], o);
}

/** The solicited-node group of an address (RFC 4291 section 2.7.1) and its MAC (RFC 2464 section 7). */
export function solicited(target: string): { ip: string; mac: string } {
  const t = ipBytes(target);
  const h = (n: number) => n.toString(16).padStart(2, '0');
  return { ip: `ff02::1:ff${h(t[13])}:${h(t[14])}${h(t[15])}`, mac: `33:33:ff:${h(t[13])}:${h(t[14])}:${h(t[15])}` };
}

export function neighborSolicit(srcMac: string, src: string, target: string, o: Ip6Opts & { noOption?: boolean; unicastTo?: { ip: string; mac: string } } = {}): Uint8Array {
  const g = o.unicastTo ?? solicited(target);
  const opt = o.noOption ? [] : [1, 1, ...macBytes(srcMac)];
  return icmp6(g.mac, srcMac, src, g.ip, [135, 0, 0, 0, 0, 0, 0, 0, ...ipBytes(target), ...opt], { hop: 255, ...o });
}

export function neighborAdvert(dstMac: string, srcMac: string, src: string, dst: string, target: string, solicitedFlag = true, o: Ip6Opts = {}): Uint8Array {
  const flags = (solicitedFlag ? 0x40 : 0) | 0x20;
  return icmp6(dstMac, srcMac, src, dst, [136, 0, 0, 0, flags, 0, 0, 0, ...ipBytes(target), 2, 1, ...macBytes(srcMac)], { hop: 255, ...o });
}

/** Checks a frame's IPv4 header checksum and its UDP/ICMP checksum; returns what is wrong, or ''. */
export function checksumProblems(f: Uint8Array): string {
  let l3 = 14;
  let type = (f[12] << 8) | f[13];
  if (type === 0x8100) {
    type = (f[16] << 8) | f[17];
    l3 = 18;
  }
  if (type === 0x0800) {
    const ihl = (f[l3] & 0xf) * 4;
    if (fold(sum16(f, l3, ihl)) !== 0xffff) return 'ipv4 header checksum';
    const total = (f[l3 + 2] << 8) | f[l3 + 3];
    const proto = f[l3 + 9];
    const l4 = l3 + ihl, len = total - ihl;
    if (proto === 17) {
      if (fold(sum16(f, l3 + 12, 8) + 17 + len + sum16(f, l4, len)) !== 0xffff) return 'udp checksum';
      if (((f[l4 + 4] << 8) | f[l4 + 5]) !== len) return 'udp length';
    }
    if (proto === 1 && fold(sum16(f, l4, len)) !== 0xffff) return 'icmp checksum';
  } else if (type === 0x86dd) {
    const len = (f[l3 + 4] << 8) | f[l3 + 5];
    const next = f[l3 + 6];
    const l4 = l3 + 40;
    if (next === 17 || next === 58) {
      if (fold(pseudo6(f, l3, len, next) + sum16(f, l4, len)) !== 0xffff) return `${next === 17 ? 'udp' : 'icmpv6'} checksum`;
      if (next === 17 && (((f[l4 + 6] << 8) | f[l4 + 7]) === 0)) return 'udp checksum zero';
    }
  }
  return '';
}
