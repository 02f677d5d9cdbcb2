/**
 * RFC 1035 §5 master files: $ORIGIN, $TTL (RFC 2308 §4), `@`, relative names,
 * owners inherited from the previous line, parentheses across lines, `;`
 * comments, quoted strings and the `\X` / `\DDD` escapes (§5.1). The types an
 * authoritative server of this example serves are SOA, NS, A, AAAA, CNAME, MX,
 * TXT, SRV, PTR and CAA; anything else is refused at load with its line.
 * Control path only: this allocates freely.
 */
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { parseIp } from '../../src/host/address.js';
import { T, TYPE_NAMES, type Name, nameToText } from './wire.js';

/** Why a zone could not be loaded. */
export type ZoneErrorCode = 'ZONE_SYNTAX' | 'ZONE_UNSUPPORTED' | 'ZONE_SEMANTIC' | 'ZONE_IO';

/** A zone file that cannot be served: names the file, the line (0 when not one line's fault) and the reason. */
export class ZoneError extends Error {
  constructor(
    readonly code: ZoneErrorCode,
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${reason}`);
    this.name = 'ZoneError';
  }
}

/** A piece of RDATA: raw bytes, or a domain name (compressible where RFC 3597 §4 allows: NS, CNAME, PTR, MX, SOA). */
export type RdPart = Uint8Array | { name: Name; compress: boolean };

export interface ZoneRecord {
  /** Owner in wire form, as written (case kept). */
  owner: Name;
  type: number;
  ttl: number;
  rdata: RdPart[];
  line: number;
}

export interface Zone {
  file: string;
  origin: Name;
  records: ZoneRecord[];
}

interface Token {
  text: string;
  /** The token was a quoted string (so "@" or ";" inside it are data). */
  quoted: boolean;
}

interface Line {
  tokens: Token[];
  /** The line began with blank space: the owner is the previous one (RFC 1035 §5.1). */
  blankOwner: boolean;
  line: number;
}

/** Splits the text into logical lines (parentheses join physical lines); escapes stay in the token text. */
function* lines(text: string, file: string): Generator<Line> {
  let i = 0, lineNo = 1;
  const n = text.length;
  while (i < n) {
    const start = lineNo;
    const tokens: Token[] = [];
    const blankOwner = text[i] === ' ' || text[i] === '\t';
    let depth = 0;
    for (;;) {
      if (i >= n) break;
      const c = text[i];
      if (c === '\n') {
        lineNo++;
        i++;
        if (depth === 0) break;
        continue;
      }
      if (c === ' ' || c === '\t' || c === '\r') { i++; continue; }
      if (c === ';') { while (i < n && text[i] !== '\n') i++; continue; }
      if (c === '(') { depth++; i++; continue; }
      if (c === ')') {
        if (depth === 0) throw new ZoneError('ZONE_SYNTAX', file, lineNo, "')' without '('");
        depth--; i++; continue;
      }
      if (c === '"') {
        let s = '';
        i++;
        for (;;) {
          if (i >= n) throw new ZoneError('ZONE_SYNTAX', file, start, 'unterminated quoted string');
          const d = text[i];
          if (d === '"') { i++; break; }
          if (d === '\\' && i + 1 < n) { s += d + text[i + 1]; i += 2; continue; }
          if (d === '\n') lineNo++;
          s += d;
          i++;
        }
        tokens.push({ text: s, quoted: true });
        continue;
      }
      let s = '';
      while (i < n) {
        const d = text[i];
        if (d === ' ' || d === '\t' || d === '\r' || d === '\n' || d === ';' || d === '(' || d === ')' || d === '"') break;
        if (d === '\\' && i + 1 < n) { s += d + text[i + 1]; i += 2; continue; }
        s += d;
        i++;
      }
      tokens.push({ text: s, quoted: false });
    }
    if (depth > 0) throw new ZoneError('ZONE_SYNTAX', file, start, "'(' without ')'");
    if (tokens.length) yield { tokens, blankOwner, line: start };
  }
}

/** Text with RFC 1035 §5.1 escapes to bytes: `\X` is X, `\DDD` the octet DDD. Returns the bytes and whether a byte was escaped at each index. */
function unescape(s: string, err: (r: string) => never): { bytes: number[]; escaped: boolean[] } {
  const bytes: number[] = [], escaped: boolean[] = [];
  const utf8 = Buffer.from(s, 'utf8');
  for (let i = 0; i < utf8.length; i++) {
    const c = utf8[i];
    if (c !== 0x5c) { bytes.push(c); escaped.push(false); continue; }
    if (i + 1 >= utf8.length) err('a lone backslash at the end of a token');
    const d = utf8[i + 1];
    if (d >= 0x30 && d <= 0x39) {
      const ddd = utf8.subarray(i + 1, i + 4).toString('latin1');
      if (!/^[0-9]{3}$/.test(ddd) || Number(ddd) > 255) err(`bad escape \\${ddd}: \\DDD is three decimal digits up to 255`);
      bytes.push(Number(ddd));
      i += 3;
    } else {
      bytes.push(d);
      i += 1;
    }
    escaped.push(true);
  }
  return { bytes, escaped };
}

/** A domain name from master-file text: absolute when it ends in an unescaped '.', else relative to `origin`. */
export function parseName(text: string, origin: Name | undefined, err: (r: string) => never): Name {
  if (text === '@') {
    if (!origin) err("'@' used before any $ORIGIN");
    return origin;
  }
  if (text === '.') return Uint8Array.of(0);
  const { bytes, escaped } = unescape(text, err);
  const labels: number[][] = [[]];
  let absolute = false;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0x2e && !escaped[i]) {
      if (labels[labels.length - 1].length === 0) err(`empty label in '${text}'`);
      if (i === bytes.length - 1) { absolute = true; break; }
      labels.push([]);
    } else labels[labels.length - 1].push(bytes[i]);
  }
  const out: number[] = [];
  for (const l of labels) {
    if (l.length > 63) err(`label longer than 63 octets in '${text}' (RFC 1035 §2.3.4)`);
    out.push(l.length, ...l);
  }
  if (!absolute) {
    if (!origin) err(`relative name '${text}' before any $ORIGIN`);
    out.push(...origin);
  } else out.push(0);
  if (out.length > 255) err(`name '${text}' is longer than 255 octets (RFC 1035 §2.3.4)`);
  return Uint8Array.from(out);
}

/** A TTL: seconds, or BIND's units (1w2d3h4m5s). RFC 2181 §8: 0..2^31-1. */
function parseTtl(text: string): number | undefined {
  if (/^[0-9]+$/.test(text)) {
    const v = Number(text);
    return v <= 0x7fffffff ? v : undefined;
  }
  const m = /^([0-9]+[wdhms])+$/i.test(text) ? text.toLowerCase().match(/[0-9]+[wdhms]/g) : null;
  if (!m) return undefined;
  const unit: Record<string, number> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };
  const v = m.reduce((a, p) => a + Number(p.slice(0, -1)) * unit[p[p.length - 1]], 0);
  return v <= 0x7fffffff ? v : undefined;
}

const u16 = (v: number) => Uint8Array.of(v >> 8, v & 0xff);
const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);

function charString(tok: Token, err: (r: string) => never): Uint8Array {
  const { bytes } = unescape(tok.text, err);
  if (bytes.length > 255) err(`character-string longer than 255 octets (RFC 1035 §3.3)`);
  return Uint8Array.from([bytes.length, ...bytes]);
}

function int(text: string, max: number, what: string, err: (r: string) => never): number {
  if (!/^[0-9]+$/.test(text) || Number(text) > max) err(`${what} must be a number in 0..${max}, got '${text}'`);
  return Number(text);
}

/** RDATA of one record from its tokens (RFC 1035 §3.3, RFC 3596, RFC 2782, RFC 8659). */
function rdata(type: number, t: Token[], origin: Name | undefined, err: (r: string) => never): RdPart[] {
  const want = (n: number) => {
    if (t.length !== n) err(`${TYPE_NAMES[type]} takes ${n} field(s), got ${t.length}`);
  };
  const name = (tok: Token, compress: boolean) => ({ name: parseName(tok.text, origin, err), compress });
  switch (type) {
    case T.A:
      want(1);
      if (!isIPv4(t[0].text)) err(`'${t[0].text}' is not an IPv4 address`);
      return [parseIp(t[0].text, 'A').bytes];
    case T.AAAA:
      want(1);
      if (!isIPv6(t[0].text)) err(`'${t[0].text}' is not an IPv6 address`);
      return [parseIp(t[0].text, 'AAAA').bytes];
    case T.NS:
    case T.CNAME:
    case T.PTR:
      want(1);
      return [name(t[0], true)];
    case T.MX:
      want(2);
      return [u16(int(t[0].text, 0xffff, 'MX preference', err)), name(t[1], true)];
    case T.SRV:
      // RFC 2782: the target is not compressed.
      want(4);
      return [u16(int(t[0].text, 0xffff, 'SRV priority', err)), u16(int(t[1].text, 0xffff, 'SRV weight', err)), u16(int(t[2].text, 0xffff, 'SRV port', err)), name(t[3], false)];
    case T.SOA: {
      want(7);
      const nums = t.slice(2).map((x, i) => {
        const v = i === 0 ? (/^[0-9]+$/.test(x.text) && Number(x.text) <= 0xffffffff ? Number(x.text) : undefined) : parseTtl(x.text);
        if (v === undefined) err(`SOA ${['serial', 'refresh', 'retry', 'expire', 'minimum'][i]} '${x.text}' is not a valid number`);
        return u32(v);
      });
      return [name(t[0], true), name(t[1], true), ...nums];
    }
    case T.TXT:
      if (t.length === 0) err('TXT needs at least one character-string');
      return [Uint8Array.from(t.flatMap((x) => [...charString(x, err)]))];
    case T.CAA: {
      // RFC 8659 §4.1: flags, tag (letters and digits), value (the rest, no length byte).
      want(3);
      const flags = int(t[0].text, 255, 'CAA flags', err);
      if (!/^[A-Za-z0-9]{1,15}$/.test(t[1].text)) err(`CAA tag '${t[1].text}' must be 1-15 letters and digits`);
      const value = unescape(t[2].text, err).bytes;
      return [Uint8Array.from([flags, t[1].text.length, ...Buffer.from(t[1].text, 'ascii'), ...value])];
    }
  }
  return err(`type ${TYPE_NAMES[type] ?? type} is not supported`);
}

const CLASSES = new Set(['IN', 'CH', 'HS', 'CS']);

/** Parses master-file text. `file` names it in errors; `origin` is the starting $ORIGIN (text, absolute). */
export function parseZone(text: string, file: string, origin?: string): Zone {
  let org: Name | undefined = origin !== undefined ? parseName(origin.endsWith('.') ? origin : `${origin}.`, undefined, (r) => {
    throw new ZoneError('ZONE_SYNTAX', file, 0, r);
  }) : undefined;
  const zoneOrigin = () => org;
  let defaultTtl: number | undefined, lastTtl: number | undefined;
  let owner: Name | undefined;
  const records: ZoneRecord[] = [];
  for (const l of lines(text, file)) {
    const err = (r: string): never => {
      throw new ZoneError('ZONE_SYNTAX', file, l.line, r);
    };
    const toks = l.tokens;
    const first = toks[0];
    if (!first.quoted && first.text.startsWith('$')) {
      const d = first.text.toUpperCase();
      if (d === '$ORIGIN') {
        if (toks.length !== 2) err('$ORIGIN takes one absolute name');
        if (!toks[1].text.endsWith('.')) err(`$ORIGIN '${toks[1].text}' must be absolute (end in '.')`);
        org = parseName(toks[1].text, undefined, err);
      } else if (d === '$TTL') {
        if (toks.length !== 2) err('$TTL takes one TTL');
        const v = parseTtl(toks[1].text);
        if (v === undefined) err(`$TTL '${toks[1].text}' is not a TTL`);
        defaultTtl = v;
      } else {
        throw new ZoneError('ZONE_UNSUPPORTED', file, l.line, `directive ${first.text} is not supported (only $ORIGIN and $TTL)`);
      }
      continue;
    }
    let k = 0;
    if (!l.blankOwner) {
      owner = parseName(toks[0].text, zoneOrigin(), err);
      k = 1;
    } else if (!owner) err('a record without an owner (the first record must name one)');
    let ttl: number | undefined;
    let klass = 'IN';
    for (let j = 0; j < 2 && k < toks.length; j++) {
      const w = toks[k].text;
      const asTtl = parseTtl(w);
      if (ttl === undefined && asTtl !== undefined && !toks[k].quoted) { ttl = asTtl; k++; continue; }
      if (CLASSES.has(w.toUpperCase())) { klass = w.toUpperCase(); k++; continue; }
      break;
    }
    if (k >= toks.length) err('a record without a type');
    if (klass !== 'IN') throw new ZoneError('ZONE_UNSUPPORTED', file, l.line, `class ${klass} is not supported (only IN)`);
    const typeText = toks[k].text.toUpperCase();
    const type = T[typeText as keyof typeof T];
    if (type === undefined || type === T.OPT || type === T.ANY || type === T.AXFR || type === T.IXFR) {
      throw new ZoneError('ZONE_UNSUPPORTED', file, l.line, `type ${toks[k].text} is not supported (SOA, NS, A, AAAA, CNAME, MX, TXT, SRV, PTR, CAA)`);
    }
    const rd = rdata(type, toks.slice(k + 1), zoneOrigin(), err);
    if (ttl === undefined) {
      // RFC 2308 §4: $TTL is the default; before it, the last stated TTL (RFC 1035 §5.1), or the SOA minimum.
      ttl = defaultTtl ?? lastTtl;
      if (ttl === undefined && type === T.SOA) ttl = new DataView((rd[6] as Uint8Array).buffer).getUint32(0);
      if (ttl === undefined) err('no TTL: give the record one, or put $TTL before it');
    } else lastTtl = ttl;
    records.push({ owner: owner!, type, ttl: ttl!, rdata: rd, line: l.line });
  }
  const soa = records.filter((r) => r.type === T.SOA);
  if (soa.length !== 1) throw new ZoneError('ZONE_SEMANTIC', file, soa[1]?.line ?? 0, `a zone has exactly one SOA record, this file has ${soa.length}`);
  return { file, origin: soa[0].owner, records };
}

/** Reads and parses a zone file; every failure is a ZoneError naming the file. */
export function loadZoneFile(file: string, origin?: string): Zone {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ZoneError('ZONE_IO', file, 0, `cannot read it: ${(e as Error).message}`);
  }
  return parseZone(text, file, origin);
}

export { nameToText };
