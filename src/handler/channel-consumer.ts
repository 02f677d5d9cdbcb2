/**
 * The JavaScript end of a handler channel (pipeline mode): takes bursts from
 * the to_js ring, runs the handler, and gives every mbuf back through from_js
 * with its verdict in the header. Runs on the main thread or in a worker; the
 * same code either way. Protocol (peek, commit, advance; the hand record that
 * makes a dead consumer recoverable) in native/pipeline/js_channel.h.
 */
import { LinerateError } from '../errors.js';
import { PacketBatch, batchControl, type BatchControl, type MbufSource } from './batch.js';
import { CHANNEL, RING } from './layout.js';
import { checkPoolFits } from './options.js';
import { createPump, type Pump, type PumpFactory } from './pump.js';
import { runHandler, type Handler } from './run-handler.js';

export type { Handler } from './run-handler.js';

interface RingView {
  prodHead: number; // u32 word index
  prodTail: number;
  consHead: number;
  consTail: number;
  sleeping: number;
  slots: number;
  mask: number;
  capacity: number;
}

function ringAt(u32: Uint32Array, byteOffset: number): RingView {
  const w = byteOffset >>> 2;
  return {
    prodHead: w + RING.PROD_HEAD / 4,
    prodTail: w + RING.PROD_TAIL / 4,
    consHead: w + RING.CONS_HEAD / 4,
    consTail: w + RING.CONS_TAIL / 4,
    sleeping: w + RING.SLEEPING / 4,
    slots: w + RING.SLOTS / 4,
    mask: u32[w + RING.MASK / 4],
    capacity: u32[w + RING.CAPACITY / 4],
  };
}

/**
 * How the consumer shares its thread (docs/handlers.md, "Pipeline mode").
 *
 * Every turn of a Node event loop allocates a little garbage of its own (the
 * immediate check creates an object per iteration: Environment::
 * RunAndClearNativeImmediates in Node's src/env.cc), about 56 bytes, so a
 * consumer that took one burst per turn would make the GC run in proportion to
 * the packet rate. Instead one turn polls the ring many times: it handles up to
 * `turnBursts` bursts, waiting between them by polling (a few tens of
 * nanoseconds per poll, no allocation), and returns to the loop when the budget
 * is spent or after EMPTY_POLLS polls in a row found nothing, when it sleeps on
 * the doorbell. The loop pump (src/handler/pump.ts) brings it back on the next
 * turn while there is work, with no allocation per turn either.
 */
/** Polls in a row that find the ring empty before sleeping on the doorbell (~100 us of spinning). */
const EMPTY_POLLS = 4096;
/** Default `turnBursts` on the main thread: ~8k packets, so timers and I/O wait at most about a millisecond. */
export const MAIN_TURN_BURSTS = 256;
/** Default `turnBursts` in a worker, whose loop has nothing else to do but its control messages. */
export const WORKER_TURN_BURSTS = 4096;

export class ChannelConsumer implements MbufSource {
  readonly batch: PacketBatch;
  private readonly ctl: BatchControl;
  private readonly u32: Uint32Array;
  private readonly counters: Float64Array;
  private readonly toJs: RingView;
  private readonly fromJs: RingView;
  private readonly free: RingView;
  private readonly port: number;
  private readonly queue: number;
  private readonly burst: number;
  private pending = false; // a handled burst waits for room in from_js
  private pendingN = 0;
  private freeStart = 0;
  private freeTaken = 0;
  private freeAvail = 0;
  private sleeping = false;
  private stopped = true;
  private pump: Pump | undefined;

  constructor(
    channel: ArrayBuffer,
    pool: ArrayBuffer,
    poolInfo: { slotSize: number; headroom: number; dataRoom: number; burst: number },
    portIds: ReadonlyMap<string, number>,
    private readonly handler: Handler,
    private readonly onError: (e: unknown) => void,
    /** Bursts one event-loop turn may handle before giving the thread back (MAIN_TURN_BURSTS, WORKER_TURN_BURSTS). */
    private readonly turnBursts: number = MAIN_TURN_BURSTS,
    private readonly pumpFactory: PumpFactory = createPump,
  ) {
    this.u32 = new Uint32Array(channel);
    if (this.u32[0] !== CHANNEL.MAGIC || new Uint16Array(channel)[2] !== CHANNEL.VERSION) {
      throw new LinerateError('RING_FORMAT', 'not a linerate handler channel (bad magic or version)');
    }
    this.counters = new Float64Array(channel, CHANNEL.JS_COUNTERS, 4);
    this.toJs = ringAt(this.u32, this.u32[CHANNEL.TO_JS_OFF / 4]);
    this.fromJs = ringAt(this.u32, this.u32[CHANNEL.FROM_JS_OFF / 4]);
    this.free = ringAt(this.u32, this.u32[CHANNEL.FREE_OFF / 4]);
    this.port = this.u32[CHANNEL.PORT / 4];
    this.queue = this.u32[CHANNEL.QUEUE / 4];
    this.burst = this.u32[CHANNEL.BURST / 4];
    // Room for a burst plus as many allocations, and never more than from_js
    // takes in one commit (the addon sizes it for that; js_channel.h, "Sizes"):
    // a batch that cannot be committed would stall the channel for good.
    const capacity = Math.min(this.burst * 2, this.fromJs.capacity);
    checkPoolFits('handler', pool.byteLength);
    this.batch = new PacketBatch(pool, poolInfo.slotSize, poolInfo.headroom, poolInfo.dataRoom, capacity, portIds);
    this.ctl = batchControl(this.batch);
  }

  /** The function the doorbell calls (from the thread-safe function). */
  readonly wake = (): void => {
    if (!this.sleeping || this.stopped) return;
    this.sleeping = false;
    this.pump?.arm();
    this.run();
  };

  /** Starts polling: once per event-loop turn while there is work, asleep on the doorbell otherwise. */
  start(): void {
    this.stopped = false;
    this.pump ??= this.pumpFactory(() => this.run());
    this.pump.arm();
  }

  /** Stops taking bursts. A burst handled but not yet given back is finished first. */
  stop(): void {
    if (this.pending) this.commit();
    this.stopped = true;
    this.sleeping = false;
    Atomics.store(this.u32, this.toJs.sleeping, 0);
    this.pump?.close();
    this.pump = undefined;
  }

  /** MbufSource: an empty mbuf from the free ring (peeked; consumed at commit). */
  take(): number {
    if (this.freeTaken >= this.freeAvail) return -1;
    const m = this.u32[this.free.slots + ((this.freeStart + this.freeTaken) & this.free.mask)];
    this.freeTaken++;
    return m;
  }

  /**
   * One event-loop turn (the pump calls it while armed): handles bursts until
   * the turn's budget is spent (stay armed, come back next turn) or the ring
   * stays empty for EMPTY_POLLS polls (disarm and sleep until the doorbell).
   */
  private run(): void {
    if (this.stopped) {
      this.pump?.disarm();
      return;
    }
    let bursts = 0;
    let empty = 0;
    // Polls, busy or not, are capped too: a trickle of bursts must not hold the loop forever.
    for (let polls = 0; polls < this.turnBursts * 16; polls++) {
      const n = this.step();
      if (n > 0) {
        empty = 0;
        if (++bursts >= this.turnBursts) return;
      } else if (n === 0 && ++empty >= EMPTY_POLLS) {
        this.sleep();
        return;
      }
      // n < 0: the burst waits for room in from_js, which the lcore drains every loop; poll again.
    }
  }

  /** Raise the sleeping flag, then look once more: the lcore checks the flag after publishing, and with both sides seq_cst one of us sees the other. */
  private sleep(): void {
    this.pump?.disarm();
    this.sleeping = true;
    Atomics.store(this.u32, this.toJs.sleeping, 1);
    if (this.available() > 0) {
      Atomics.store(this.u32, this.toJs.sleeping, 0);
      this.sleeping = false;
      this.pump?.arm();
    }
  }

  /** Packets waiting in to_js, and a handled burst still waiting for room in from_js. */
  waiting(): number {
    return this.available() + (this.pending ? this.pendingN : 0);
  }

  private available(): number {
    return (Atomics.load(this.u32, this.toJs.prodTail) - Atomics.load(this.u32, this.toJs.consTail)) >>> 0;
  }

  /** One burst: returns packets handled (0 when the ring is empty, -1 when waiting for room). */
  step(): number {
    if (this.pending) return this.commit() ? this.pendingN : -1;
    const u32 = this.u32;
    const consTail = Atomics.load(u32, this.toJs.consTail);
    const avail = (Atomics.load(u32, this.toJs.prodTail) - consTail) >>> 0;
    if (avail === 0) return 0;
    const n = avail < this.burst ? avail : this.burst;
    // The hand: what we are about to work on, so a crash mid-burst is recoverable.
    this.freeStart = Atomics.load(u32, this.free.consTail);
    this.freeAvail = (Atomics.load(u32, this.free.prodTail) - this.freeStart) >>> 0;
    this.freeTaken = 0;
    Atomics.store(u32, CHANNEL.HAND_N / 4, n);
    Atomics.store(u32, CHANNEL.HAND_K / 4, 0);
    Atomics.store(u32, CHANNEL.TO_JS_CONS_BEFORE / 4, consTail);
    Atomics.store(u32, CHANNEL.FREE_CONS_BEFORE / 4, this.freeStart);
    Atomics.store(u32, CHANNEL.FROM_JS_PROD_BEFORE / 4, Atomics.load(u32, this.fromJs.prodTail));
    Atomics.store(u32, CHANNEL.HAND_ACTIVE / 4, 1);
    const ctl = this.ctl;
    const idx = ctl.indices, slots = this.toJs.slots, mask = this.toJs.mask;
    for (let i = 0; i < n; i++) idx[i] = u32[slots + ((consTail + i) & mask)];
    ctl.load(n, this.port, this.queue, this);
    runHandler(this.handler, this.batch, ctl, this.counters, this.onError);
    this.pending = true;
    this.pendingN = n;
    return this.commit() ? n : -1;
  }

  /** Gives the burst back: from_js tail publish is the commit point. */
  private commit(): boolean {
    const u32 = this.u32, ctl = this.ctl, from = this.fromJs;
    const total = ctl.count();
    const prod = Atomics.load(u32, from.prodTail);
    const room = (from.capacity - ((prod - Atomics.load(u32, from.consTail)) >>> 0)) >>> 0;
    if (room < total) return false; // the lcore drains from_js every loop: try again shortly
    const idx = ctl.indices;
    for (let i = 0; i < total; i++) u32[from.slots + ((prod + i) & from.mask)] = idx[i];
    Atomics.store(u32, CHANNEL.HAND_K / 4, this.freeTaken);
    const next = (prod + total) >>> 0;
    Atomics.store(u32, from.prodHead, next);
    Atomics.store(u32, from.prodTail, next); // commit
    const consTail = Atomics.load(u32, CHANNEL.TO_JS_CONS_BEFORE / 4);
    const toNext = (consTail + this.pendingN) >>> 0;
    Atomics.store(u32, this.toJs.consHead, toNext);
    Atomics.store(u32, this.toJs.consTail, toNext);
    if (this.freeTaken) {
      const fNext = (this.freeStart + this.freeTaken) >>> 0;
      Atomics.store(u32, this.free.consHead, fNext);
      Atomics.store(u32, this.free.consTail, fNext);
    }
    Atomics.store(u32, CHANNEL.HAND_ACTIVE / 4, 0);
    this.pending = false;
    return true;
  }
}
