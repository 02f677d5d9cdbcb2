/**
 * DNS wire format pieces (RFC 1035 §4): type and rcode numbers, names in wire
 * form, and the writer that lays out precompiled sections with name
 * compression (§4.1.4). The writer runs at load time only.
 */

/** A domain name in wire form: length-prefixed labels ending with the root's 0. */
export type Name = Uint8Array;

/** RR types (RFC 1035 §3.2.2, RFC 3596, RFC 2782, RFC 6891, RFC 8659) and QTYPEs (§3.2.3). */
export const T = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41, DS: 43,
  IXFR: 251, AXFR: 252, ANY: 255, CAA: 257,
} as const;

export const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(T).map(([k, v]) => [v, k]));

/** RCODEs (RFC 1035 §4.1.1, RFC 6891 §9 for BADVERS = 16, carried in the OPT's extended rcode). */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

/** Header flag bits in bytes 2..3 (RFC 1035 §4.1.1; AD and CD from RFC 4035 §3.2). */
export const F = { QR: 0x8000, AA: 0x0400, TC: 0x0200, RD: 0x0100, RA: 0x0080, AD: 0x0020, CD: 0x0010 } as const;

/** ASCII lower case of one byte (RFC 4343: names compare case-insensitively in ASCII only). */
export const lower = (c: number) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);

export function lowerName(n: Name): Name {
  return n.map(lower);
}

/** Wire name to presentation text (for messages and tests). */
export function nameToText(n: Name): string {
  if (n.length === 1) return '.';
  let s = '', i = 0;
  while (n[i] !== 0) {
    const len = n[i];
    for (let j = i + 1; j <= i + len; j++) {
      const c = n[j];
      if (c === 0x2e || c === 0x5c || c === 0x22 || c === 0x3b || c === 0x28 || c === 0x29) s += `\\${String.fromCharCode(c)}`;
      else if (c <= 0x20 || c >= 0x7f) s += `\\${String(c).padStart(3, '0')}`;
      else s += String.fromCharCode(c);
    }
    s += '.';
    i += len + 1;
  }
  return s;
}

/** The offsets at which each suffix of `n` starts (the name itself first, the root last). */
export function suffixOffsets(n: Name): number[] {
  const out: number[] = [];
  let i = 0;
  while (n[i] !== 0) {
    out.push(i);
    i += n[i] + 1;
  }
  out.push(i);
  return out;
}

/** `child` is `parent` or below it (both lower-case wire names). */
export function isSubdomain(child: Name, parent: Name): boolean {
  if (child.length < parent.length) return false;
  const off = child.length - parent.length;
  // The suffix must start at a label boundary.
  if (!suffixOffsets(child).includes(off)) return false;
  for (let i = 0; i < parent.length; i++) if (child[off + i] !== parent[i]) return false;
  return true;
}

/** Parent of a wire name (one label off), or undefined for the root. */
export function parentName(n: Name): Name | undefined {
  return n[0] === 0 ? undefined : n.subarray(n[0] + 1);
}

/** A resource record ready to be written: owner, type, TTL and RDATA parts. */
export interface WireRR {
  /** The owner, or 'qname' for "the name in the question" (a pointer to offset 12: wildcard answers). */
  owner: Name | 'qname';
  type: number;
  ttl: number;
  rdata: (Uint8Array | { name: Name; compress: boolean })[];
}

/**
 * Writes RRs after a question with name compression (RFC 1035 §4.1.4). Pointers
 * to names written in this blob are relative to the blob and listed in
 * `relocs` (the server adds the blob's position in the message); pointers into
 * the question (offset 12 onward) are absolute. The question is `qname` (known
 * at load for exact matches), or only 'qname' owners point at it (wildcards).
 */
export class SectionWriter {
  private bytes: number[] = [];
  readonly relocs: number[] = [];
  /** lower-case suffix text (joined bytes) -> where it is: absolute (question) or blob-relative. */
  private known = new Map<string, { at: number; rel: boolean }>();

  constructor(qname: Name | undefined) {
    if (qname) for (const s of suffixOffsets(qname)) if (qname[s] !== 0) this.known.set(lowerName(qname.subarray(s)).join(','), { at: 12 + s, rel: false });
  }

  get length(): number {
    return this.bytes.length;
  }

  private name(n: Name | 'qname', compress: boolean): void {
    if (n === 'qname') {
      this.bytes.push(0xc0, 12);
      return;
    }
    const sufs = suffixOffsets(n);
    for (const s of sufs) {
      if (n[s] === 0) break;
      const key = lowerName(n.subarray(s)).join(',');
      const hit = compress ? this.known.get(key) : undefined;
      if (hit) {
        if (hit.rel) this.relocs.push(this.bytes.length);
        this.bytes.push(0xc0 | (hit.at >> 8), hit.at & 0xff);
        return;
      }
      // Pointers reach 14 bits (RFC 1035 §4.1.4); blob offsets stay far below in a UDP answer.
      if (!this.known.has(key) && this.bytes.length < 0x3000) this.known.set(key, { at: this.bytes.length, rel: true });
      for (let j = s; j <= s + n[s]; j++) this.bytes.push(n[j]);
    }
    this.bytes.push(0);
  }

  rr(r: WireRR): void {
    this.name(r.owner, true);
    this.bytes.push(r.type >> 8, r.type & 0xff, 0, 1, r.ttl >>> 24, (r.ttl >>> 16) & 0xff, (r.ttl >>> 8) & 0xff, r.ttl & 0xff);
    const lenAt = this.bytes.length;
    this.bytes.push(0, 0);
    for (const p of r.rdata) {
      if (p instanceof Uint8Array) for (const b of p) this.bytes.push(b);
      else this.name(p.name, p.compress);
    }
    const len = this.bytes.length - lenAt - 2;
    this.bytes[lenAt] = len >> 8;
    this.bytes[lenAt + 1] = len & 0xff;
  }

  result(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}
