/**
 * Ethernet II (IEEE 802.3 clause 3) and 802.1Q (clause 9.3) reads on a byte
 * array at an offset. Every function works in place and allocates nothing, so
 * they are safe on the per-packet fast path of a handler.
 */

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;

/** Ethertype of the frame at `off`, after one 802.1Q tag if present. */
export function etherType(b: Uint8Array, off: number): number {
  const t = (b[off + 12] << 8) | b[off + 13];
  return t === ETHERTYPE_VLAN ? (b[off + 16] << 8) | b[off + 17] : t;
}

/** Offset of the L3 header (14, or 18 behind one 802.1Q tag), from `off`. */
export function l3Offset(b: Uint8Array, off: number): number {
  return ((b[off + 12] << 8) | b[off + 13]) === ETHERTYPE_VLAN ? off + 18 : off + 14;
}

/** Swaps destination and source MAC addresses in place. */
export function swapMacs(b: Uint8Array, off: number): void {
  for (let k = 0; k < 6; k++) {
    const t = b[off + k];
    b[off + k] = b[off + 6 + k];
    b[off + 6 + k] = t;
  }
}
