// Test helpers: a tiny pcap writer and reader (libpcap savefile format,
// draft-ietf-opsawg-pcap: 24-byte File Header, 16-byte Packet Record headers,
// microsecond and nanosecond magics, both byte orders), frame builders for
// Ethernet/IPv4/UDP, Ethernet/IPv6/UDP (optionally VLAN-tagged, IPv4 options,
// fragments), ARP, checksum verifiers, and a temp-dir helper.
//
// Everything here is independent of the code under test: files are built byte
// by byte and parsed with DataView, so a bug in the native driver cannot hide
// behind the same bug in the test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// ---------------------------------------------------------------- pcap files

export const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
export const PCAP_MAGIC_NANO = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;

export interface PcapRecord {
  tsSec: number;
  /** Microseconds or nanoseconds, per the file's magic. */
  tsFrac: number;
  /** Captured bytes. */
  data: Uint8Array;
  /** Original length on the wire (>= data.length). */
  origLen: number;
}

export interface PcapFile {
  magic: number;
  nano: boolean;
  bigEndian: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linktype: number;
  records: PcapRecord[];
}

export interface WritePcapOptions {
  nano?: boolean;
  bigEndian?: boolean;
  linktype?: number;
  snaplen?: number;
  versionMajor?: number;
  versionMinor?: number;
}

/** A record, or just its bytes (then timestamped 1,700,000,000 s + i µs/ns). */
export type RecordInput = Uint8Array | (Partial<PcapRecord> & { data: Uint8Array });

/** Builds a pcap file in memory. */
export function writePcap(records: RecordInput[], o: WritePcapOptions = {}): Uint8Array {
  const le = !o.bigEndian;
  const total = 24 + records.reduce((a, r) => a + 16 + (r instanceof Uint8Array ? r : r.data).length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, o.nano ? PCAP_MAGIC_NANO : PCAP_MAGIC_MICRO, le);
  dv.setUint16(4, o.versionMajor ?? 2, le);
  dv.setUint16(6, o.versionMinor ?? 4, le);
  dv.setUint32(8, 0, le);
  dv.setUint32(12, 0, le);
  dv.setUint32(16, o.snaplen ?? 65535, le);
  dv.setUint32(20, o.linktype ?? LINKTYPE_ETHERNET, le);
  let off = 24;
  records.forEach((r, i) => {
    const rec = r instanceof Uint8Array ? { data: r } : r;
    dv.setUint32(off, rec.tsSec ?? 1_700_000_000, le);
    dv.setUint32(off + 4, rec.tsFrac ?? i, le);
    dv.setUint32(off + 8, rec.data.length, le);
    dv.setUint32(off + 12, rec.origLen ?? rec.data.length, le);
    out.set(rec.data, off + 16);
    off += 16 + rec.data.length;
  });
  return out;
}

/** Parses a pcap file (either magic, either byte order). Throws on anything malformed. */
export function readPcap(buf: Uint8Array): PcapFile {
  if (buf.length < 24) throw new Error(`pcap: ${buf.length} bytes, shorter than the 24-byte file header`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let le: boolean;
  const mLe = dv.getUint32(0, true);
  const mBe = dv.getUint32(0, false);
  if (mLe === PCAP_MAGIC_MICRO || mLe === PCAP_MAGIC_NANO) le = true;
  else if (mBe === PCAP_MAGIC_MICRO || mBe === PCAP_MAGIC_NANO) le = false;
  else throw new Error(`pcap: bad magic 0x${mLe.toString(16)}`);
  const magic = dv.getUint32(0, le);
  const file: PcapFile = {
    magic,
    nano: magic === PCAP_MAGIC_NANO,
    bigEndian: !le,
    versionMajor: dv.getUint16(4, le),
    versionMinor: dv.getUint16(6, le),
    snaplen: dv.getUint32(16, le),
    linktype: dv.getUint32(20, le),
    records: [],
  };
  let off = 24;
  while (off < buf.length) {
    if (buf.length - off < 16) throw new Error(`pcap: record ${file.records.length + 1}: truncated header at ${off}`);
    const incl = dv.getUint32(off + 8, le);
    const orig = dv.getUint32(off + 12, le);
    if (incl > buf.length - off - 16) throw new Error(`pcap: record ${file.records.length + 1}: truncated data at ${off}`);
    file.records.push({
      tsSec: dv.getUint32(off, le),
      tsFrac: dv.getUint32(off + 4, le),
      data: buf.slice(off + 16, off + 16 + incl),
      origLen: orig,
    });
    off += 16 + incl;
  }
  return file;
}

// ---------------------------------------------------------------- addresses

export function mac(s: string): Uint8Array {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6) throw new Error(`bad MAC ${s}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function macString(b: Uint8Array): string {
  return Array.from(b.subarray(0, 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

export function ipv4(s: string): Uint8Array {
  const parts = s.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw new Error(`bad IPv4 ${s}`);
  return Uint8Array.from(parts);
}

/** Parses an IPv6 address (with at most one '::'; no embedded IPv4). */
export function ipv6(s: string): Uint8Array {
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const groups = tail !== undefined ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  if (groups.length !== 8) throw new Error(`bad IPv6 ${s}`);
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

// ---------------------------------------------------------------- checksums

/** RFC 1071 one's-complement sum of bytes (not inverted), folded to 16 bits. */
export function onesSum(bytes: Uint8Array, start = 0): number {
  let s = start;
  for (let i = 0; i + 1 < bytes.length; i += 2) s += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length & 1) s += bytes[bytes.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** The checksum to put in a header whose checksum field is zero. */
export function internetChecksum(bytes: Uint8Array, start = 0): number {
  return ~onesSum(bytes, start) & 0xffff;
}

const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const put16 = (b: Uint8Array, o: number, v: number) => {
  b[o] = (v >> 8) & 0xff;
  b[o + 1] = v & 0xff;
};

/** Where the layers of a frame start (one optional 802.1Q tag). */
export interface FrameLayout {
  etherType: number;
  l3: number;
  /** 4 or 6 for IP, 0 otherwise. */
  ipVersion: 0 | 4 | 6;
  /** Offset of the UDP header, or -1 (not UDP, or not the first fragment). */
  udp: number;
  ipHeaderLength: number;
  /** IPv4: fragment offset (8-byte units) and MF flag. */
  fragOffset: number;
  moreFragments: boolean;
}

export function layout(f: Uint8Array): FrameLayout {
  let l3 = 14;
  let etherType = u16(f, 12);
  if (etherType === 0x8100) {
    etherType = u16(f, 16);
    l3 = 18;
  }
  const r: FrameLayout = { etherType, l3, ipVersion: 0, udp: -1, ipHeaderLength: 0, fragOffset: 0, moreFragments: false };
  if (etherType === 0x0800) {
    r.ipVersion = 4;
    r.ipHeaderLength = (f[l3]! & 0xf) * 4;
    const frag = u16(f, l3 + 6);
    r.fragOffset = frag & 0x1fff;
    r.moreFragments = (frag & 0x2000) !== 0;
    if (f[l3 + 9] === 17 && (frag & 0x3fff) === 0) r.udp = l3 + r.ipHeaderLength;
  } else if (etherType === 0x86dd) {
    r.ipVersion = 6;
    r.ipHeaderLength = 40;
    if (f[l3 + 6] === 17) r.udp = l3 + 40;
  }
  return r;
}

/** True when the IPv4 header checksum of the frame is valid. */
export function ipv4ChecksumOk(f: Uint8Array): boolean {
  const l = layout(f);
  if (l.ipVersion !== 4) throw new Error('not IPv4');
  return onesSum(f.subarray(l.l3, l.l3 + l.ipHeaderLength)) === 0xffff;
}

function pseudoSum(f: Uint8Array, l: FrameLayout, udpLen: number): number {
  if (l.ipVersion === 4) {
    const p = new Uint8Array(12);
    p.set(f.subarray(l.l3 + 12, l.l3 + 20), 0);
    p[9] = 17;
    put16(p, 10, udpLen);
    return onesSum(p);
  }
  const p = new Uint8Array(40);
  p.set(f.subarray(l.l3 + 8, l.l3 + 40), 0);
  p[34] = (udpLen >> 8) & 0xff; // 32-bit length, upper bytes zero for frames
  p[35] = udpLen & 0xff;
  p[39] = 17;
  return onesSum(p);
}

/** UDP checksum over pseudo-header + UDP header + payload, for a frame built with checksum 0. */
function udpChecksumOf(f: Uint8Array, l: FrameLayout): number {
  const udpLen = u16(f, l.udp + 4);
  const seg = f.slice(l.udp, l.udp + udpLen);
  put16(seg, 6, 0);
  const c = internetChecksum(seg, pseudoSum(f, l, udpLen));
  return c === 0 ? 0xffff : c;
}

/**
 * True when the UDP checksum of the frame is valid (IPv4 or IPv6, first
 * fragment only). An IPv4 checksum of 0 ("none") counts as valid; in IPv6 it is not.
 */
export function udpChecksumOk(f: Uint8Array): boolean {
  const l = layout(f);
  if (l.udp < 0) throw new Error('no UDP header to check');
  const udpLen = u16(f, l.udp + 4);
  if (udpLen < 8 || l.udp + udpLen > f.length) return false;
  const stored = u16(f, l.udp + 6);
  if (stored === 0) return l.ipVersion === 4;
  return onesSum(f.subarray(l.udp, l.udp + udpLen), pseudoSum(f, l, udpLen)) === 0xffff;
}

// ---------------------------------------------------------------- frames

export interface UdpFrameOptions {
  srcMac?: string;
  dstMac?: string;
  src: string;
  dst: string;
  sport: number;
  dport: number;
  /** Payload bytes, or a length (filled with a counting pattern). Default 18 bytes. */
  payload?: Uint8Array | number;
  /** 802.1Q VLAN id: adds a tag (TPID 0x8100). */
  vlan?: number;
  ttl?: number;
  /** IPv4 only: option bytes (a multiple of 4). */
  ipOptions?: Uint8Array;
  /** IPv4 only: fragment offset in 8-byte units. */
  fragOffset?: number;
  /** IPv4 only: the MF flag. */
  moreFragments?: boolean;
  ipId?: number;
  /** Set the UDP checksum (default true; false leaves 0 = "none" in IPv4). */
  udpChecksum?: boolean;
}

function payloadOf(p: Uint8Array | number | undefined): Uint8Array {
  if (p instanceof Uint8Array) return p;
  const n = p ?? 18;
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff);
}

function ethHeader(o: { srcMac?: string; dstMac?: string; vlan?: number }, etherType: number): Uint8Array {
  const h = new Uint8Array(o.vlan !== undefined ? 18 : 14);
  h.set(mac(o.dstMac ?? '02:00:00:00:00:02'), 0);
  h.set(mac(o.srcMac ?? '02:00:00:00:00:01'), 6);
  if (o.vlan !== undefined) {
    put16(h, 12, 0x8100);
    put16(h, 14, o.vlan & 0x0fff);
    put16(h, 16, etherType);
  } else {
    put16(h, 12, etherType);
  }
  return h;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Ethernet [+ 802.1Q] + IPv4 [+ options] + UDP + payload, checksums set.
 * With fragOffset > 0 there is no UDP header: the payload follows the IP header.
 */
export function udp4Frame(o: UdpFrameOptions): Uint8Array {
  const eth = ethHeader(o, 0x0800);
  const opts = o.ipOptions ?? new Uint8Array(0);
  if (opts.length % 4) throw new Error('IPv4 options must be a multiple of 4 bytes');
  const payload = payloadOf(o.payload);
  const later = (o.fragOffset ?? 0) > 0;
  const udp = new Uint8Array(later ? 0 : 8);
  const ip = new Uint8Array(20 + opts.length);
  ip[0] = 0x40 | (ip.length / 4);
  put16(ip, 2, ip.length + udp.length + payload.length);
  put16(ip, 4, o.ipId ?? 0x1234);
  put16(ip, 6, ((o.moreFragments ? 1 : 0) << 13) | ((o.fragOffset ?? 0) & 0x1fff));
  ip[8] = o.ttl ?? 64;
  ip[9] = 17;
  ip.set(ipv4(o.src), 12);
  ip.set(ipv4(o.dst), 16);
  ip.set(opts, 20);
  put16(ip, 10, internetChecksum(ip));
  if (!later) {
    put16(udp, 0, o.sport);
    put16(udp, 2, o.dport);
    put16(udp, 4, 8 + payload.length);
  }
  const f = concat(eth, ip, udp, payload);
  if (!later && o.udpChecksum !== false && !o.moreFragments) {
    const l = layout(f);
    put16(f, l.udp + 6, udpChecksumOf(f, l));
  }
  return f;
}

/** Ethernet [+ 802.1Q] + IPv6 + UDP + payload, UDP checksum set. */
export function udp6Frame(o: UdpFrameOptions): Uint8Array {
  const eth = ethHeader(o, 0x86dd);
  const payload = payloadOf(o.payload);
  const ip = new Uint8Array(40);
  ip[0] = 0x60;
  put16(ip, 4, 8 + payload.length);
  ip[6] = 17;
  ip[7] = o.ttl ?? 64;
  ip.set(ipv6(o.src), 8);
  ip.set(ipv6(o.dst), 24);
  const udp = new Uint8Array(8);
  put16(udp, 0, o.sport);
  put16(udp, 2, o.dport);
  put16(udp, 4, 8 + payload.length);
  const f = concat(eth, ip, udp, payload);
  const l = layout(f);
  put16(f, l.udp + 6, udpChecksumOf(f, l));
  return f;
}

/** An ARP request (RFC 826) for Ethernet/IPv4, broadcast. */
export function arpFrame(o: { srcMac?: string; senderIp: string; targetIp: string }): Uint8Array {
  const src = o.srcMac ?? '02:00:00:00:00:01';
  const eth = ethHeader({ srcMac: src, dstMac: 'ff:ff:ff:ff:ff:ff' }, 0x0806);
  const arp = new Uint8Array(28);
  put16(arp, 0, 1); // hardware type: Ethernet
  put16(arp, 2, 0x0800);
  arp[4] = 6;
  arp[5] = 4;
  put16(arp, 6, 1); // request
  arp.set(mac(src), 8);
  arp.set(ipv4(o.senderIp), 14);
  arp.set(ipv4(o.targetIp), 24);
  // Padded to the 60-byte Ethernet minimum, as senders do.
  return concat(eth, arp, new Uint8Array(60 - 14 - 28));
}

/**
 * What an echo must turn a frame into, computed independently of the engine:
 * MACs swapped; for IPv4/IPv6 the addresses swapped; for UDP (IPv4 at fragment
 * offset 0, that is unfragmented or a first fragment, or IPv6) the ports swapped.
 * Checksums need no change: swapping 16-bit-aligned fields leaves the one's-
 * complement sums as they are. A frame to a group MAC is not echoed at all
 * ({@link isGroupDst}).
 */
export function expectedEcho(f: Uint8Array): Uint8Array {
  const e = f.slice();
  if (e.length < 14) return e;
  const swap = (a: number, b: number, n: number) => {
    const t = e.slice(a, a + n);
    e.copyWithin(a, b, b + n);
    e.set(t, b);
  };
  swap(0, 6, 6);
  const l = layout(e);
  if (l.ipVersion === 4) {
    swap(l.l3 + 12, l.l3 + 16, 4);
    // The UDP header is in the fragment at offset 0 (RFC 791 section 3.1), MF or not.
    const udp = l.l3 + l.ipHeaderLength;
    if (e[l.l3 + 9] === 17 && l.fragOffset === 0 && e.length >= udp + 8) swap(udp, udp + 2, 2);
  } else if (l.ipVersion === 6) {
    swap(l.l3 + 8, l.l3 + 24, 16);
    if (l.udp >= 0) swap(l.udp, l.udp + 2, 2);
  }
  return e;
}

/** The destination MAC is a group (broadcast or multicast) address: I/G bit, bit 0 of the first byte (IEEE 802). */
export function isGroupDst(f: Uint8Array): boolean {
  return f.length >= 14 && (f[0]! & 1) === 1;
}

/** UDP ports of a frame (unfragmented IPv4 / IPv6), or undefined. */
export function udpPorts(f: Uint8Array): { sport: number; dport: number } | undefined {
  const l = layout(f);
  if (l.udp < 0) return undefined;
  return { sport: u16(f, l.udp), dport: u16(f, l.udp + 2) };
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

// ---------------------------------------------------------------- temp dirs

/** A fresh temp directory; call cleanup() (e.g. in afterEach) to remove it. */
export function tempDir(prefix = 'linerate-test-'): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
