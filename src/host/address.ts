/**
 * IPv4 and IPv6 addresses as the host layer takes them: text to bytes (RFC 4291
 * section 2.2 for IPv6 text forms, dotted quads for IPv4), CIDR prefixes, and back.
 * Control path only: these allocate.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { LinerateError } from '../errors.js';
import { describe } from '../option-check.js';

/** An address in wire form: 4 bytes (IPv4) or 16 (IPv6). */
export interface IpBytes {
  family: 4 | 6;
  bytes: Uint8Array;
}

function v4Bytes(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map((p) => Number(p)));
}

function v6Bytes(text: string): Uint8Array {
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups first.
  let t = text;
  const dot = t.lastIndexOf('.');
  if (dot >= 0) {
    const colon = t.lastIndexOf(':');
    const q = v4Bytes(t.slice(colon + 1));
    t = `${t.slice(0, colon + 1)}${((q[0] << 8) | q[1]).toString(16)}:${((q[2] << 8) | q[3]).toString(16)}`;
  }
  const [head, tail] = t.includes('::') ? t.split('::') : [t, undefined];
  const h = head ? head.split(':') : [];
  const tl = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - tl.length).fill('0'), ...tl];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[i * 2] = v >> 8;
    out[i * 2 + 1] = v & 0xff;
  });
  return out;
}

/** Parses an IPv4 or IPv6 address; throws INVALID_OPTION naming `what`. */
export function parseIp(text: unknown, what: string): IpBytes {
  if (typeof text === 'string') {
    const t = text.trim();
    if (isIPv4(t)) return { family: 4, bytes: v4Bytes(t) };
    const bare = t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1) : t;
    if (isIPv6(bare) && !bare.includes('%')) return { family: 6, bytes: v6Bytes(bare) };
  }
  throw new LinerateError('INVALID_OPTION', `${what}: ${describe(text)} is not an IPv4 or IPv6 address`);
}

/** Parses `ADDRESS/LEN` (LEN defaults to 32 or 128). */
export function parseCidr(text: unknown, what: string): IpBytes & { prefix: number } {
  if (typeof text !== 'string') throw new LinerateError('INVALID_OPTION', `${what}: expected 'ADDRESS/LEN', got ${typeof text}`);
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash), what);
  const max = ip.family === 4 ? 32 : 128;
  const prefix = slash < 0 ? max : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > max) {
    throw new LinerateError('INVALID_OPTION', `${what}: prefix length must be an integer in 1..${max}, got '${text.slice(slash + 1)}'`);
  }
  return { ...ip, prefix };
}

/** Formats wire bytes (4 or 16 of them, at `off`) as text: dotted quad, or RFC 5952's IPv6 form. */
export function formatIp(b: Uint8Array, off: number, family: 4 | 6): string {
  if (family === 4) return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[off + i * 2] << 8) | b[off + i * 2 + 1]);
  // The longest run of two or more zero groups becomes '::' (RFC 5952 section 4.2).
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** An IPv4 address as one unsigned number (198.18.0.9 -> 0xc6120009), as batch.srcIPv4() returns it. */
export function ipv4ToNumber(text: string): number {
  const { family, bytes } = parseIp(text, 'address');
  if (family !== 4) throw new LinerateError('INVALID_OPTION', `'${text}' is not an IPv4 address`);
  return ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
}

/** The dotted-quad text of an IPv4 address number. */
export function numberToIpv4(n: number): string {
  return `${(n >>> 24) & 0xff}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/** Parses `aa:bb:cc:dd:ee:ff`. */
export function parseMacBytes(text: unknown, what: string): Uint8Array {
  if (typeof text === 'string' && /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(text)) {
    return Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
  }
  throw new LinerateError('INVALID_OPTION', `${what}: ${describe(text)} is not a MAC address (aa:bb:cc:dd:ee:ff)`);
}
