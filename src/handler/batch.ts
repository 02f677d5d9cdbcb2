/**
 * PacketBatch: the one object a handler sees. It is reused for every burst:
 * typed arrays over the mempool's memory and a few small index arrays, so the
 * fast path allocates nothing and makes no call per packet.
 *
 * Its bookkeeping (which mbufs, how many, where) lives in `#private` fields: a
 * handler can read it through the methods but not change it, so what the
 * consumer gives back to the engine is what the engine handed over. The
 * consumer and the inline runner reach it through {@link BatchControl}
 * ({@link batchControl}), which a handler never sees.
 */
import { constants as bufferConstants } from 'node:buffer';
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
 * The consumer's side of a batch (pipeline consumer, inline runner, benchmarks).
 * @internal
 */
export interface BatchControl {
  /** Mbuf indices of the burst: the consumer writes them, then calls load(); it reads them back (alloc() adds some) for the commit. */
  readonly indices: Uint32Array;
  /** Packets in the batch now, allocated ones included. */
  count(): number;
  /** Loads the first n entries of `indices`: reads their headers, clears the verdicts. */
  load(n: number, port: number, queue: number, source: MbufSource | undefined): void;
  /** Writes verdicts (and changed lengths) into the mbuf headers. */
  store(): void;
  /** After a handler threw: every packet of the burst is dropped. */
  dropAll(): void;
  /** Benchmarks: sets the packet count (entries past it are forgotten; alloc() appends after it). */
  setCount(n: number): void;
}

let control: (b: PacketBatch) => BatchControl;

/**
 * A burst of packets handed to a handler. Packet `i` (0 <= i < count) lives at
 * `bytes[offset(i) .. offset(i) + length(i))`. Views are valid only during the
 * handler call. Each packet ends with one verdict: {@link reply}, {@link forward}
 * or {@link drop}; a packet given none is dropped.
 *
 * What a handler owns and may write (docs/handlers.md, "What a handler owns"):
 * the bytes of its own packets, up to the end of each packet's mbuf (see
 * {@link room}), and nothing else in `bytes`. The engine checks what comes back.
 */
export class PacketBatch {
  /** The whole mempool, as bytes. Index it with offset(i); write only inside your own packets. */
  readonly bytes: Uint8Array;

  #count = 0;
  #port = 0;
  #queue = 0;
  readonly #idx: Uint32Array;
  // Byte offsets: an Int32Array while the pool is below 2 GiB (its elements read as small integers, which
  // V8 indexes `bytes` with fastest: the bench handler took ~50% longer per packet with doubles), a
  // Float64Array past that (exact to 2^53; an Int32Array would wrap negative). One pool per process, so the
  // element access stays monomorphic.
  readonly #off: Int32Array | Float64Array;
  readonly #len: Int32Array;
  readonly #lenChanged: Uint8Array;
  readonly #verdict: Uint8Array;
  readonly #outPort: Uint16Array;
  // Header views. Their element index is computed with plain arithmetic (never `>>>` or `| 0`, which truncate to
  // 32 bits): byte offset / element size is exact while the pool is below 2^53 bytes.
  readonly #h16: Uint16Array;
  readonly #h32: Uint32Array;
  readonly #slotSize: number;
  readonly #dataOffset: number;
  readonly #dataRoom: number;
  #source: MbufSource | undefined;
  readonly #portIds: ReadonlyMap<string, number>;

  static {
    control = (b) => ({
      indices: b.#idx,
      count: () => b.#count,
      load: (n, port, queue, source) => b.#load(n, port, queue, source),
      store: () => b.#store(),
      dropAll: () => b.#verdict.fill(VERDICT.DROP, 0, b.#count),
      setCount: (n) => {
        b.#count = Math.max(0, Math.min(n, b.#idx.length));
      },
    });
  }

  /** @internal The pipeline consumer and the inline runner make batches (with {@link batchControl} for their side); a handler is given one. */
  constructor(pool: ArrayBuffer, slotSize: number, headroom: number, dataRoom: number, capacity: number, portIds: ReadonlyMap<string, number>) {
    this.bytes = new Uint8Array(pool);
    this.#h16 = new Uint16Array(pool);
    this.#h32 = new Uint32Array(pool);
    this.#slotSize = slotSize;
    this.#dataOffset = MBUF.HEADER_SIZE + headroom;
    this.#dataRoom = dataRoom;
    this.#idx = new Uint32Array(capacity);
    this.#off = pool.byteLength < 2 ** 31 ? new Int32Array(capacity) : new Float64Array(capacity);
    this.#len = new Int32Array(capacity);
    this.#lenChanged = new Uint8Array(capacity);
    this.#verdict = new Uint8Array(capacity);
    this.#outPort = new Uint16Array(capacity);
    this.#portIds = portIds;
  }

  /** Packets in this burst (including ones added with alloc()). Read-only. */
  get count(): number {
    return this.#count;
  }

  /** Id of the port the burst came from. */
  get port(): number {
    return this.#port;
  }

  /** Rx queue the burst came from. */
  get queue(): number {
    return this.#queue;
  }

  /** Byte offset of packet i in `bytes`. */
  offset(i: number): number {
    return this.#off[i];
  }

  /** Length of packet i in bytes. */
  length(i: number): number {
    return this.#len[i];
  }

  /**
   * Bytes packet i may take from offset(i): up to the end of its own mbuf. That is the data room when the packet
   * starts where the pool puts it (64 + headroom), less when the driver put it further in (af_xdp receives at 256).
   */
  room(i: number): number {
    if (!(i >= 0 && i < this.#count)) return 0;
    return (this.#idx[i] + 1) * this.#slotSize - this.#off[i];
  }

  /**
   * Sets the length of packet i: to trim it, or to grow it into the room after it.
   * @throws RangeError when i is not a packet of this batch, or length is not an integer from 0 to room(i)
   */
  setLength(i: number, length: number): void {
    if (!(i >= 0 && i < this.#count && Number.isInteger(i))) throw new RangeError(`packet ${i} is not in this batch (count ${this.#count})`);
    const room = this.room(i);
    if (!(Number.isInteger(length) && length >= 0 && length <= room)) {
      throw new RangeError(`length ${length} is outside 0..${room}: packet ${i} ends at its mbuf's end (offset ${this.#off[i]}, room ${room})`);
    }
    this.#len[i] = length;
    this.#lenChanged[i] = 1;
  }

  /** Mbuf index of packet i (stable while the packet is in this batch). */
  mbuf(i: number): number {
    return this.#idx[i];
  }

  /** Toeplitz RSS hash of packet i, when the port computed one (0 otherwise). */
  rssHash(i: number): number {
    return this.#h32[(this.#idx[i] * this.#slotSize + MBUF.RSS_HASH) / 4];
  }

  /** Send packet i back out of the port it came from (rewrite its headers first). */
  reply(i: number): void {
    this.#verdict[i] = VERDICT.REPLY;
  }

  /** Send packet i out of another port (a Port, `{ id }`, a port id or a port name). */
  forward(i: number, port: PortRef | number | string): void {
    let id: number | undefined;
    if (typeof port === 'number') id = port;
    else if (typeof port === 'string') id = this.#portIds.get(port);
    else id = port.id;
    if (id === undefined) throw new RangeError(`no port named '${String(port)}'`);
    this.#verdict[i] = VERDICT.FORWARD;
    this.#outPort[i] = id;
  }

  /** @internal Host sockets: send packet i to the address in its headers (DatagramBatch.sendTo). */
  setSendVerdict(i: number): void {
    this.#verdict[i] = VERDICT.SEND;
  }

  /** Drop packet i (the default). */
  drop(i: number): void {
    this.#verdict[i] = VERDICT.DROP;
  }

  /**
   * Adds a new, empty packet of `length` bytes to the batch and returns its
   * index i (write it at bytes[offset(i)..], then reply/forward it), or -1 when
   * no mbuf is free right now. Like every packet, it is dropped unless given a verdict.
   * @throws RangeError when length is not an integer from 1 to the data room (a new packet starts at 64 + headroom)
   */
  alloc(length: number): number {
    // A new packet starts at the pool's data offset, so its room is the data room.
    if (!(Number.isInteger(length) && length > 0 && length <= this.#dataRoom)) throw new RangeError(`length ${length} is outside 1..${this.#dataRoom}`);
    const i = this.#count;
    if (i >= this.#idx.length || !this.#source) return -1;
    const m = this.#source.take();
    if (m < 0) return -1;
    const slot = m * this.#slotSize;
    const h = slot / 2;
    this.#h16[h + MBUF.DATA_OFF / 2] = this.#dataOffset;
    this.#h16[h + MBUF.PORT / 2] = this.#port;
    this.#idx[i] = m;
    this.#off[i] = slot + this.#dataOffset;
    this.#len[i] = length;
    this.#lenChanged[i] = 1;
    this.#verdict[i] = VERDICT.DROP;
    this.#count = i + 1;
    return i;
  }

  #load(n: number, port: number, queue: number, source: MbufSource | undefined): void {
    const h16 = this.#h16, idx = this.#idx, off = this.#off, len = this.#len, slotSize = this.#slotSize;
    for (let i = 0; i < n; i++) {
      const slot = idx[i] * slotSize;
      const h = slot / 2;
      off[i] = slot + h16[h + MBUF.DATA_OFF / 2];
      len[i] = h16[h + MBUF.DATA_LEN / 2];
    }
    this.#lenChanged.fill(0, 0, n);
    this.#verdict.fill(VERDICT.DROP, 0, n);
    this.#count = n;
    this.#port = port;
    this.#queue = queue;
    this.#source = source;
  }

  #store(): void {
    const h16 = this.#h16, idx = this.#idx, half = this.#slotSize / 2;
    const verdict = this.#verdict, outPort = this.#outPort, lenChanged = this.#lenChanged, len = this.#len;
    for (let i = 0; i < this.#count; i++) {
      const h = idx[i] * half;
      h16[h + MBUF.VERDICT / 2] = verdict[i];
      h16[h + MBUF.OUT_PORT / 2] = outPort[i];
      if (lenChanged[i]) h16[h + MBUF.DATA_LEN / 2] = len[i];
    }
  }
}

/** The consumer's handle on a batch. @internal */
export function batchControl(b: PacketBatch): BatchControl {
  return control(b);
}

/**
 * The largest pool a handler can see: `bytes` is one Uint8Array over the whole
 * pool, and a typed array has at most buffer.constants.MAX_LENGTH elements
 * (2^32 on Node 20, 2^53 - 1 from Node 22). @internal
 */
export function maxPoolBytes(): number {
  return bufferConstants.MAX_LENGTH;
}
