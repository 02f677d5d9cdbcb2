/**
 * Load time: turns parsed zones into precompiled answers, the way Knot DNS and
 * NSD answer (RFC 1034 §4.3.2's algorithm): authoritative data, CNAME chains
 * inside the zone, wildcards (RFC 4592), referrals with glue at zone cuts,
 * empty non-terminals (NODATA), NXDOMAIN/NODATA with the SOA in authority at
 * the negative TTL (RFC 2308 §3, §5), ANY answered with one RRset (RFC 8482 §4.2).
 * Every answer is the bytes that follow the question, compiled once.
 */
import { isSubdomain, lowerName, parentName, SectionWriter, T, type Name, type WireRR } from './wire.js';
import { ZoneError, type Zone, type ZoneRecord } from './zone.js';

/** One precompiled answer: what follows the question. */
export interface Answer {
  rcode: number;
  aa: boolean;
  an: number;
  ns: number;
  /** Additional RRs (cut from the end when they do not fit, unless `glue`). */
  ar: number;
  /** The answer, authority and k additional RRs: prefix[k] (subarrays made at load, so the server copies without allocating). */
  prefix: Uint8Array[];
  /** Positions of blob-relative compression pointers (the server adds the blob's offset). */
  relocs: Uint16Array;
  /** A referral: its glue must fit, or the answer is truncated (RFC 9471). */
  glue: boolean;
}

/** A name of the table: answers by QTYPE, `other` for the rest, and `wild` when it is a wildcard's closest encloser. */
export interface Node {
  byType: Map<number, Answer>;
  other: Answer;
  any: Answer;
  /** For names below it that do not exist: the wildcard's synthesized answers, a referral, or NXDOMAIN. */
  below: { byType: Map<number, Answer>; other: Answer; any: Answer };
}

interface ZNode {
  name: Name; // lower case
  rrsets: Map<number, ZoneRecord[]>;
}

interface Result {
  rcode: number;
  aa: boolean;
  an: WireRR[];
  ns: WireRR[];
  ar: WireRR[];
  glue: boolean;
}

const key = (n: Name) => Buffer.from(n).toString('latin1');

class ZoneData {
  readonly apex: Name;
  readonly nodes = new Map<string, ZNode>();
  readonly soa: WireRR;
  readonly negTtl: number;

  constructor(readonly zone: Zone) {
    this.apex = lowerName(zone.origin);
    for (const r of zone.records) {
      const n = lowerName(r.owner);
      if (!isSubdomain(n, this.apex)) throw new ZoneError('ZONE_SEMANTIC', zone.file, r.line, 'the owner is outside the zone');
      const node = this.node(n, true)!;
      const set = node.rrsets.get(r.type);
      const same = (a: ZoneRecord, b: ZoneRecord) => JSON.stringify(a.rdata.map(flat)) === JSON.stringify(b.rdata.map(flat));
      if (!set) {
        node.rrsets.set(r.type, [r]);
      } else if (!set.some((x) => same(x, r))) set.push({ ...r, ttl: set[0].ttl }); // RFC 2181 §5.2: one TTL per RRset
      // Empty non-terminals: every name between the apex and this one exists.
      for (let p = parentName(n); p && isSubdomain(p, this.apex) && !this.nodes.has(key(p)); p = parentName(p)) this.node(p, true);
    }
    for (const node of this.nodes.values()) {
      const cname = node.rrsets.get(T.CNAME);
      if (cname && node.rrsets.size > 1) throw new ZoneError('ZONE_SEMANTIC', zone.file, cname[0].line, 'a CNAME cannot coexist with other data (RFC 1034 §3.6.2)');
      if (cname && cname.length > 1) throw new ZoneError('ZONE_SEMANTIC', zone.file, cname[1].line, 'a name has at most one CNAME (RFC 2181 §10.1)');
    }
    const apexNode = this.nodes.get(key(this.apex))!;
    if (!apexNode.rrsets.get(T.SOA)) throw new ZoneError('ZONE_SEMANTIC', zone.file, 0, 'the SOA must be at the zone apex');
    if (!apexNode.rrsets.get(T.NS)) throw new ZoneError('ZONE_SEMANTIC', zone.file, 0, 'the zone apex has no NS records');
    const soa = apexNode.rrsets.get(T.SOA)![0];
    const min = new DataView((soa.rdata[6] as Uint8Array).slice().buffer).getUint32(0);
    // RFC 2308 §3: the SOA in a negative answer has the TTL min(SOA TTL, SOA MINIMUM).
    this.negTtl = Math.min(soa.ttl, min);
    this.soa = { owner: soa.owner, type: T.SOA, ttl: this.negTtl, rdata: soa.rdata };
  }

  node(n: Name, create = false): ZNode | undefined {
    let x = this.nodes.get(key(n));
    if (!x && create) this.nodes.set(key(n), (x = { name: n, rrsets: new Map() }));
    return x;
  }

  /** The highest zone cut at or above `n` (below the apex), if any. */
  cut(n: Name): ZNode | undefined {
    let found: ZNode | undefined;
    for (let p: Name | undefined = n; p && p.length > this.apex.length; p = parentName(p)) {
      const x = this.nodes.get(key(p));
      if (x?.rrsets.has(T.NS)) found = x;
    }
    return found;
  }

  rrs(owner: Name | 'qname', set: ZoneRecord[]): WireRR[] {
    return set.map((r) => ({ owner: owner === 'qname' ? 'qname' : r.owner === undefined ? owner : owner, type: r.type, ttl: r.ttl, rdata: r.rdata }));
  }

  /** A/AAAA of names in this zone (glue included) for NS, MX and SRV targets: the additional section (RFC 1035 §3.3.9, §3.3.11, RFC 2782). */
  additional(sets: WireRR[], seen: Set<string>): WireRR[] {
    const out: WireRR[] = [];
    for (const r of sets) {
      const target = r.type === T.NS ? r.rdata[0] : r.type === T.MX ? r.rdata[1] : r.type === T.SRV ? r.rdata[3] : undefined;
      if (!target || target instanceof Uint8Array) continue;
      const t = lowerName(target.name);
      if (seen.has(key(t)) || !isSubdomain(t, this.apex)) continue;
      seen.add(key(t));
      const node = this.nodes.get(key(t));
      if (!node) continue;
      for (const ty of [T.A, T.AAAA]) {
        const s = node.rrsets.get(ty);
        if (s) out.push(...this.rrs(s[0].owner, s));
      }
    }
    return out;
  }

  referral(cut: ZNode): Result {
    const ns = this.rrs(cut.rrsets.get(T.NS)![0].owner, cut.rrsets.get(T.NS)!);
    return { rcode: 0, aa: false, an: [], ns, ar: this.additional(ns, new Set()), glue: true };
  }

  nodata(): Result {
    return { rcode: 0, aa: true, an: [], ns: [this.soa], ar: [], glue: false };
  }

  /**
   * RFC 1034 §4.3.2 for one name and QTYPE ('other': any type the name does
   * not have; 'any': QTYPE ANY). `owner` is what the answer's owner is written
   * as ('qname' for a synthesized wildcard answer).
   */
  resolve(n: Name, qtype: number | 'other' | 'any', owner: Name | 'qname', seen = new Set<string>()): Result {
    seen.add(key(n));
    const cut = this.cut(n);
    if (cut && !(qtype === T.DS && cut.name.length === n.length)) return this.referral(cut);
    let node = this.nodes.get(key(n));
    let own: Name | 'qname' = owner;
    if (!node) {
      // The closest encloser, then its wildcard (RFC 4592 §3.3.1).
      let ce: Name | undefined = parentName(n);
      while (ce && !this.nodes.has(key(ce))) ce = parentName(ce);
      const wild = ce ? this.nodes.get(key(Uint8Array.from([1, 0x2a, ...ce]))) : undefined;
      if (!wild) return { rcode: 3, aa: true, an: [], ns: [this.soa], ar: [], glue: false };
      node = wild;
      own = owner;
    }
    const cname = node.rrsets.get(T.CNAME);
    if (cname && qtype !== T.CNAME) {
      const an = this.rrs(own === 'qname' ? 'qname' : own, cname);
      const target = lowerName((cname[0].rdata[0] as { name: Name }).name);
      // A chain is followed inside the zone, each name once (a loop ends where it closes), at most 16 links.
      if (qtype === 'any' || seen.size >= 16 || seen.has(key(target)) || !isSubdomain(target, this.apex)) return { rcode: 0, aa: true, an, ns: [], ar: [], glue: false };
      const rest = this.resolve(target, qtype, (cname[0].rdata[0] as { name: Name }).name, seen);
      return { ...rest, aa: true, an: [...an, ...rest.an] };
    }
    if (qtype === 'any') {
      // RFC 8482 §4.2: one RRset of the name; the lowest type, as Knot picks.
      const ty = [...node.rrsets.keys()].sort((x, y) => x - y)[0];
      if (ty === undefined) return this.nodata();
      const an = this.rrs(own, node.rrsets.get(ty)!);
      return { rcode: 0, aa: true, an, ns: [], ar: [], glue: false };
    }
    const set = qtype === 'other' ? undefined : node.rrsets.get(qtype);
    if (!set) return this.nodata();
    const an = this.rrs(own, set);
    return { rcode: 0, aa: true, an, ns: [], ar: this.additional(an, new Set([key(n)])), glue: false };
  }
}

function flat(p: Uint8Array | { name: Name }): number[] {
  return p instanceof Uint8Array ? [...p] : [...lowerName(p.name)];
}

/** Lays out a result after a question `qname` (or an unknown one: undefined). */
export function compileResult(r: Result, qname: Name | undefined): Answer {
  const w = new SectionWriter(qname);
  for (const x of r.an) w.rr(x);
  for (const x of r.ns) w.rr(x);
  const ends = [w.length];
  for (const x of r.ar) {
    w.rr(x);
    ends.push(w.length);
  }
  const blob = w.result();
  return {
    rcode: r.rcode, aa: r.aa, an: r.an.length, ns: r.ns.length, ar: r.ar.length,
    prefix: ends.map((e) => blob.subarray(0, e)), relocs: Uint16Array.from(w.relocs), glue: r.glue,
  };
}

/** Every zone's names with their compiled answers, keyed by the lower-case wire name. */
export function compileZones(zones: Zone[]): Map<string, { name: Name; node: Node }> {
  const out = new Map<string, { name: Name; node: Node }>();
  // Parents first: a child zone served here too overrides its parent's delegation.
  const datas = zones.map((z) => new ZoneData(z)).sort((a, b) => a.apex.length - b.apex.length);
  for (const z of datas) {
    const zoneTypes = new Set<number>();
    for (const n of z.nodes.values()) for (const t of n.rrsets.keys()) zoneTypes.add(t);
    zoneTypes.add(T.DS);
    let nxdomain: Node['below'] | undefined;
    for (const n of z.nodes.values()) {
      // Types that can answer differently from 'other' at this name (a CNAME chain can reach any type of the zone).
      const types = n.rrsets.has(T.CNAME) || z.cut(n.name) ? zoneTypes : new Set(n.rrsets.keys());
      const byType = new Map<number, Answer>();
      for (const t of types) byType.set(t, compileResult(z.resolve(n.name, t, n.name), n.name));
      const other = compileResult(z.resolve(n.name, 'other', n.name), n.name);
      const any = compileResult(z.resolve(n.name, 'any', n.name), n.name);
      // Names below this one that do not exist: resolve a stand-in child (the answer does not depend on which).
      const probe = Uint8Array.from([1, 0, ...n.name]);
      const wild = z.nodes.get(key(Uint8Array.from([1, 0x2a, ...n.name])));
      const btypes = wild?.rrsets.has(T.CNAME) || z.cut(probe) ? zoneTypes : new Set(wild?.rrsets.keys() ?? []);
      let below: Node['below'];
      if (!wild && !z.cut(probe)) {
        // Plain NXDOMAIN below this name: the same bytes for every such name of the zone, compiled once.
        below = nxdomain ??= { byType: new Map(), other: compileResult(z.resolve(probe, 'other', 'qname'), undefined), any: compileResult(z.resolve(probe, 'any', 'qname'), undefined) };
      } else {
        const bByType = new Map<number, Answer>();
        for (const t of btypes) bByType.set(t, compileResult(z.resolve(probe, t, 'qname'), undefined));
        below = {
          byType: bByType,
          other: compileResult(z.resolve(probe, 'other', 'qname'), undefined),
          any: compileResult(z.resolve(probe, 'any', 'qname'), undefined),
        };
      }
      out.set(key(n.name), { name: n.name, node: { byType, other, any, below } });
    }
  }
  return out;
}
