/** The bidder's stats line (main.ts and dgram.ts print one a second). */
import { C, COUNTERS } from './bid.js';

/** Sums the counters of every thread. */
export function sumCounters(all: Float64Array[]): Float64Array {
  const sum = new Float64Array(COUNTERS);
  for (const c of all) for (let i = 0; i < COUNTERS; i++) sum[i] += c[i];
  sum[C.GENERATION] = Math.min(...all.map((c) => c[C.GENERATION]));
  return sum;
}

/** `[3s] requests 10.0 k/s | total requests 30000 bids 20000 no-bids 9990 late 10 malformed 0 | spent 123.456789 | load 1` */
export function statsLine(t: number, now: Float64Array, before: Float64Array, dt: number): string {
  const rate = ((now[C.REQUESTS] - before[C.REQUESTS]) / dt / 1e3).toFixed(1);
  return (
    `[${t}s] requests ${rate} k/s | total requests ${now[C.REQUESTS]} bids ${now[C.BIDS]} no-bids ${now[C.NO_BIDS]} late ${now[C.LATE]} malformed ${now[C.MALFORMED]}` +
    ` | spent ${(now[C.SPENT] / 1e6).toFixed(6)} | load ${now[C.GENERATION]}`
  );
}
