/**
 * Response rate limiting (RRL) with slip, as authoritative servers do it
 * against reflection attacks (the BIND 9 ARM, "Response Rate Limiting"; Knot
 * DNS's `rrl` module: `rate-limit`, `slip`, `table-size`): responses are
 * accounted per (source network, response class) in a token bucket; a response
 * over the rate is not sent, except every `slip`-th one of them, which goes out
 * truncated (TC=1, the question only) so that a real client behind a forged
 * flood can still retry over TCP (RFC 7766) and get its answer.
 *
 * The table is fixed-size and allocated when the limiter is made: typed arrays,
 * open addressing with a short probe, the stalest entry of the probe evicted
 * when it is full. Nothing is allocated per query.
 */
import { C } from './answers.js';
import { F } from './wire.js';

/** `--rrl RATE[,slip=N][,window=S][,table=N]`, parsed. */
export interface RrlOptions {
  /** Responses per second per (source network, class): the bucket's refill rate and its depth. */
  rate: number;
  /**
   * Every slip-th limited response is sent truncated instead of dropped: 0 drops
   * them all, 1 truncates them all, 2 (the default, as Knot and BIND) every other.
   */
  slip: number;
  /**
   * Seconds of debt: a source over its rate keeps being charged for limited
   * responses down to −rate × (window − 1), so a flood that stops is forgiven
   * after about `window` seconds. 1 (the default): no debt.
   */
  window: number;
  /** Buckets in the table (a power of two; default 65536). */
  table: number;
}

export const RRL_DEFAULTS = { slip: 2, window: 1, table: 65536 } as const;

/** Parses `RATE[,slip=N][,window=S][,table=N]`; throws an Error that says what is wrong. */
export function parseRrl(spec: string): RrlOptions {
  const [rateText, ...rest] = spec.split(',');
  const o: RrlOptions = { rate: Number(rateText), ...RRL_DEFAULTS };
  if (!(o.rate > 0) || !Number.isFinite(o.rate)) throw new Error(`--rrl: RATE must be a positive number of responses per second, got '${rateText}' (e.g. --rrl 20,slip=2)`);
  for (const kv of rest) {
    const [k, v] = kv.split('=');
    const n = Number(v);
    if (k === 'slip' && Number.isInteger(n) && n >= 0 && n <= 100) o.slip = n;
    else if (k === 'window' && Number.isInteger(n) && n >= 1 && n <= 3600) o.window = n;
    else if (k === 'table' && Number.isInteger(n) && n >= 16 && n <= 1 << 24 && (n & (n - 1)) === 0) o.table = n;
    else throw new Error(`--rrl: '${kv}' is not slip=0..100, window=1..3600 or table=POWER_OF_TWO (16..16777216)`);
  }
  return o;
}

/** Response classes (as BIND and Knot separate them, so that a flood of one kind does not starve another). */
export const RRL_CLASS = { POSITIVE: 1, NODATA: 2, REFERRAL: 3, NXDOMAIN: 4, ERROR: 5 } as const;

/** What {@link Rrl.check} decided. */
export const RRL = { SEND: 0, DROP: 1, SLIP: 2 } as const;

const PROBE = 4;

export class Rrl {
  private readonly mask: number;
  // A bucket's key: the network (IPv4 /24 in k0; IPv6 /56 in k0 and k1) and family << 8 | class in k2 (never 0 when used).
  private readonly k0: Uint32Array;
  private readonly k1: Uint32Array;
  private readonly k2: Uint32Array;
  private readonly tokens: Float64Array;
  /** When the bucket was last refilled, ms. */
  private readonly stamp: Float64Array;
  /** Limited responses so far: every slip-th of them slips. */
  private readonly limited: Uint32Array;
  private readonly floor: number;

  constructor(readonly options: RrlOptions) {
    const n = options.table;
    this.mask = n - 1;
    this.k0 = new Uint32Array(n);
    this.k1 = new Uint32Array(n);
    this.k2 = new Uint32Array(n);
    this.tokens = new Float64Array(n);
    this.stamp = new Float64Array(n);
    this.limited = new Uint32Array(n);
    this.floor = -options.rate * (options.window - 1);
  }

  /** The class of the response at b[off ..] (its header, RFC 1035 §4.1.1; AA and counts as answers.ts writes them). */
  static classify(b: Uint8Array, off: number): number {
    const rcode = b[off + 3] & 0x0f;
    if (rcode === 3) return RRL_CLASS.NXDOMAIN;
    // An OPT's extended rcode (BADVERS) leaves rcode 0 here but no answer: counted with NODATA; every other rcode is an error.
    if (rcode !== 0) return RRL_CLASS.ERROR;
    if (((b[off + 6] << 8) | b[off + 7]) > 0) return RRL_CLASS.POSITIVE;
    return (b[off + 2] & (F.AA >> 8)) === 0 && ((b[off + 8] << 8) | b[off + 9]) > 0 ? RRL_CLASS.REFERRAL : RRL_CLASS.NODATA;
  }

  /**
   * Accounts one response of class `cls` to the sender whose address is at
   * b[addr ..] (4 bytes for family 4, 16 for 6) at time `nowMs`, and says
   * whether to send it, drop it or slip it.
   */
  check(b: Uint8Array, addr: number, family: 4 | 6, cls: number, nowMs: number): number {
    // The network: IPv4 /24 and IPv6 /56, the prefixes BIND and Knot account by default (one customer's block).
    let k0: number, k1: number;
    if (family === 4) {
      k0 = ((b[addr] << 24) | (b[addr + 1] << 16) | (b[addr + 2] << 8)) >>> 0;
      k1 = 0;
    } else {
      k0 = ((b[addr] << 24) | (b[addr + 1] << 16) | (b[addr + 2] << 8) | b[addr + 3]) >>> 0;
      k1 = ((b[addr + 4] << 24) | (b[addr + 5] << 16) | (b[addr + 6] << 8)) >>> 0;
    }
    const k2 = (family << 8) | cls;
    let h = Math.imul(k0 ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(k1 ^ k2, 0xc2b2ae35);
    h ^= h >>> 15;
    const rate = this.options.rate;
    let slot = -1, victim = -1, oldest = Infinity;
    for (let i = 0; i < PROBE; i++) {
      const s = (h + i) & this.mask;
      if (this.k2[s] === k2 && this.k0[s] === k0 && this.k1[s] === k1) {
        slot = s;
        break;
      }
      if (this.k2[s] === 0) {
        if (oldest !== -Infinity) {
          victim = s;
          oldest = -Infinity;
        }
      } else if (this.stamp[s] < oldest) {
        victim = s;
        oldest = this.stamp[s];
      }
    }
    if (slot < 0) {
      // A new (or evicted-and-returning) network starts with a full bucket.
      slot = victim;
      this.k0[slot] = k0;
      this.k1[slot] = k1;
      this.k2[slot] = k2;
      this.tokens[slot] = rate;
      this.stamp[slot] = nowMs;
      this.limited[slot] = 0;
    } else if (nowMs > this.stamp[slot]) {
      this.tokens[slot] = Math.min(rate, this.tokens[slot] + ((nowMs - this.stamp[slot]) * rate) / 1000);
      this.stamp[slot] = nowMs;
    }
    if (this.tokens[slot] >= 1) {
      this.tokens[slot] -= 1;
      return RRL.SEND;
    }
    if (this.tokens[slot] - 1 >= this.floor) this.tokens[slot] -= 1;
    const n = ++this.limited[slot];
    const slip = this.options.slip;
    return slip > 0 && n % slip === 0 ? RRL.SLIP : RRL.DROP;
  }
}

/**
 * Makes the response at b[off .. off+len) a slip: TC=1 and the question only
 * (RFC 1035 §4.1.1; RFC 2181 §9: a truncated answer tells the client to retry
 * over TCP). Returns the new length.
 */
export function slipResponse(b: Uint8Array, off: number, len: number): number {
  b[off + 2] |= F.TC >> 8;
  const qd = (b[off + 4] << 8) | b[off + 5];
  for (let i = 6; i < 12; i++) b[off + i] = 0;
  if (qd === 0) return 12;
  // The question as we echoed it: labels, then QTYPE and QCLASS.
  let p = off + 12;
  while (p < off + len && b[p] !== 0) p += b[p] + 1;
  return Math.min(p + 5, off + len) - off;
}

/** Applies the limiter to a response of length n (> 0) in place; returns the length to send (0: drop). Counts into C.RRL_*. */
export function limit(rrl: Rrl, b: Uint8Array, off: number, n: number, addr: number, family: 4 | 6, nowMs: number, counters: Float64Array): number {
  const v = rrl.check(b, addr, family, Rrl.classify(b, off), nowMs);
  if (v === RRL.SEND) return n;
  if (v === RRL.DROP) {
    counters[C.RRL_DROPPED]++;
    return 0;
  }
  counters[C.RRL_SLIPPED]++;
  return slipResponse(b, off, n);
}
