/**
 * How a campaign load reaches the worker threads while they serve, with no
 * message and no lock: a sequence lock over one SharedArrayBuffer.
 *
 * The main thread (the only writer) makes the sequence number odd, writes the
 * payload (JSON) and its length, and makes it even again. A reader that sees
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
  publish(payload: unknown): number {
    const json = Buffer.from(JSON.stringify(payload));
    if (json.length > this.bytes.length) throw new Error(`the campaigns (${json.length} bytes as JSON) outgrow the ${this.bytes.length}-byte reload buffer; restart the bidder`);
    const s = Atomics.load(this.seq, 0);
    Atomics.store(this.seq, 0, s + 1); // odd: being written
    this.bytes.set(json);
    Atomics.store(this.seq, 1, json.length);
    Atomics.store(this.seq, 0, s + 2);
    return (s + 2) / 2;
  }

  /** The generation published last (0 before the first). */
  get generation(): number {
    return Atomics.load(this.seq, 0) >>> 1;
  }

  /**
   * A reader's look: when a generation newer than `have` is whole in the
   * buffer, returns it with its payload; otherwise undefined (nothing new, or
   * being written: look again later). One Atomics load when nothing changed.
   */
  read<T>(have: number): { generation: number; payload: T } | undefined {
    const s = Atomics.load(this.seq, 0);
    if (s === have * 2 || s & 1) return undefined;
    const copy = this.bytes.slice(0, Atomics.load(this.seq, 1));
    if (Atomics.load(this.seq, 0) !== s) return undefined;
    return { generation: s / 2, payload: JSON.parse(Buffer.from(copy.buffer, copy.byteOffset, copy.length).toString('utf8')) as T };
  }
}
