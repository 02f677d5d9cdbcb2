/**
 * The JavaScript side of the shared-memory ring (native/core/ring.h, format
 * version 1, docs/memory-format.md). A {@link SharedRing} reads and writes the
 * very bytes an lcore does, so a ring can carry mbuf indices between an lcore
 * and a JS thread with no call across the native boundary.
 *
 * Memory ordering. Heads and tails are read and written only with `Atomics`
 * on a Uint32Array view. In the ECMAScript memory model every `Atomics`
 * operation is sequentially consistent: an `Atomics.store` is (at least) a
 * release, an `Atomics.load` is (at least) an acquire, and all of them also
 * fall into one total order. The C++ side publishes a tail with
 * `memory_order_release` and reads the other side's tail with
 * `memory_order_acquire`; seq_cst is strictly stronger than both, so the
 * usual two-phase protocol holds with JS on either end:
 *
 * - producer: write slots (plain stores), then `Atomics.store(tail)`;
 *   a consumer that sees the new tail with an acquire (C++) or
 *   `Atomics.load` (JS) also sees the slot contents;
 * - consumer: read slots (plain loads), then `Atomics.store(tail)`; a producer
 *   that sees that tail may overwrite those slots;
 * - own head before the other side's tail: the head must be read (and, on a
 *   failed compare-exchange, re-read) with at least acquire order and a
 *   successful compare-exchange must be at least a release, or a fresh head can
 *   meet an older tail and `free`/`avail` wraps to ~2^32 (native/core/ring.h,
 *   "Reading the head"). `Atomics.load` and `Atomics.compareExchange` are
 *   seq_cst, which is both, so JS and native actors may share a side.
 *
 * The sequential consistency also gives the store-then-load (Dekker) order the
 * `consumer_sleeping` doorbell protocol needs. Slot contents themselves are
 * plain typed-array accesses, ordered by the atomic tail accesses around them.
 *
 * The language states these guarantees for SharedArrayBuffer. Native memory
 * reaches JS as a plain ArrayBuffer (Node-API 8 has no external
 * SharedArrayBuffer); `Atomics.load`, `store` and `compareExchange` are allowed
 * on it and V8 implements them with the same atomic, seq_cst instructions as on
 * shared memory, which is what the lcore hand-off relies on. A buffer that
 * carries a ring must not be transferred (detached) while either side uses it.
 *
 * Counters are free-running 32-bit values (wrapping at 2^32); every sum or
 * difference is brought back to u32 with `>>> 0`.
 */
import { LinerateError } from './errors.js';

// Header layout (bytes), pinned by static_assert in native/core/ring.h.
const HEADER_BYTES = 256;
// u32 word indices into the header view.
const W_MAGIC = 0; // byte 0
const W_SIZE = 2; // byte 8
const W_MASK = 3; // byte 12
const W_CAPACITY = 4; // byte 16
const W_PROD_HEAD = 16; // byte 64
const W_PROD_TAIL = 17; // byte 68
const W_CONS_HEAD = 32; // byte 128
const W_CONS_TAIL = 33; // byte 132
const W_CONSUMER_SLEEPING = 48; // byte 192
// u16 indices into the header view.
const H_VERSION = 2; // byte 4
const H_FLAGS = 3; // byte 6

const MAGIC = 0x4c52524e;
const VERSION = 1;
const SINGLE_PRODUCER = 1;
const SINGLE_CONSUMER = 2;
const MAX_SIZE = 2 ** 30;

function validSize(size: number): boolean {
  return Number.isInteger(size) && size >= 2 && size <= MAX_SIZE && (size & (size - 1)) === 0;
}

function checkPlacement(buffer: ArrayBufferLike, byteOffset: number, bytes: number, code: 'INVALID_OPTION' | 'RING_FORMAT'): void {
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset % 4 !== 0)
    throw new LinerateError('INVALID_OPTION', `ring byteOffset ${byteOffset} must be a non-negative multiple of 4 (64 keeps the producer and consumer on their own cache lines)`);
  if (byteOffset + bytes > buffer.byteLength)
    throw new LinerateError(code, `a ring of ${bytes} bytes at offset ${byteOffset} does not fit in a buffer of ${buffer.byteLength} bytes`);
}

/**
 * A ring of 32-bit values (mbuf indices) in memory shared with native code, in
 * the format of native/core/ring.h. Create the memory with
 * {@link SharedRing.init} (or natively) and open it with {@link SharedRing.attach}.
 *
 * One JS thread acts as one side of the ring. On a ring flagged single producer
 * (or single consumer) that side must be the only producer (consumer) anywhere;
 * on a multi-producer (multi-consumer) ring JS takes part in the CAS protocol
 * with native producers (consumers), exactly as the C++ does.
 *
 * No method allocates: the views are made once, in the constructor.
 */
export class SharedRing {
  /** Magic at byte 0 of every ring header: 0x4c52524e. */
  static readonly MAGIC = MAGIC;
  /** The format version this code reads and writes. */
  static readonly VERSION = VERSION;
  /** Flag bit 0: exactly one producer. */
  static readonly SINGLE_PRODUCER = SINGLE_PRODUCER;
  /** Flag bit 1: exactly one consumer. */
  static readonly SINGLE_CONSUMER = SINGLE_CONSUMER;
  /** Bytes before the first slot. */
  static readonly HEADER_BYTES = HEADER_BYTES;

  /** The memory the ring lives in. */
  readonly buffer: ArrayBufferLike;
  /** Where the ring header starts in {@link SharedRing.buffer}. */
  readonly byteOffset: number;
  /** Number of slots (a power of two). */
  readonly size: number;
  /** Entries the ring can hold; equal to {@link SharedRing.size} in format version 1. */
  readonly capacity: number;
  /** Header flags: {@link SharedRing.SINGLE_PRODUCER} | {@link SharedRing.SINGLE_CONSUMER}. */
  readonly flags: number;

  private readonly mask: number;
  private readonly sp: boolean;
  private readonly sc: boolean;
  private readonly h: Uint32Array;
  private readonly slots: Uint32Array;

  private constructor(buffer: ArrayBufferLike, byteOffset: number) {
    this.buffer = buffer;
    this.byteOffset = byteOffset;
    this.h = new Uint32Array(buffer, byteOffset, HEADER_BYTES / 4);
    const h16 = new Uint16Array(buffer, byteOffset, 4);
    this.size = this.h[W_SIZE]!;
    this.mask = this.h[W_MASK]!;
    this.capacity = this.h[W_CAPACITY]!;
    this.flags = h16[H_FLAGS]!;
    this.sp = (this.flags & SINGLE_PRODUCER) !== 0;
    this.sc = (this.flags & SINGLE_CONSUMER) !== 0;
    this.slots = new Uint32Array(buffer, byteOffset + HEADER_BYTES, this.size);
  }

  /** Bytes a ring of `size` slots occupies: the 256-byte header plus 4 bytes per slot. */
  static bytesFor(size: number): number {
    if (!validSize(size)) throw new LinerateError('INVALID_OPTION', `ring size ${size} is not a power of two in [2, 2^30]`);
    return HEADER_BYTES + size * 4;
  }

  /**
   * Writes a fresh, empty ring header at `buffer[byteOffset]` (as `lr::Ring::init`
   * does; slots are left as they are) and returns the ring.
   *
   * @param buffer memory to hold the ring; a SharedArrayBuffer to share it
   *   between JS threads, or native memory (an ArrayBuffer from the addon) to
   *   share it with an lcore.
   * @param byteOffset a multiple of 4; a multiple of 64 keeps the producer and
   *   consumer counters on separate cache lines.
   * @param size slots, a power of two in [2, 2^30].
   * @param flags {@link SharedRing.SINGLE_PRODUCER} | {@link SharedRing.SINGLE_CONSUMER}; 0 (the default) is multi-producer, multi-consumer.
   * @throws LinerateError `INVALID_OPTION` for a bad size, flags or placement.
   */
  static init(buffer: ArrayBufferLike, byteOffset: number, size: number, flags = 0): SharedRing {
    const bytes = SharedRing.bytesFor(size);
    if (!Number.isInteger(flags) || (flags & ~(SINGLE_PRODUCER | SINGLE_CONSUMER)) !== 0)
      throw new LinerateError('INVALID_OPTION', `ring flags ${flags} may only contain SINGLE_PRODUCER (1) and SINGLE_CONSUMER (2)`);
    checkPlacement(buffer, byteOffset, bytes, 'INVALID_OPTION');
    const h = new Uint32Array(buffer, byteOffset, HEADER_BYTES / 4);
    const h16 = new Uint16Array(buffer, byteOffset, 4);
    h.fill(0);
    h[W_MAGIC] = MAGIC;
    h16[H_VERSION] = VERSION;
    h16[H_FLAGS] = flags;
    h[W_SIZE] = size;
    h[W_MASK] = size - 1;
    h[W_CAPACITY] = size;
    // Last, and atomic: whoever is handed this memory afterwards sees a complete header.
    Atomics.store(h, W_CONSUMER_SLEEPING, 0);
    return new SharedRing(buffer, byteOffset);
  }

  /**
   * Opens a ring whose header was written elsewhere (by native code, another
   * thread, or {@link SharedRing.init}), after checking it like `lr::Ring::attach`.
   *
   * @throws LinerateError `RING_FORMAT` when the magic, version, size, mask or
   *   capacity is wrong or the slots do not fit in the buffer; `INVALID_OPTION`
   *   for a byteOffset that is not a non-negative multiple of 4.
   */
  static attach(buffer: ArrayBufferLike, byteOffset = 0): SharedRing {
    checkPlacement(buffer, byteOffset, HEADER_BYTES, 'RING_FORMAT');
    const h = new Uint32Array(buffer, byteOffset, HEADER_BYTES / 4);
    const h16 = new Uint16Array(buffer, byteOffset, 4);
    if (h[W_MAGIC] !== MAGIC) throw new LinerateError('RING_FORMAT', 'not a linerate ring (bad magic)');
    if (h16[H_VERSION] !== VERSION) throw new LinerateError('RING_FORMAT', `ring format version ${h16[H_VERSION]} is not supported (this build reads version ${VERSION})`);
    const size = h[W_SIZE]!;
    if (!validSize(size) || h[W_MASK] !== size - 1) throw new LinerateError('RING_FORMAT', 'ring header has an invalid size');
    // Version 1 always has capacity == size (the C++ relies on it without checking).
    if (h[W_CAPACITY] !== size) throw new LinerateError('RING_FORMAT', 'ring header has an invalid capacity');
    checkPlacement(buffer, byteOffset, HEADER_BYTES + size * 4, 'RING_FORMAT');
    return new SharedRing(buffer, byteOffset);
  }

  /**
   * Entries in the ring: exact when the ring is quiet, a snapshot in
   * [0, capacity] while the other side moves (as `lr::Ring::count`: the
   * consumer tail is read first, then the producer tail, and the result clamped).
   */
  count(): number {
    const cons = Atomics.load(this.h, W_CONS_TAIL);
    const prod = Atomics.load(this.h, W_PROD_TAIL);
    return Math.min((prod - cons) >>> 0, this.capacity);
  }

  /** Free slots: `capacity - count()`. */
  freeCount(): number {
    return this.capacity - this.count();
  }

  /** Whether the consumer has said it is asleep (and wants a doorbell). */
  get consumerSleeping(): boolean {
    return Atomics.load(this.h, W_CONSUMER_SLEEPING) !== 0;
  }
  set consumerSleeping(v: boolean) {
    Atomics.store(this.h, W_CONSUMER_SLEEPING, v ? 1 : 0);
  }

  /**
   * Enqueues `src[0..n)` all or nothing.
   * @returns n, or 0 when fewer than n slots are free.
   */
  enqueueBulk(src: Uint32Array, n: number): number {
    return this.enqueue(src, n, true);
  }

  /**
   * Enqueues as many of `src[0..n)` as fit.
   * @returns how many were enqueued (from the start of src).
   */
  enqueueBurst(src: Uint32Array, n: number): number {
    return this.enqueue(src, n, false);
  }

  /**
   * Dequeues n entries into `dst[0..n)`, all or nothing.
   * @returns n, or 0 when fewer than n entries are in the ring.
   */
  dequeueBulk(dst: Uint32Array, n: number): number {
    return this.dequeue(dst, n, true);
  }

  /**
   * Dequeues up to n entries into `dst[0..)`.
   * @returns how many were dequeued.
   */
  dequeueBurst(dst: Uint32Array, n: number): number {
    return this.dequeue(dst, n, false);
  }

  private checkCount(a: Uint32Array, n: number): void {
    if (!(n >= 0 && n <= a.length) || n !== Math.floor(n))
      throw new LinerateError('INVALID_OPTION', `ring count ${n} must be an integer in [0, ${a.length}]`);
  }

  // lr::Ring::enqueue, line for line.
  private enqueue(src: Uint32Array, n: number, all: boolean): number {
    this.checkCount(src, n);
    const h = this.h;
    // seq_cst, so at least acquire: read before the tail below (class comment).
    let head = Atomics.load(h, W_PROD_HEAD);
    let next: number;
    for (;;) {
      // Pairs with the consumer's store of cons.tail: the slots we overwrite have been read.
      const free = (this.capacity + Atomics.load(h, W_CONS_TAIL) - head) >>> 0;
      if (n > free) {
        if (all || free === 0) return 0;
        n = free;
      }
      if (n === 0) return 0;
      next = (head + n) >>> 0;
      if (this.sp) {
        Atomics.store(h, W_PROD_HEAD, next);
        break;
      }
      // Reserve [head, next) against native producers.
      const seen = Atomics.compareExchange(h, W_PROD_HEAD, head, next);
      if (seen === head) break;
      head = seen;
    }
    const slots = this.slots;
    const idx = head & this.mask;
    const first = Math.min(n, this.size - idx);
    for (let i = 0; i < first; i++) slots[idx + i] = src[i]!;
    for (let i = first; i < n; i++) slots[i - first] = src[i]!;
    if (!this.sp) {
      // Earlier reservations publish first, so the tail only moves over filled
      // slots. Another producer is mid-copy: this wait is short.
      while (Atomics.load(h, W_PROD_TAIL) !== head);
    }
    Atomics.store(h, W_PROD_TAIL, next);
    return n;
  }

  // lr::Ring::dequeue, line for line.
  private dequeue(dst: Uint32Array, n: number, all: boolean): number {
    this.checkCount(dst, n);
    const h = this.h;
    // seq_cst, so at least acquire: read before the tail below (class comment).
    let head = Atomics.load(h, W_CONS_HEAD);
    let next: number;
    for (;;) {
      // Pairs with the producer's store of prod.tail: the slots we read are filled.
      const avail = (Atomics.load(h, W_PROD_TAIL) - head) >>> 0;
      if (n > avail) {
        if (all || avail === 0) return 0;
        n = avail;
      }
      if (n === 0) return 0;
      next = (head + n) >>> 0;
      if (this.sc) {
        Atomics.store(h, W_CONS_HEAD, next);
        break;
      }
      const seen = Atomics.compareExchange(h, W_CONS_HEAD, head, next);
      if (seen === head) break;
      head = seen;
    }
    const slots = this.slots;
    const idx = head & this.mask;
    const first = Math.min(n, this.size - idx);
    for (let i = 0; i < first; i++) dst[i] = slots[idx + i]!;
    for (let i = first; i < n; i++) dst[i] = slots[i - first]!;
    if (!this.sc) {
      while (Atomics.load(h, W_CONS_TAIL) !== head);
    }
    Atomics.store(h, W_CONS_TAIL, next);
    return n;
  }
}
