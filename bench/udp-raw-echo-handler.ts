/**
 * A second raw peer for bench/udp's host-layer cost: a packet handler that is
 * itself a UDP echo for the null run's frames (untagged IPv4, 20-byte header).
 * It does the least a correct echo must: swap the Ethernet addresses, the IP
 * addresses and the UDP ports. Swapping leaves both checksums right (a one's-
 * complement sum does not depend on the order of its words, RFC 1071), so it
 * computes none, and it checks nothing: no version, length or checksum, no
 * demultiplexing. The host layer does all of those; the difference between the
 * two is what they cost.
 */
import type { PacketBatch } from '../src/index.js';

function swap(u8: Uint8Array, a: number, b: number, n: number): void {
  for (let k = 0; k < n; k++) {
    const t = u8[a + k]!;
    u8[a + k] = u8[b + k]!;
    u8[b + k] = t;
  }
}

export default function rawEcho(batch: PacketBatch): void {
  const u8 = batch.bytes;
  for (let i = 0; i < batch.count; i++) {
    const o = batch.offset(i);
    swap(u8, o, o + 6, 6); // Ethernet destination and source (IEEE 802.3 clause 3.2)
    swap(u8, o + 26, o + 30, 4); // IPv4 source and destination (RFC 791 section 3.1)
    swap(u8, o + 34, o + 36, 2); // UDP source and destination ports (RFC 768)
    batch.reply(i);
  }
}
