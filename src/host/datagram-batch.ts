/**
 * DatagramBatch: what a host socket's handler sees. The same burst as a
 * {@link PacketBatch}, in the same shared memory, seen as UDP datagrams: payload
 * offset and length, the sender's address and port. The host layer checked
 * every header and checksum before the handler runs, and finishes the headers
 * (lengths, TTL, checksums, addresses) natively after it, so a handler touches
 * payloads only. Reused for every burst; nothing here allocates per packet
 * except {@link DatagramBatch.srcAddress} and string addresses in sendTo().
 */
import { LinerateError } from '../errors.js';
import type { PacketBatch } from '../handler/batch.js';
import { HOST_META, MBUF } from '../handler/layout.js';
import { formatIp, parseIp } from './address.js';

/** A host socket's handler: called once per burst of datagrams, synchronously. */
export type DatagramHandler = (batch: DatagramBatch) => void;

/** What a DatagramBatch needs to know about its socket and pool. @internal */
export interface DatagramContext {
  slotSize: number;
  socket: number;
  localPort: number;
  /** IP header offset in the frame: 14, or 18 on a VLAN. */
  l3: number;
  /** Family of alloc()'s packets when not given: 4 when the host has IPv4, else 6. */
  defaultFamily: 4 | 6;
  families: { 4: boolean; 6: boolean };
  /** Inline workers call the handler after empty polls too (HostUdpWorkerOptions.pollEmpty). */
  pollEmpty?: boolean;
}

const UDP = 8;

export class DatagramBatch {
  /** The whole mempool, as bytes: payloads are at bytes[payloadOffset(i) ..]. */
  readonly bytes: Uint8Array;
  /** The packet view of the same burst (whole frames; for what the datagram view does not cover). */
  readonly raw: PacketBatch;
  private readonly u8: Uint8Array;
  private readonly ctx: DatagramContext;
  private l4: Int32Array;
  private fam: Uint8Array;
  /** The host has one family: every datagram's family and offsets are the same, filled in once, never read per burst. */
  private readonly single: 4 | 6 | 0;

  /** @internal */
  constructor(raw: PacketBatch, ctx: DatagramContext) {
    this.raw = raw;
    this.bytes = raw.bytes;
    this.u8 = raw.bytes;
    this.ctx = ctx;
    this.single = ctx.families[4] && !ctx.families[6] ? 4 : ctx.families[6] && !ctx.families[4] ? 6 : 0;
    this.l4 = new Int32Array(0);
    this.fam = new Uint8Array(0);
    this.grow(128);
  }

  /** Makes room for n datagrams, keeping what the arrays hold. */
  private grow(n: number): void {
    const l = new Int32Array(n), fa = new Uint8Array(n);
    l.set(this.l4);
    fa.set(this.fam);
    if (this.single) {
      // Received datagrams start their IP header at ctx.l3 (input drops any other VLAN shape), and alloc() can
      // only make datagrams of the host's family: the values load() would read are these.
      l.fill(this.ctx.l3 + (this.single === 4 ? 20 : 40));
      fa.fill(this.single);
    }
    this.l4 = l;
    this.fam = fa;
  }

  /** Datagrams in this burst (including ones added with alloc()). */
  get count(): number {
    return this.raw.count;
  }

  /** Port id the burst came from. */
  get port(): number {
    return this.raw.port;
  }

  /** Rx queue the burst came from. */
  get queue(): number {
    return this.raw.queue;
  }

  /** @internal Reads each datagram's family and header offsets (after the raw batch loaded). */
  load(): void {
    const n = this.raw.count;
    if (n > this.l4.length) this.grow(n * 2);
    if (this.single) return;
    const u8 = this.u8, slot = this.ctx.slotSize;
    for (let i = 0; i < n; i++) {
      const h = this.raw.mbuf(i) * slot;
      const f = u8[h + HOST_META.FAMILY];
      this.fam[i] = f;
      this.l4[i] = u8[h + HOST_META.L3_OFF] + (f === 4 ? 20 : 40);
    }
  }

  /** Byte offset of datagram i's payload in `bytes`. */
  payloadOffset(i: number): number {
    return this.raw.offset(i) + this.l4[i] + UDP;
  }

  /** Payload length of datagram i in bytes. */
  payloadLength(i: number): number {
    return this.raw.length(i) - this.l4[i] - UDP;
  }

  /** Room for datagram i's payload: the most reply() or sendTo() may give it. */
  payloadRoom(i: number): number {
    return this.ctx.slotSize - (this.raw.offset(i) - this.raw.mbuf(i) * this.ctx.slotSize) - this.l4[i] - UDP;
  }

  /** 4 or 6. */
  family(i: number): 4 | 6 {
    return this.fam[i] as 4 | 6;
  }

  /** The sender's UDP port. */
  srcPort(i: number): number {
    const o = this.raw.offset(i) + this.l4[i];
    return (this.u8[o] << 8) | this.u8[o + 1];
  }

  /** The UDP port the datagram was sent to (the socket's). */
  dstPort(i: number): number {
    const o = this.raw.offset(i) + this.l4[i] + 2;
    return (this.u8[o] << 8) | this.u8[o + 1];
  }

  /** The sender's IPv4 address as an unsigned number (198.18.0.9 -> 0xc6120009), or 0 for IPv6. */
  srcIPv4(i: number): number {
    if (this.fam[i] !== 4) return 0;
    const o = this.raw.offset(i) + this.l4[i] - 8; // source address: IPv4 header bytes 12..15
    const u8 = this.u8;
    return ((u8[o] << 24) | (u8[o + 1] << 16) | (u8[o + 2] << 8) | u8[o + 3]) >>> 0;
  }

  /** Byte offset of the sender's address in `bytes` (4 bytes for IPv4, 16 for IPv6). */
  srcAddressOffset(i: number): number {
    return this.fam[i] === 4 ? this.raw.offset(i) + this.l4[i] - 8 : this.raw.offset(i) + this.l4[i] - 32;
  }

  /** The sender's address as text. Allocates a string: for logs and the slow path, not per packet at speed. */
  srcAddress(i: number): string {
    return formatIp(this.u8, this.srcAddressOffset(i), this.family(i));
  }

  /**
   * Answers datagram i with `length` bytes of payload written in place at
   * payloadOffset(i): it goes back to its sender (address and port), and the
   * host sets lengths and checksums.
   */
  reply(i: number, length: number): void {
    // An answer as long as the question (an echo, a fixed-size response) leaves the
    // length alone: no checks to repeat and no header store at the end of the burst.
    if (length !== this.raw.length(i) - this.l4[i] - UDP) this.setPayloadLength(i, length);
    this.raw.reply(i);
  }

  /**
   * Sends datagram i (a received one, or one from alloc()) with `length` bytes of
   * payload (default: as it is) to `address`:`port`. `address` is an IPv4 number
   * (no allocation), a 4- or 16-byte array, or text (parsed: allocates). It must
   * be of the datagram's family. The host resolves the next hop (held while it
   * resolves, then sent or dropped and counted: host.stats()).
   */
  sendTo(i: number, port: number, address: number | string | Uint8Array, length?: number): void {
    if (!(port > 0 && port <= 0xffff && Number.isInteger(port))) throw new RangeError(`port ${port} is outside 1..65535`);
    if (length !== undefined) this.setPayloadLength(i, length);
    const f = this.fam[i];
    const u8 = this.u8;
    const dst = this.raw.offset(i) + this.l4[i] - (f === 4 ? 4 : 16); // IPv4 bytes 16..19, IPv6 bytes 24..39
    if (typeof address === 'number') {
      if (f !== 4) throw new RangeError(`datagram ${i} is IPv6; give an IPv6 address`);
      u8[dst] = address >>> 24;
      u8[dst + 1] = (address >>> 16) & 0xff;
      u8[dst + 2] = (address >>> 8) & 0xff;
      u8[dst + 3] = address & 0xff;
    } else {
      const b = typeof address === 'string' ? parseIp(address, 'sendTo').bytes : address;
      if (b.length !== (f === 4 ? 4 : 16)) throw new RangeError(`datagram ${i} is IPv${f}; the address must be IPv${f}`);
      u8.set(b, dst);
    }
    const p = this.raw.offset(i) + this.l4[i] + 2;
    u8[p] = port >>> 8;
    u8[p + 1] = port & 0xff;
    this.raw.setSendVerdict(i);
  }

  /**
   * Sets the source port datagram i is sent from by sendTo(): one of the socket's
   * ports (HostUdpOptions.ports); any other is replaced by the socket's first port.
   */
  setSrcPort(i: number, port: number): void {
    const o = this.raw.offset(i) + this.l4[i];
    this.u8[o] = port >>> 8;
    this.u8[o + 1] = port & 0xff;
  }

  /** Drops datagram i (the default for a datagram given no verdict). */
  drop(i: number): void {
    this.raw.drop(i);
  }

  /**
   * Adds a new datagram with room for `length` bytes of payload and returns its
   * index (write the payload at payloadOffset(i), then sendTo()), or -1 when no
   * mbuf is free right now. `family` defaults to IPv4 when the host has it.
   */
  alloc(length: number, family: 4 | 6 = this.ctx.defaultFamily): number {
    if (!this.ctx.families[family]) throw new LinerateError('INVALID_OPTION', `alloc: the host has no IPv${family} address`);
    const l4 = this.ctx.l3 + (family === 4 ? 20 : 40);
    const i = this.raw.alloc(l4 + UDP + length);
    if (i < 0) return -1;
    const h = this.raw.mbuf(i) * this.ctx.slotSize;
    const u8 = this.u8;
    u8[h + HOST_META.FAMILY] = family;
    u8[h + HOST_META.L3_OFF] = this.ctx.l3;
    u8[h + HOST_META.SOCKET] = this.ctx.socket & 0xff;
    u8[h + HOST_META.SOCKET + 1] = this.ctx.socket >>> 8;
    u8[h + MBUF.FLAGS] |= HOST_META.FLAG_DATAGRAM;
    // The source port: the socket's (the slot's old bytes could name another of its ports).
    const sp = this.raw.offset(i) + l4;
    u8[sp] = this.ctx.localPort >>> 8;
    u8[sp + 1] = this.ctx.localPort & 0xff;
    if (i >= this.l4.length) this.grow(this.l4.length * 2);
    this.l4[i] = l4;
    this.fam[i] = family;
    return i;
  }

  private setPayloadLength(i: number, length: number): void {
    if (!(length >= 0 && Number.isInteger(length))) throw new RangeError(`payload length ${length} must be a non-negative integer`);
    this.raw.setLength(i, this.l4[i] + UDP + length);
  }
}

/** Wraps a datagram handler as a packet handler over the same burst. @internal */
export function datagramHandler(handler: DatagramHandler, ctx: DatagramContext): (raw: PacketBatch) => unknown {
  let view: DatagramBatch | undefined;
  return (raw: PacketBatch) => {
    view ??= new DatagramBatch(raw, ctx);
    view.load();
    return handler(view) as unknown;
  };
}
