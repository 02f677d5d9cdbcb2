// An independent model of software RSS, to predict which rx queue a frame
// lands on: the Toeplitz hash (Microsoft RSS specification, "Verifying the RSS
// Hash Calculation"), over source address, destination address, source port,
// destination port (ports only for UDP/TCP, not later IPv4 fragments), then a
// 128-entry redirection table filled round-robin (entry i -> queue i % queues).
import { layout } from './pcap.js';

/** The key of the Microsoft RSS specification. */
export const MS_RSS_KEY = Uint8Array.from([
  0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb,
  0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
]);

/** Bit-by-bit Toeplitz: for every set input bit i, XOR in the 32 key bits starting at bit i. */
export function toeplitz(key: Uint8Array, input: Uint8Array): number {
  const bit = (i: number) => (i >> 3 < key.length ? (key[i >> 3]! >> (7 - (i & 7))) & 1 : 0);
  let h = 0;
  for (let i = 0; i < input.length * 8; i++) {
    if ((input[i >> 3]! >> (7 - (i & 7))) & 1) {
      let w = 0;
      for (let j = 0; j < 32; j++) w = ((w << 1) | bit(i + j)) >>> 0;
      h = (h ^ w) >>> 0;
    }
  }
  return h >>> 0;
}

function cmp(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** The hash input of a frame (empty for non-IP). */
export function rssInput(f: Uint8Array, symmetric: boolean): Uint8Array {
  const l = layout(f);
  if (l.ipVersion === 0) return new Uint8Array(0);
  const alen = l.ipVersion === 4 ? 4 : 16;
  const aoff = l.ipVersion === 4 ? 12 : 8;
  let src = f.subarray(l.l3 + aoff, l.l3 + aoff + alen);
  let dst = f.subarray(l.l3 + aoff + alen, l.l3 + aoff + 2 * alen);
  let sp = l.udp >= 0 ? f.subarray(l.udp, l.udp + 2) : undefined;
  let dp = l.udp >= 0 ? f.subarray(l.udp + 2, l.udp + 4) : undefined;
  if (symmetric) {
    let c = cmp(src, dst);
    if (c === 0 && sp && dp) c = cmp(sp, dp);
    if (c > 0) {
      [src, dst] = [dst, src];
      [sp, dp] = [dp, sp];
    }
  }
  const out = new Uint8Array(2 * alen + (sp ? 4 : 0));
  out.set(src, 0);
  out.set(dst, alen);
  if (sp && dp) {
    out.set(sp, 2 * alen);
    out.set(dp, 2 * alen + 2);
  }
  return out;
}

/** The rx queue software RSS gives a frame. */
export function rssQueue(f: Uint8Array, queues: number, symmetric = false, key: Uint8Array = MS_RSS_KEY): number {
  const input = rssInput(f, symmetric);
  const h = input.length ? toeplitz(key, input) : 0;
  return (h & 127) % queues;
}
