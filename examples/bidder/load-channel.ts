/**
 * How a campaign load reaches the worker threads while they serve, with no
 * message and no lock: a sequence lock over one SharedArrayBuffer.
 *
 * The main thread (the only writer) makes the sequence number odd, writes the
 * payload (a compiled index, campaign-index.ts) and its length, and makes it even again. A reader that sees
 * an even number other than the one it serves copies the payload, then reads
 * the number again: unchanged means the copy is whole, else it tries again at
 * its next look (its next burst). The writer never waits for readers, so
 * reloads in quick succession all succeed and each reader ends up on the
 * newest. Int32 [0] sequence, [1] payload length, payload from byte 8.
 */
const HEADER = 8;

export class LoadChannel {
  private readonly seq: Int32Array;
  private readonly bytes: Uint8Array;

  constructor(readonly buffer: SharedArrayBuffer) {
    this.seq = new Int32Array(buffer, 0, 2);
    this.bytes = new Uint8Array(buffer, HEADER);
  }

  /** A channel for payloads of up to `maxBytes`. */
  static create(maxBytes: number): LoadChannel {
    return new LoadChannel(new SharedArrayBuffer(HEADER + maxBytes));
  }

  /** Most bytes a payload may have. */
  get room(): number {
    return this.bytes.length;
  }

  /** Publishes `payload` (main thread only); returns its generation (1, 2, ...). Throws when it does not fit. */
  publish(payload: Uint8Array): number {
    if (payload.length > this.bytes.length) throw new Error(`the compiled campaigns (${payload.length} bytes) outgrow the ${this.bytes.length}-byte reload buffer; restart the bidder`);
    const s = Atomics.load(this.seq, 0);
    Atomics.store(this.seq, 0, s + 1); // odd: being written
    this.bytes.set(payload);
    Atomics.store(this.seq, 1, payload.length);
    Atomics.store(this.seq, 0, s + 2);
    return (s + 2) / 2;
  }

  /** The generation published last (0 before the first). */
  get generation(): number {
    return Atomics.load(this.seq, 0) >>> 1;
  }

  /**
   * A reader's look: when a generation newer than `have` is whole in the
   * buffer, returns it with a copy of its payload (in an ArrayBuffer of its
   * own, at offset 0); otherwise undefined (nothing new, or being written:
   * look again later). One Atomics load when nothing changed.
   */
  read(have: number): { generation: number; payload: Uint8Array } | undefined {
    const s = Atomics.load(this.seq, 0);
    if (s === have * 2 || s & 1) return undefined;
    const len = Atomics.load(this.seq, 1);
    if (len > this.bytes.length) return undefined; // torn: the next look sees it whole
    const copy = this.bytes.slice(0, len);
    if (Atomics.load(this.seq, 0) !== s) return undefined;
    return { generation: s / 2, payload: copy };
  }
}
