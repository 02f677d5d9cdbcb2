/**
 * The bidding logic, transport-free: one request in, a response written over
 * it (or nothing). The linerate server (server.ts) and the Node dgram server
 * (dgram.ts) run this same code, so comparing them measures the transport.
 */
import type { Budgets } from './budgets.js';
import type { CampaignIndex } from './campaign-index.js';
import { DEVICES, readU16, readU32, readU64, REQ, REQUEST_BYTES, VERSION, writeResponse } from './wire.js';

/** Counter slots (Float64Array; a worker's own, from WorkerContext.counters or a SharedArrayBuffer). */
export const C = {
  /** Requests read (every datagram handed to bid()). */
  REQUESTS: 0,
  BIDS: 1,
  NO_BIDS: 2,
  /** Dropped unanswered: their deadline had passed when read. */
  LATE: 3,
  /** Dropped unanswered: too short or an unknown version. */
  MALFORMED: 4,
  /** Sum of the winning prices, micro-units. */
  SPENT: 5,
  /** The campaign load this thread serves (server.ts). */
  GENERATION: 6,
  /** Wins lost to another thread between the budget hint and the spend (then the next best was tried). */
  SPEND_RACES: 7,
} as const;
export const COUNTERS = 8;
export const COUNTER_NAMES = Object.keys(C) as (keyof typeof C)[];

/** One thread's bidder: the campaign index it serves (swapped whole by reloads) and the shared budgets. */
export class Bidder {
  private readonly budgetOk: (slot: number, price: number) => boolean;

  constructor(public index: CampaignIndex, readonly budgets: Budgets) {
    this.budgetOk = (slot) => !budgets.spentOut(slot);
  }

  /**
   * Answers the request of `len` bytes at `off` in `b`, writing the response
   * over it, and returns the response's length; 0 means drop it unanswered
   * (late, or malformed; counted). `nowUs` is monoUs() read once per burst.
   */
  bid(b: Uint8Array, off: number, len: number, nowUs: number, counters: Float64Array): number {
    counters[C.REQUESTS]++;
    if (len < REQUEST_BYTES || b[off + REQ.VERSION] !== VERSION) {
      counters[C.MALFORMED]++;
      return 0;
    }
    const tmax = readU32(b, off + REQ.TMAX_US);
    // A bidder that cannot make the deadline must not answer (the exchange has moved on).
    if (tmax !== 0 && nowUs > readU64(b, off + REQ.SENT_US) + tmax) {
      counters[C.LATE]++;
      return 0;
    }
    let device = b[off + REQ.DEVICE];
    if (device >= DEVICES.length) device = 0;
    const country = readU16(b, off + REQ.COUNTRY);
    const width = readU16(b, off + REQ.WIDTH), height = readU16(b, off + REQ.HEIGHT);
    const segLo = readU32(b, off + REQ.SEGMENTS) | 0, segHi = readU32(b, off + REQ.SEGMENTS + 4) | 0;
    const floor = readU32(b, off + REQ.FLOOR);
    const ix = this.index;
    for (let attempt = 0; attempt < 4; attempt++) {
      const c = ix.match(country, device, width, height, segLo, segHi, floor, this.budgetOk);
      if (c < 0) break;
      const price = ix.price[c];
      if (this.budgets.trySpend(ix.slot[c], price)) {
        counters[C.BIDS]++;
        counters[C.SPENT] += price;
        return writeResponse(b, off, ix.id[c], price, ix.creative[c]);
      }
      counters[C.SPEND_RACES]++; // another thread took the rest of its budget; it is marked spent out now
    }
    counters[C.NO_BIDS]++;
    return writeResponse(b, off, 0, 0, 0);
  }
}
