/**
 * The query path: a DNS query in a buffer becomes its response in the same
 * buffer, in place (RFC 1035 §4.1: header, the question as received, then the
 * answer, authority and additional sections precompiled at load by compile.ts).
 * One hash of the lower-cased wire name finds the name; a Map keyed by the
 * QTYPE number finds its answer. Nothing here allocates per query.
 */
import { compileZones, type Answer, type Node } from './compile.js';
import { F, lower, RCODE, T } from './wire.js';
import type { Zone } from './zone.js';

/** Counter slots (a Float64Array: the worker's shared ctx.counters, or the main thread's own). */
export const C = {
  NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 6,
  /** Queries given no answer (too short, or a response). */
  DROPPED: 7,
  TRUNCATED: 8,
  NODATA: 9,
  A: 10, NS: 11, CNAME: 12, SOA: 13, PTR: 14, MX: 15, TXT: 16, AAAA: 17, SRV: 18, CAA: 19, ANY: 20, XFR: 21, OTHER_TYPE: 22,
  /** Queries with EDNS (an OPT record). */
  EDNS: 23,
  /** Which zone generation this thread serves (reloads). */
  GENERATION: 24,
  /** Response rate limiting (rrl.ts): responses over the rate not sent, and those sent truncated instead (slip). */
  RRL_DROPPED: 25,
  RRL_SLIPPED: 26,
} as const;
export const COUNTERS = 32;
export const COUNTER_NAMES = Object.keys(C) as (keyof typeof C)[];

/** The rcode slots by rcode name: the `rcode` label of dns_responses_total. */
export const RCODE_SLOTS = { NOERROR: C.NOERROR, FORMERR: C.FORMERR, SERVFAIL: C.SERVFAIL, NXDOMAIN: C.NXDOMAIN, NOTIMP: C.NOTIMP, REFUSED: C.REFUSED, BADVERS: C.BADVERS } as const;
/** The query type slots by type name (AXFR and IXFR together as XFR, the rest as OTHER): the `qtype` label of dns_queries_total. */
export const QTYPE_SLOTS = {
  A: C.A, NS: C.NS, CNAME: C.CNAME, SOA: C.SOA, PTR: C.PTR, MX: C.MX, TXT: C.TXT, AAAA: C.AAAA, SRV: C.SRV, CAA: C.CAA, ANY: C.ANY, XFR: C.XFR, OTHER: C.OTHER_TYPE,
} as const;

const TYPE_SLOT = new Map<number, number>([
  [T.A, C.A], [T.NS, C.NS], [T.CNAME, C.CNAME], [T.SOA, C.SOA], [T.PTR, C.PTR], [T.MX, C.MX], [T.TXT, C.TXT],
  [T.AAAA, C.AAAA], [T.SRV, C.SRV], [T.CAA, C.CAA], [T.ANY, C.ANY], [T.AXFR, C.XFR], [T.IXFR, C.XFR],
]);

/** Our EDNS UDP payload size (RFC 6891 §6.2.5; 1232 as the DNS flag day 2020 and Knot's default). */
export const OUR_UDP_SIZE = 1232;

/** Open-addressing hash of lower-case wire names (FNV-1a, RFC-free; any good 32-bit hash does). */
class NameTable {
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly keys: Uint8Array;
  private readonly keyOff: Uint32Array;
  private readonly keyLen: Uint16Array;
  readonly nodes: Node[];

  constructor(entries: { name: Uint8Array; node: Node }[]) {
    let size = 8;
    while (size < entries.length * 2) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    this.keys = new Uint8Array(entries.reduce((a, e) => a + e.name.length, 0));
    this.keyOff = new Uint32Array(entries.length);
    this.keyLen = new Uint16Array(entries.length);
    this.nodes = [];
    let at = 0;
    entries.forEach((e, i) => {
      this.keys.set(e.name, at);
      this.keyOff[i] = at;
      this.keyLen[i] = e.name.length;
      at += e.name.length;
      this.nodes.push(e.node);
      let s = NameTable.hash(e.name, 0, e.name.length) & this.mask;
      while (this.slots[s] !== 0) s = (s + 1) & this.mask;
      this.slots[s] = i + 1;
    });
  }

  static hash(b: Uint8Array, off: number, len: number): number {
    let h = 0x811c9dc5;
    for (let i = off; i < off + len; i++) h = Math.imul(h ^ lower(b[i]), 0x01000193);
    return h >>> 0;
  }

  /** The node of the name at b[off .. off+len) (compared case-insensitively), or undefined. */
  get(b: Uint8Array, off: number, len: number): Node | undefined {
    let s = NameTable.hash(b, off, len) & this.mask;
    for (;;) {
      const e = this.slots[s];
      if (e === 0) return undefined;
      const k = e - 1;
      if (this.keyLen[k] === len) {
        const ko = this.keyOff[k];
        let i = 0;
        while (i < len && this.keys[ko + i] === lower(b[off + i])) i++;
        if (i === len) return this.nodes[k];
      }
      s = (s + 1) & this.mask;
    }
  }
}

/** Every zone, compiled: what answer() serves. Build one per load; swap the reference to reload. */
export class Answers {
  readonly names: number;
  private readonly table: NameTable;

  constructor(readonly zones: Zone[]) {
    const compiled = compileZones(zones);
    this.table = new NameTable([...compiled.values()]);
    this.names = compiled.size;
  }

  /**
   * Answers the query at b[off .. off+len) in place and returns the response
   * length (0: no answer, drop it). `room` bounds how far the response may
   * grow. Counts into `counters` (slots C). `tcp`: the answer goes over TCP
   * (RFC 7766), so it is bounded by `room` and 65535 only, never truncated.
   */
  answer(b: Uint8Array, off: number, len: number, room: number, counters: Float64Array, tcp = false): number {
    // RFC 1035 §4.1.1: the 12-byte header. Shorter, or a response (QR): no answer at all.
    if (len < 12 || (b[off + 2] & 0x80) !== 0) {
      counters[C.DROPPED]++;
      return 0;
    }
    const opcode = (b[off + 2] >> 3) & 0x0f;
    const qd = (b[off + 4] << 8) | b[off + 5];
    if (opcode !== 0) return this.bare(b, off, RCODE.NOTIMP, counters);
    if (qd !== 1) return this.bare(b, off, RCODE.FORMERR, counters);
    // The question's name: labels only (a pointer or a reserved label type in a question is malformed), ≤ 255 octets (§2.3.4).
    let p = off + 12;
    const end = off + len;
    for (;;) {
      if (p >= end) return this.bare(b, off, RCODE.FORMERR, counters);
      const l = b[p];
      if (l === 0) break;
      if (l > 63) return this.bare(b, off, RCODE.FORMERR, counters);
      p += l + 1;
      if (p - (off + 12) + 1 > 255) return this.bare(b, off, RCODE.FORMERR, counters);
    }
    const qnameLen = p + 1 - (off + 12);
    p++;
    if (p + 4 > end) return this.bare(b, off, RCODE.FORMERR, counters);
    const qtype = (b[p] << 8) | b[p + 1];
    const qclass = (b[p + 2] << 8) | b[p + 3];
    const qend = p + 4;
    counters[TYPE_SLOT.get(qtype) ?? C.OTHER_TYPE]++;
    // Zone transfers are TCP's (RFC 5936 §4.2); IXFR over UDP (its SOA in authority, RFC 1995 §3) is declined likewise.
    if (qtype === T.AXFR || qtype === T.IXFR) return this.respond(b, off, qend, RCODE.NOTIMP, false, -1, counters);
    // A query carries no answer or authority records (RFC 1035 §4.1.1); only an OPT in additional is understood here.
    if (b[off + 6] | b[off + 7] | b[off + 8] | b[off + 9]) return this.respond(b, off, qend, RCODE.FORMERR, false, -1, counters);
    const ar = (b[off + 10] << 8) | b[off + 11];
    let edns = false, ednsSize = 0, ednsVersion = 0, dnssecOk = false;
    p = qend;
    for (let i = 0; i < ar; i++) {
      // Owner name: labels, possibly ending in a pointer (§4.1.4); bounded by the message.
      const ownerAt = p;
      let steps = 0;
      for (;;) {
        if (p >= end || ++steps > 128) return this.respond(b, off, qend, RCODE.FORMERR, false, -1, counters);
        const l = b[p];
        if (l === 0) { p++; break; }
        if ((l & 0xc0) === 0xc0) { p += 2; break; }
        if (l > 63) return this.respond(b, off, qend, RCODE.FORMERR, false, -1, counters);
        p += l + 1;
      }
      if (p + 10 > end) return this.respond(b, off, qend, RCODE.FORMERR, false, -1, counters);
      const type = (b[p] << 8) | b[p + 1];
      const rdlen = (b[p + 8] << 8) | b[p + 9];
      if (type === T.OPT) {
        // RFC 6891 §6.1.1: one OPT, owned by the root; a second one is FORMERR.
        if (edns || b[ownerAt] !== 0 || p !== ownerAt + 1) return this.respond(b, off, qend, RCODE.FORMERR, false, -1, counters);
        edns = true;
        ednsSize = (b[p + 2] << 8) | b[p + 3];
        ednsVersion = b[p + 5];
        dnssecOk = (b[p + 6] & 0x80) !== 0;
      }
      p += 10 + rdlen;
      if (p > end) return this.respond(b, off, qend, RCODE.FORMERR, false, -1, counters);
    }
    if (p !== end) return this.respond(b, off, qend, RCODE.FORMERR, false, -1, counters);
    let limit = 512; // RFC 1035 §4.2.1 without EDNS
    if (edns) {
      counters[C.EDNS]++;
      // RFC 6891 §6.2.3: values below 512 are treated as 512; we send at most our own size.
      limit = Math.min(Math.max(ednsSize, 512), OUR_UDP_SIZE);
      // RFC 6891 §6.1.3: a version we do not implement is BADVERS, with our OPT (version 0).
      if (ednsVersion !== 0) return this.respond(b, off, qend, RCODE.BADVERS, false, dnssecOk ? 1 : 0, counters);
    }
    const opt = edns ? (dnssecOk ? 1 : 0) : -1;
    if (tcp) limit = 65535; // RFC 1035 §4.2.2: TCP messages carry a 16-bit length
    if (limit > room) limit = room;
    if (qclass !== 1) return this.respond(b, off, qend, RCODE.REFUSED, false, opt, counters);
    if (qtype === T.OPT) return this.respond(b, off, qend, RCODE.FORMERR, false, opt, counters);
    const q = off + 12;
    let a: Answer | undefined;
    const node = this.table.get(b, q, qnameLen);
    if (node) {
      a = qtype === T.ANY ? node.any : node.byType.get(qtype) ?? node.other;
    } else {
      // The closest existing ancestor decides: a wildcard, a referral, or NXDOMAIN.
      let s = q;
      while (b[s] !== 0) {
        s += b[s] + 1;
        const up = this.table.get(b, s, qnameLen - (s - q));
        if (up) {
          a = qtype === T.ANY ? up.below.any : up.below.byType.get(qtype) ?? up.below.other;
          break;
        }
      }
    }
    if (!a) return this.respond(b, off, qend, RCODE.REFUSED, false, opt, counters);
    return this.write(b, off, qend, a, limit, opt, counters);
  }

  /** Header-only answer (no question): NOTIMP for other opcodes, FORMERR for QDCOUNT ≠ 1. */
  private bare(b: Uint8Array, off: number, rcode: number, counters: Float64Array): number {
    // QR, the opcode and RD kept (RFC 1035 §4.1.1), every count zero.
    b[off + 2] = 0x80 | (b[off + 2] & 0x79);
    b[off + 3] = rcode;
    for (let i = 4; i < 12; i++) b[off + i] = 0;
    counters[rcode === RCODE.NOTIMP ? C.NOTIMP : C.FORMERR]++;
    return 12;
  }

  /** A response with the question and nothing else (plus our OPT when `opt` ≥ 0: its DO bit). */
  private respond(b: Uint8Array, off: number, qend: number, rcode: number, aa: boolean, opt: number, counters: Float64Array): number {
    this.header(b, off, rcode & 0x0f, aa, false, 0, 0, opt >= 0 ? 1 : 0);
    counters[rcode === RCODE.BADVERS ? C.BADVERS : rcode]++;
    return qend - off + (opt >= 0 ? this.opt(b, qend, rcode >> 4, opt) : 0);
  }

  private header(b: Uint8Array, off: number, rcode: number, aa: boolean, tc: boolean, an: number, ns: number, ar: number): void {
    // The opcode and RD are copied (RFC 1035 §4.1.1); AD and CD are a validator's, cleared as Knot does.
    const flags = ((b[off + 2] << 8) | b[off + 3]) & ((0x0f << 11) | F.RD);
    const f = flags | F.QR | (aa ? F.AA : 0) | (tc ? F.TC : 0) | rcode;
    b[off + 2] = f >> 8;
    b[off + 3] = f & 0xff;
    b[off + 4] = 0;
    b[off + 5] = 1;
    b[off + 6] = an >> 8;
    b[off + 7] = an & 0xff;
    b[off + 8] = ns >> 8;
    b[off + 9] = ns & 0xff;
    b[off + 10] = ar >> 8;
    b[off + 11] = ar & 0xff;
  }

  /** Our OPT (RFC 6891 §6.1.2): root owner, our UDP size, extended rcode, version 0, DO echoed (RFC 3225 §3). */
  private opt(b: Uint8Array, at: number, extRcode: number, dnssecOk: number): number {
    b[at] = 0;
    b[at + 1] = 0;
    b[at + 2] = T.OPT;
    b[at + 3] = OUR_UDP_SIZE >> 8;
    b[at + 4] = OUR_UDP_SIZE & 0xff;
    b[at + 5] = extRcode;
    b[at + 6] = 0;
    b[at + 7] = dnssecOk ? 0x80 : 0;
    b[at + 8] = 0;
    b[at + 9] = 0;
    b[at + 10] = 0;
    return 11;
  }

  private write(b: Uint8Array, off: number, qend: number, a: Answer, limit: number, opt: number, counters: Float64Array): number {
    const optLen = opt >= 0 ? 11 : 0;
    const base = qend - off;
    const avail = limit - base - optLen;
    const required = a.prefix[0].length;
    if (required > avail || (a.glue && a.prefix[a.ar].length > avail)) {
      // RFC 2181 §9: what does not fit is not sent; TC tells the client to retry over TCP.
      this.header(b, off, a.rcode, a.aa, true, 0, 0, optLen ? 1 : 0);
      counters[C.TRUNCATED]++;
      counters[a.rcode]++;
      return base + (optLen ? this.opt(b, qend, 0, opt) : 0);
    }
    // Additional RRs that do not fit are left out without TC (RFC 2181 §9).
    let k = a.ar;
    while (a.prefix[k].length > avail) k--;
    const blob = a.prefix[k];
    b.set(blob, qend);
    const relocs = a.relocs, n = blob.length;
    for (let i = 0; i < relocs.length; i++) {
      const r = relocs[i];
      if (r >= n) continue;
      const x = qend + r;
      const v = (((b[x] & 0x3f) << 8) | b[x + 1]) + base;
      b[x] = 0xc0 | (v >> 8);
      b[x + 1] = v & 0xff;
    }
    this.header(b, off, a.rcode, a.aa, false, a.an, a.ns, k + (optLen ? 1 : 0));
    counters[a.rcode]++;
    if (a.rcode === 0 && a.an === 0 && a.ns > 0 && a.aa) counters[C.NODATA]++;
    return base + n + (optLen ? this.opt(b, qend + n, 0, opt) : 0);
  }
}
