/**
 * A pcapng writer: what a capture produces. Little-endian, one section.
 *
 * Format: draft-ietf-opsawg-pcapng ("PCAP Next Generation (pcapng) Capture File
 * Format"). Section numbers below are the draft's. Every block is
 * `type u32, total length u32, body, total length u32`, padded to 32 bits (§3.1);
 * options are `code u16, length u16, value padded to 32 bits`, ended by
 * opt_endofopt (code 0) (§3.5).
 */

const SHB = 0x0a0d0d0a; // §4.1 Section Header Block
const IDB = 0x00000001; // §4.2 Interface Description Block
const ISB = 0x00000005; // §4.6 Interface Statistics Block
const EPB = 0x00000006; // §4.3 Enhanced Packet Block
const BYTE_ORDER_MAGIC = 0x1a2b3c4d; // §4.1

/** LINKTYPE_ETHERNET (the tcpdump.org link-layer header types registry). */
export const LINKTYPE_ETHERNET = 1;

type Option = [code: number, value: Uint8Array];
const te = new TextEncoder();
const str = (s: string) => te.encode(s);
const u32 = (v: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
};
const u64 = (v: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
};
const pad4 = (n: number) => (n + 3) & ~3;

function optionsLength(opts: Option[]): number {
  if (!opts.length) return 0;
  return opts.reduce((n, [, v]) => n + 4 + pad4(v.length), 0) + 4;
}

function writeOptions(dv: DataView, out: Uint8Array, at: number, opts: Option[]): number {
  if (!opts.length) return at;
  for (const [code, v] of opts) {
    dv.setUint16(at, code, true);
    dv.setUint16(at + 2, v.length, true);
    out.set(v, at + 4);
    at += 4 + pad4(v.length);
  }
  return at + 4; // opt_endofopt: code 0, length 0 (the buffer is zeroed)
}

/** One block: the fixed body (already laid out), then options. */
function block(type: number, body: Uint8Array, opts: Option[]): Uint8Array {
  const total = 12 + pad4(body.length) + optionsLength(opts);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(4, total, true);
  out.set(body, 8);
  writeOptions(dv, out, 8 + pad4(body.length), opts);
  dv.setUint32(total - 4, total, true);
  return out;
}

/** §4.1: byte-order magic, version 1.0, section length -1 (not given); shb_userappl (4). */
export function sectionHeader(application = 'linerate'): Uint8Array {
  const body = new Uint8Array(16);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, BYTE_ORDER_MAGIC, true);
  dv.setUint16(4, 1, true);
  dv.setUint16(6, 0, true);
  dv.setBigInt64(8, -1n, true);
  return block(SHB, body, [[4, str(application)]]);
}

/** An interface: what the packets of one port were captured on. */
export interface PcapngInterface {
  name: string;
  snaplen: number;
  description?: string;
  /** The filter expression (or raw program text) the capture ran. */
  filter?: string;
  linktype?: number;
}

/**
 * §4.2: link type, snaplen; if_name (2), if_description (3), if_tsresol (9) = 9
 * (timestamps in nanoseconds: 10^-9 s), if_filter (11, first byte 0: a libpcap
 * filter string).
 */
export function interfaceDescription(i: PcapngInterface): Uint8Array {
  const body = new Uint8Array(8);
  const dv = new DataView(body.buffer);
  dv.setUint16(0, i.linktype ?? LINKTYPE_ETHERNET, true);
  dv.setUint32(4, i.snaplen, true);
  const opts: Option[] = [[2, str(i.name)]];
  if (i.description) opts.push([3, str(i.description)]);
  opts.push([9, Uint8Array.of(9)]);
  if (i.filter) opts.push([11, new Uint8Array([0, ...str(i.filter)])]);
  return block(IDB, body, opts);
}

/** A captured packet. */
export interface PcapngPacket {
  interfaceId: number;
  /** Nanoseconds since the Unix epoch (if_tsresol 9). */
  timestampNs: bigint;
  originalLength: number;
  data: Uint8Array;
  direction?: 'in' | 'out';
  queue?: number;
}

/**
 * §4.3: interface id, timestamp (high, low 32 bits), captured and original
 * length, the data; epb_flags (2: bits 0-1 direction, 01 inbound, 10 outbound)
 * and epb_queue (6: the queue the packet was received or sent on).
 */
export function enhancedPacket(p: PcapngPacket): Uint8Array {
  const body = new Uint8Array(20 + p.data.length);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, p.interfaceId, true);
  dv.setUint32(4, Number(p.timestampNs >> 32n), true);
  dv.setUint32(8, Number(p.timestampNs & 0xffffffffn), true);
  dv.setUint32(12, p.data.length, true);
  dv.setUint32(16, p.originalLength, true);
  body.set(p.data, 20);
  const opts: Option[] = [];
  if (p.direction) opts.push([2, u32(p.direction === 'in' ? 1 : 2)]);
  if (p.queue !== undefined) opts.push([6, u32(p.queue)]);
  return block(EPB, body, opts);
}

/** What a capture counted, for the statistics block at the end. */
export interface PcapngStats {
  interfaceId: number;
  timestampNs: bigint;
  startNs?: bigint;
  /** Frames the capture looked at (isb_ifrecv, 4). */
  received: number;
  /** Frames the filter accepted (isb_filteraccept, 6). */
  accepted: number;
  /** Copies lost because the capture ring was full (isb_osdrop, 7). */
  dropped: number;
  /** Packets written to this file (isb_usrdeliv, 8). */
  delivered: number;
}

/** §4.6: isb_starttime (2), isb_endtime (3), isb_ifrecv (4), isb_filteraccept (6), isb_osdrop (7), isb_usrdeliv (8). */
export function interfaceStatistics(s: PcapngStats): Uint8Array {
  const body = new Uint8Array(12);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, s.interfaceId, true);
  dv.setUint32(4, Number(s.timestampNs >> 32n), true);
  dv.setUint32(8, Number(s.timestampNs & 0xffffffffn), true);
  const ts = (t: bigint) => {
    const b = new Uint8Array(8);
    const d = new DataView(b.buffer);
    d.setUint32(0, Number(t >> 32n), true);
    d.setUint32(4, Number(t & 0xffffffffn), true);
    return b;
  };
  const opts: Option[] = [];
  if (s.startNs !== undefined) opts.push([2, ts(s.startNs)]);
  opts.push([3, ts(s.timestampNs)]);
  opts.push([4, u64(BigInt(s.received))], [6, u64(BigInt(s.accepted))], [7, u64(BigInt(s.dropped))], [8, u64(BigInt(s.delivered))]);
  return block(ISB, body, opts);
}
