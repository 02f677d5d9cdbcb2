/**
 * PacketBatch: the one object a handler sees. It is reused for every burst:
 * typed arrays over the mempool's memory and a few small index arrays, so the
 * fast path allocates nothing and makes no call per packet.
 */
import { MBUF, VERDICT } from './layout.js';

/** Something with a port id: a Port, or a plain `{ id }`. */
export interface PortRef {
  readonly id: number;
}

/** Where batch.alloc() gets empty mbufs from (a ring in pipeline mode, the inline queue in inline mode). @internal */
export interface MbufSource {
  take(): number; // an mbuf index, or -1
}

/**
 * A burst of packets handed to a handler. Packet `i` (0 <= i < count) lives at
 * `bytes[offset(i) .. offset(i) + length(i))`. Views are valid only during the
 * handler call. Each packet ends with one verdict: {@link reply}, {@link forward}
 * or {@link drop}; a packet given none is dropped.
 */
export class PacketBatch {
  /** Packets in this burst (including ones added with alloc()). */
  count = 0;
  /** The whole mempool, as bytes. Index it with offset(i). */
  readonly bytes: Uint8Array;
  /** Id of the port the burst came from. */
  port = 0;
  /** Rx queue the burst came from. */
  queue = 0;

  /** @internal */ readonly idx: Uint32Array;
  private readonly off: Int32Array;
  private readonly len: Int32Array;
  private readonly lenChanged: Uint8Array;
  private readonly verdict: Uint8Array;
  private readonly outPort: Uint16Array;
  private readonly h16: Uint16Array;
  private readonly h32: Uint32Array;
  private readonly slotHalf: number;
  private readonly dataOffset: number;
  private readonly dataRoom: number;
  private source: MbufSource | undefined;
  private readonly portIds: ReadonlyMap<string, number>;
  /** @internal */ allocated = 0;

  /** @internal */
  constructor(pool: ArrayBuffer, slotSize: number, headroom: number, dataRoom: number, capacity: number, portIds: ReadonlyMap<string, number>) {
    this.bytes = new Uint8Array(pool);
    this.h16 = new Uint16Array(pool);
    this.h32 = new Uint32Array(pool);
    this.slotHalf = slotSize / 2;
    this.dataOffset = MBUF.HEADER_SIZE + headroom;
    this.dataRoom = dataRoom;
    this.idx = new Uint32Array(capacity);
    this.off = new Int32Array(capacity);
    this.len = new Int32Array(capacity);
    this.lenChanged = new Uint8Array(capacity);
    this.verdict = new Uint8Array(capacity);
    this.outPort = new Uint16Array(capacity);
    this.portIds = portIds;
  }

  /** Byte offset of packet i in `bytes`. */
  offset(i: number): number {
    return this.off[i];
  }

  /** Length of packet i in bytes. */
  length(i: number): number {
    return this.len[i];
  }

  /** Sets the length of packet i (to trim it, or to grow it into the data room). */
  setLength(i: number, length: number): void {
    if (!(length >= 0 && length <= this.dataRoom)) throw new RangeError(`length ${length} is outside 0..${this.dataRoom}`);
    this.len[i] = length;
    this.lenChanged[i] = 1;
  }

  /** Mbuf index of packet i (stable while the packet is in this batch). */
  mbuf(i: number): number {
    return this.idx[i];
  }

  /** Toeplitz RSS hash of packet i, when the port computed one (0 otherwise). */
  rssHash(i: number): number {
    return this.h32[(this.idx[i] * this.slotHalf * 2 + MBUF.RSS_HASH) >>> 2];
  }

  /** Send packet i back out of the port it came from (rewrite its headers first). */
  reply(i: number): void {
    this.verdict[i] = VERDICT.REPLY;
  }

  /** Send packet i out of another port (a Port, `{ id }`, a port id or a port name). */
  forward(i: number, port: PortRef | number | string): void {
    let id: number | undefined;
    if (typeof port === 'number') id = port;
    else if (typeof port === 'string') id = this.portIds.get(port);
    else id = port.id;
    if (id === undefined) throw new RangeError(`no port named '${String(port)}'`);
    this.verdict[i] = VERDICT.FORWARD;
    this.outPort[i] = id;
  }

  /** @internal Host sockets: send packet i to the address in its headers (DatagramBatch.sendTo). */
  setSendVerdict(i: number): void {
    this.verdict[i] = VERDICT.SEND;
  }

  /** Drop packet i (the default). */
  drop(i: number): void {
    this.verdict[i] = VERDICT.DROP;
  }

  /**
   * Adds a new, empty packet of `length` bytes to the batch and returns its
   * index i (write it at bytes[offset(i)..], then reply/forward it), or -1 when
   * no mbuf is free right now. Like every packet, it is dropped unless given a verdict.
   */
  alloc(length: number): number {
    if (!(length > 0 && length <= this.dataRoom)) throw new RangeError(`length ${length} is outside 1..${this.dataRoom}`);
    const i = this.count;
    if (i >= this.idx.length || !this.source) return -1;
    const m = this.source.take();
    if (m < 0) return -1;
    const h = m * this.slotHalf;
    this.h16[h + MBUF.DATA_OFF / 2] = this.dataOffset;
    this.h16[h + MBUF.PORT / 2] = this.port;
    this.idx[i] = m;
    this.off[i] = m * this.slotHalf * 2 + this.dataOffset;
    this.len[i] = length;
    this.lenChanged[i] = 1;
    this.verdict[i] = VERDICT.DROP;
    this.count = i + 1;
    this.allocated++;
    return i;
  }

  /** @internal Loads n indices (already in idx) and reads their headers. */
  load(n: number, port: number, queue: number, source: MbufSource | undefined): void {
    const h16 = this.h16, half = this.slotHalf;
    for (let i = 0; i < n; i++) {
      const h = this.idx[i] * half;
      this.off[i] = h * 2 + h16[h + MBUF.DATA_OFF / 2];
      this.len[i] = h16[h + MBUF.DATA_LEN / 2];
    }
    this.lenChanged.fill(0, 0, n);
    this.verdict.fill(VERDICT.DROP, 0, n);
    this.count = n;
    this.port = port;
    this.queue = queue;
    this.source = source;
    this.allocated = 0;
  }

  /** @internal Writes verdicts (and changed lengths) into the mbuf headers. */
  store(): void {
    const h16 = this.h16, half = this.slotHalf;
    for (let i = 0; i < this.count; i++) {
      const h = this.idx[i] * half;
      h16[h + MBUF.VERDICT / 2] = this.verdict[i];
      h16[h + MBUF.OUT_PORT / 2] = this.outPort[i];
      if (this.lenChanged[i]) h16[h + MBUF.DATA_LEN / 2] = this.len[i];
    }
  }

  /** @internal After a handler threw: every packet of the burst is dropped. */
  dropAll(): void {
    this.verdict.fill(VERDICT.DROP, 0, this.count);
  }
}
